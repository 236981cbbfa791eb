/**
 * Every environment variable a cloud function reads, declared once: its group, kind, default and
 * range. `server/lib/settings.ts` parses them into a frozen, typed settings object at instance
 * start (a bad value is `NOT_CONFIGURED` naming the variable, never a silent fallback); the build,
 * the deploy scripts, the sandbox and the settings table in docs/architecture.md (checked by test/unit/docs.test.ts) read
 * the same declarations.
 *
 * Declarative only: no parsing here, no imports beyond the shared contracts.
 */

/** Variables are loaded in groups: a function needs whole groups, and a group is usable or not as a whole. */
export const VARIABLE_GROUPS = {
  app: 'mini-program',
  wechat: 'WeChat API',
  pii: 'PII keys not configured',
  merchant: 'WeChat Pay merchant config',
  face: 'face verification settings',
  methods: 'identity methods',
  admins: 'admins and reviewers',
  roster: 'roster settings',
  operator: 'operator key',
  retention: 'retention periods',
} as const;

export type GroupName = keyof typeof VARIABLE_GROUPS;

interface Common {
  group: GroupName;
  /** Secrets are never committed, never sent to the client; the deploy scripts never print them. */
  secret: boolean;
  description: string;
}

/** Free text; `pattern` (with `rule`, said when it does not match) checks it after trimming. */
export interface TextVariable extends Common {
  kind: 'text';
  /** `undefined`: required. */
  default?: string;
  pattern?: RegExp;
  rule?: string;
  /** Upper-cased before the check (serial numbers). */
  upperCase?: boolean;
}

/** A whole number within `[min, max]`. */
export interface IntegerVariable extends Common {
  kind: 'integer';
  default: number;
  min: number;
  max: number;
  unit: 'ms' | 's' | 'min' | '/s' | 'd' | 'MB';
}

/** One of `values`, compared case-insensitively. */
export interface ChoiceVariable extends Common {
  kind: 'choice';
  values: readonly string[];
  default: string;
}

/** Comma-separated items (blank items dropped), each matching `pattern`; default: empty, or `default`. */
export interface ListVariable extends Common {
  kind: 'list';
  pattern: RegExp;
  rule: string;
  default?: readonly string[];
}

/** An http(s) URL; a trailing slash is removed. */
export interface UrlVariable extends Common {
  kind: 'url';
  default: string;
}

/**
 * Standard base64 of exactly 32 random bytes (an AES-256 or HMAC-SHA256 key). Required, unless
 * `optional`: then unset means the feature it keys is off.
 */
export interface KeyVariable extends Common {
  kind: 'key';
  optional?: boolean;
}

/** `<keyId>:<base64 of 32 bytes>` entries separated by commas (old keys kept for decryption). */
export interface KeyringVariable extends Common {
  kind: 'keyring';
}

/** An unencrypted RSA private key in PEM form; literal `\n` and surrounding quotes accepted. Always required. */
export interface PrivateKeyVariable extends Common {
  kind: 'privateKey';
}

export type VariableSpec =
  | TextVariable
  | IntegerVariable
  | ChoiceVariable
  | ListVariable
  | UrlVariable
  | KeyVariable
  | KeyringVariable
  | PrivateKeyVariable;

/** Key ids travel inside every ciphertext (`v1.<keyId>.…`). */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,16}$/;

export const VARIABLES = {
  // ------------------------------------------------------------ wechat
  WECHAT_APPID: {
    group: 'app',
    kind: 'text',
    pattern: /^wx[0-9a-fA-F]{16}$/,
    rule: 'must be the mini-program AppID (wx and 16 hex characters)',
    secret: false,
    description: 'Mini-program AppID (公众平台 → 开发管理 → 开发设置); calls from another appid are refused.',
  },
  WECHAT_APPSECRET: {
    group: 'wechat',
    kind: 'text',
    pattern: /^[0-9a-fA-F]{32}$/,
    rule: 'must be the 32 hex characters of the AppSecret',
    secret: true,
    description: 'AppSecret, same page; used only for stable_token.',
  },
  WECHAT_API_BASE: {
    group: 'wechat',
    kind: 'url',
    default: 'https://api.weixin.qq.com',
    secret: false,
    description: 'Where the WeChat open APIs are; the sandbox sets its own.',
  },
  WECHAT_TIMEOUT_MS: {
    group: 'wechat',
    kind: 'integer',
    default: 5000,
    min: 200,
    max: 20000,
    unit: 'ms',
    secret: false,
    description: 'Deadline of each WeChat API request; a timeout answers WECHAT_BUSY.',
  },

  // ------------------------------------------------------------ pii
  PII_ENC_KEY: {
    group: 'pii',
    kind: 'key',
    secret: true,
    description: 'base64 of 32 random bytes: AES-256-GCM key for names and ID numbers at rest.',
  },
  PII_INDEX_KEY: {
    group: 'pii',
    kind: 'key',
    secret: true,
    description: 'base64 of 32 random bytes: HMAC key of the blind indexes (never change without re-indexing).',
  },
  PII_ENC_KEY_ID: {
    group: 'pii',
    kind: 'text',
    default: 'k1',
    pattern: KEY_ID_PATTERN,
    rule: 'must be 1-16 characters of A-Z a-z 0-9 _ -',
    secret: false,
    description: 'Id of the current encryption key, for rotation.',
  },
  PII_ENC_KEYS_OLD: {
    group: 'pii',
    kind: 'keyring',
    secret: true,
    description: 'Old keys still allowed to decrypt: "k0:<base64>,...".',
  },
  PII_INDEX_KEY_ID: {
    group: 'pii',
    kind: 'text',
    default: 'i1',
    pattern: KEY_ID_PATTERN,
    rule: 'must be 1-16 characters of A-Z a-z 0-9 _ -',
    secret: false,
    description: 'Id of the current blind-index key (PII_INDEX_KEY), for rotation: give a new key a new id.',
  },
  PII_INDEX_KEYS_OLD: {
    group: 'pii',
    kind: 'keyring',
    secret: true,
    description:
      'During a key rotation only: the previous index keys, "i1:<base64>,...". Lookups also try them until `admin.rotateKeys` has re-keyed every document; then remove them.',
  },

  // ------------------------------------------------------------ merchant
  WXPAY_MCH_ID: {
    group: 'merchant',
    kind: 'text',
    pattern: /^\d{6,20}$/,
    rule: 'must be the numeric merchant id',
    secret: false,
    description: 'WeChat Pay merchant id bound to the mini-program (商户号).',
  },
  WXPAY_CERT_SERIALNO: {
    group: 'merchant',
    kind: 'text',
    pattern: /^[0-9A-F]{40}$/,
    rule: 'must be 40 hex characters',
    upperCase: true,
    secret: false,
    description: 'Serial number of the merchant API certificate, 40 hex characters (商户平台 → 账户中心 → API安全).',
  },
  WXPAY_PRIVATE_KEY: {
    group: 'merchant',
    kind: 'privateKey',
    secret: true,
    description: 'The merchant API private key, PEM content (apiclient_key.pem); literal "\\n" accepted.',
  },

  // ------------------------------------------------------------ face
  FACE_API_VERSION: {
    group: 'face',
    kind: 'choice',
    values: ['v2', 'v1'],
    default: 'v2',
    secret: false,
    description: 'v2 (getverifyid/queryverifyinfo) or v1 (getuseridkey/getinfo, announced to stop 2026-06-30).',
  },
  FACE_SESSION_TTL_SECONDS: {
    group: 'face',
    kind: 'integer',
    default: 600,
    // WeChat's verify_id / user_id_key live 3600 s: a session never outlives them.
    min: 60,
    max: 3600,
    unit: 's',
    secret: false,
    description: 'Pending face session lifetime.',
  },

  // ------------------------------------------------------------ methods
  IDENTITY_METHODS: {
    group: 'methods',
    kind: 'list',
    default: ['wxcheck', 'face', 'manual'],
    pattern: /^(face|wxpay|wxcheck|manual)$/,
    rule: 'must list methods among face, wxpay, wxcheck, manual, separated by commas',
    secret: false,
    description: 'The identity methods offered, in the order shown (wxcheck, face, manual, wxpay); face never alone.',
  },

  // ------------------------------------------------------------ admins
  ROSTER_ADMIN_OPENIDS: {
    group: 'admins',
    kind: 'list',
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    rule: 'must be openids (letters, digits, _ and -) separated by commas',
    secret: false,
    description: 'Comma-separated admin openids (besides server-written documents of the admins collection).',
  },
  REVIEWER_OPENIDS: {
    group: 'admins',
    kind: 'list',
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    rule: 'must be openids (letters, digits, _ and -) separated by commas',
    secret: false,
    description: 'Staff who review document verifications; empty: the roster admins.',
  },

  // ------------------------------------------------------------ roster
  ROSTER_SLICE_SECONDS: {
    group: 'roster',
    kind: 'integer',
    default: 40,
    min: 0,
    max: 60,
    unit: 's',
    secret: false,
    description:
      'Work per invocation before saving and returning (0: one batch), capped by the deployed timeout minus a quarter of it (at least 5 s).',
  },
  ROSTER_MAX_FILE_MB: {
    group: 'roster',
    kind: 'integer',
    default: 128,
    min: 1,
    max: 512,
    unit: 'MB',
    secret: false,
    description:
      "Largest roster upload accepted: an .xlsx of Excel's 1,048,576 rows is ~95 MB (read by ranges, never held whole); .xls (1.5 MB) and CSV (32 MB) have smaller caps.",
  },
  ROSTER_DB_QPS: {
    group: 'roster',
    kind: 'integer',
    default: 25,
    min: 1,
    max: 500,
    unit: '/s',
    secret: false,
    description: 'Database requests per second this function allows itself (basic plan ≈ 30).',
  },

  // ------------------------------------------------------------ operator
  OPERATOR_KEY: {
    group: 'operator',
    kind: 'key',
    optional: true,
    secret: true,
    description:
      'base64 of 32 random bytes: signs operator calls from a PC with the Tencent Cloud API key (npm run roster -- import --cloud, npm run rotate-keys -- --cloud), which then act as an admin; unset: such calls are refused.',
  },

  // ------------------------------------------------------------ retention
  AUDIT_RETENTION_DAYS: {
    group: 'retention',
    kind: 'integer',
    default: 365,
    // A security review asks for at least six months of "who verified whom, who looked at what".
    min: 180,
    max: 3650,
    unit: 'd',
    secret: false,
    description: 'Days audit entries are kept before the admin timer purges them (at least 180).',
  },
  FACE_SESSION_RETENTION_DAYS: {
    group: 'retention',
    kind: 'integer',
    default: 30,
    min: 1,
    max: 365,
    unit: 'd',
    secret: false,
    description: 'Days finished or expired face sessions (no name or number left in them) are kept before purging.',
  },
  EXPORT_RETENTION_MINUTES: {
    group: 'retention',
    kind: 'integer',
    default: 60,
    // The link an export answers lives 10 minutes: the file need not outlive it by much.
    min: 10,
    max: 10080,
    unit: 'min',
    secret: false,
    description:
      'Minutes a masked coverage export stays in storage; then the next sweep (roster, hourly; admin, daily) deletes it.',
  },
} as const satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof VARIABLES;

/** A variable that must be set: no default (keys and private keys never have one). */
export function isRequired(spec: VariableSpec): boolean {
  switch (spec.kind) {
    case 'text':
      return spec.default === undefined;
    case 'key':
      return spec.optional !== true;
    case 'privateKey':
      return true;
    default:
      return false;
  }
}

/** The variables of `group`, in declaration order. */
export function variablesOf(group: GroupName): VariableName[] {
  return (Object.keys(VARIABLES) as VariableName[]).filter((name) => VARIABLES[name].group === group);
}
