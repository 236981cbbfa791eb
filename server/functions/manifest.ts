/**
 * Function configuration as code: every cloud function, its runtime settings, triggers and the
 * environment variables it needs. `npm run build` writes `cloudfunctions/<name>/` from this, the
 * deploy script applies it, the sandbox starts functions with it, and the README lists it.
 */

export interface EnvVarSpec {
  name: string;
  /** Secrets are never committed, never sent to the client; the deploy script refuses to print them. */
  secret: boolean;
  required: boolean;
  description: string;
}

export interface FunctionSpec {
  name: string;
  description: string;
  /** Seconds (the mini-program console allows at most 60). */
  timeout: number;
  /** MB. */
  memory: number;
  env: EnvVarSpec[];
  triggers: { name: string; type: 'timer'; config: string }[];
}

const WECHAT_ENV: EnvVarSpec[] = [
  {
    name: 'WECHAT_APPID',
    secret: false,
    required: true,
    description: 'Mini-program AppID (公众平台 → 开发管理 → 开发设置).',
  },
  {
    name: 'WECHAT_APPSECRET',
    secret: true,
    required: true,
    description: 'AppSecret, same page; used only for stable_token.',
  },
  {
    name: 'WECHAT_API_BASE',
    secret: false,
    required: false,
    description: 'Default https://api.weixin.qq.com; the sandbox sets its own.',
  },
  {
    name: 'WECHAT_TIMEOUT_MS',
    secret: false,
    required: false,
    description: 'Timeout of each WeChat API request in ms (default 5000); a timeout answers WECHAT_BUSY.',
  },
];

const PII_ENV: EnvVarSpec[] = [
  {
    name: 'PII_ENC_KEY',
    secret: true,
    required: true,
    description: 'base64 of 32 random bytes: AES-256-GCM key for names and ID numbers at rest.',
  },
  {
    name: 'PII_INDEX_KEY',
    secret: true,
    required: true,
    description: 'base64 of 32 random bytes: HMAC key of the blind indexes (never change without re-indexing).',
  },
  {
    name: 'PII_ENC_KEY_ID',
    secret: false,
    required: false,
    description: 'Id of the current encryption key (default k1), for rotation.',
  },
  {
    name: 'PII_ENC_KEYS_OLD',
    secret: true,
    required: false,
    description: 'Old keys still allowed to decrypt: "k0:<base64>,...".',
  },
];

export const FUNCTIONS: FunctionSpec[] = [
  {
    name: 'ping',
    description: 'Health check: answers the caller OPENID from getWXContext.',
    timeout: 3,
    memory: 128,
    env: [],
    triggers: [],
  },
  {
    name: 'face',
    description: 'Face verification (人脸核身): start, server-side confirm, status; v2 by default, v1 legacy.',
    timeout: 20,
    memory: 256,
    env: [
      ...WECHAT_ENV,
      ...PII_ENV,
      {
        name: 'FACE_API_VERSION',
        secret: false,
        required: false,
        description:
          'v2 (default, getverifyid/queryverifyinfo) or v1 (getuseridkey/getinfo, announced to stop 2026-06-30).',
      },
      {
        name: 'FACE_SESSION_TTL_SECONDS',
        secret: false,
        required: false,
        description: 'Pending session lifetime, 60–3600 s (default 600).',
      },
    ],
    triggers: [{ name: 'sweep-expired-sessions', type: 'timer', config: '0 */30 * * * * *' }],
  },
  {
    name: 'realname',
    description: 'WeChat Pay real-name authorization (实名信息授权): categories, fetch + decrypt + bind.',
    timeout: 20,
    memory: 256,
    env: [
      ...WECHAT_ENV,
      ...PII_ENV,
      {
        name: 'WXPAY_MCH_ID',
        secret: false,
        required: true,
        description: 'WeChat Pay merchant id bound to the mini-program (商户号).',
      },
      {
        name: 'WXPAY_CERT_SERIALNO',
        secret: false,
        required: true,
        description:
          'Serial number of the merchant API certificate, 40 hex characters (商户平台 → 账户中心 → API安全).',
      },
      {
        name: 'WXPAY_PRIVATE_KEY',
        secret: true,
        required: true,
        description: 'The merchant API private key, PEM content (apiclient_key.pem); literal "\\n" accepted.',
      },
    ],
    triggers: [],
  },
  {
    name: 'roster',
    description: 'Roster import (Excel → database): validated, idempotent, batched, resumable, admin-only.',
    timeout: 60,
    memory: 256,
    env: [
      ...PII_ENV,
      {
        name: 'ROSTER_ADMIN_OPENIDS',
        secret: false,
        required: false,
        description: 'Comma-separated admin openids (besides the admins collection).',
      },
      {
        name: 'ROSTER_SLICE_SECONDS',
        secret: false,
        required: false,
        description:
          'Work per invocation before saving and returning (default 40), capped by the deployed timeout minus a quarter of it (at least 5 s).',
      },
      {
        name: 'ROSTER_DB_QPS',
        secret: false,
        required: false,
        description: 'Database requests per second this function allows itself (default 25; basic plan ≈ 30).',
      },
    ],
    triggers: [{ name: 'sweep-abandoned-jobs', type: 'timer', config: '0 0 * * * * *' }],
  },
];

export const SDK_VERSION = '4.0.2';
