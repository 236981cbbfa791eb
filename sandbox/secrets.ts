/**
 * The sandbox's own credentials, generated on first start and kept in the data dir (0600): an
 * appid/AppSecret for the token endpoints, a WeChat Pay merchant with its RSA key pair and a
 * 40-character certificate serial, and the PII keys. They reach the functions exactly as production
 * secrets would: as environment variables.
 */
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';

export interface SandboxSecrets {
  /** The API key pair the management API (/tcloud/*) checks signatures with, like Tencent Cloud's. */
  cloudApiSecretId: string;
  cloudApiSecretKey: string;
  appid: string;
  appSecret: string;
  mchId: string;
  certSerialNo: string;
  merchantPrivateKey: string;
  merchantPublicKey: string;
  piiEncKey: string;
  piiIndexKey: string;
}

function cloudApiKeys(): Pick<SandboxSecrets, 'cloudApiSecretId' | 'cloudApiSecretKey'> {
  return {
    cloudApiSecretId: `AKIDsandbox${crypto.randomBytes(12).toString('hex')}`,
    cloudApiSecretKey: crypto.randomBytes(24).toString('base64url'),
  };
}

export function loadSecrets(dataDir: string): SandboxSecrets {
  const file = path.join(dataDir, 'secrets.json');
  if (fs.existsSync(file)) {
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<SandboxSecrets>;
    if (stored.cloudApiSecretId && stored.cloudApiSecretKey) return stored as SandboxSecrets;
    // A data dir from before the management API: it gains its key pair.
    const upgraded = { ...cloudApiKeys(), ...stored } as SandboxSecrets;
    fs.writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    return upgraded;
  }
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const secrets: SandboxSecrets = {
    ...cloudApiKeys(),
    appid: `wx${crypto.randomBytes(8).toString('hex')}`,
    appSecret: crypto.randomBytes(16).toString('hex'),
    mchId: String(1_900_000_000 + crypto.randomInt(99_999_999)),
    certSerialNo: crypto.randomBytes(20).toString('hex').toUpperCase(),
    merchantPrivateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    merchantPublicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    piiEncKey: crypto.randomBytes(32).toString('base64'),
    piiIndexKey: crypto.randomBytes(32).toString('base64'),
  };
  fs.writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

/**
 * What the platform gives every function process (not deployed: the runtime's own variables): the
 * SDK's wiring to the sandbox's TCB endpoint, the environment, the context keys.
 */
export function platformEnv(env: string, baseUrl: string, token?: string): Record<string, string> {
  return {
    // wx-server-sdk → the sandbox's TCB endpoint (read on every request). Beyond loopback the
    // endpoint wants the per-start token: the SDK appends its query to a URL ending in `&`.
    TCB_CONTEXT_CNFG: JSON.stringify({
      URL: token ? `${baseUrl}/admin?sandboxToken=${encodeURIComponent(token)}&` : `${baseUrl}/admin`,
    }),
    TENCENTCLOUD_SECRETID: 'sandbox',
    TENCENTCLOUD_SECRETKEY: 'sandbox',
    TCB_ENV: env,
    SCF_NAMESPACE: env,
    // Skips the SDK's metadata lookup and keep-alive: an instance exits in 0.25 s instead of ~5 s.
    TENCENTCLOUD_RUNENV: 'SCF',
    TENCENTCLOUD_REGION: 'ap-shanghai',
    WX_CONTEXT_KEYS: 'WX_OPENID,WX_APPID,WX_UNIONID,WX_CLIENTIP',
    PATH: process.env.PATH ?? '',
  };
}

/**
 * The values a deploy to this sandbox gives the starter's variables (server/manifest/variables.ts):
 * its own credentials and keys, and its WeChat emulator as the API base. What a team keeps in its
 * untracked deploy file for a real environment.
 */
/**
 * Settings a sandbox is deployed with unless told otherwise (a test's or the shell's value wins): it
 * emulates every method, so it offers them all.
 */
export const SANDBOX_SETTINGS: Readonly<Record<string, string>> = {
  IDENTITY_METHODS: 'wxcheck,face,manual,wxpay',
};

export function deployValues(secrets: SandboxSecrets, baseUrl: string): Record<string, string> {
  return {
    WECHAT_API_BASE: `${baseUrl}/wechat`,
    WECHAT_APPID: secrets.appid,
    WECHAT_APPSECRET: secrets.appSecret,
    WXPAY_MCH_ID: secrets.mchId,
    WXPAY_CERT_SERIALNO: secrets.certSerialNo,
    WXPAY_PRIVATE_KEY: secrets.merchantPrivateKey,
    PII_ENC_KEY: secrets.piiEncKey,
    PII_INDEX_KEY: secrets.piiIndexKey,
  };
}

/** Everything a function process saw before deploys existed: platform and deploy values together (tests' SDK). */
export function functionEnv(secrets: SandboxSecrets, env: string, baseUrl: string): Record<string, string> {
  return { ...platformEnv(env, baseUrl), ...deployValues(secrets, baseUrl) };
}
