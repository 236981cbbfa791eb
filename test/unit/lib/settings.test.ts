/**
 * The settings loader: every variable of the manifest parsed by its kind, default and range into a
 * frozen, typed object; a missing or malformed value is a ConfigError naming the variable (never
 * its value), never a silent fallback.
 */
import crypto from 'crypto';
import { generatePiiKeys } from '../../../server/core/pii';
import { ConfigError } from '../../../server/core/errors';
import { signRequest } from '../../../server/core/realname-crypto';
import { loadGroup, loadMerchantConfig, loadPiiKeys, loadSettings, wechatConfig } from '../../../server/lib/settings';
import { FUNCTION_GROUPS, isRequired, VARIABLES, type VariableName } from '../../../server/manifest';

const SERIAL = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

/** The ConfigError `load` throws (fails the test when it does not throw). */
function configErrorOf(load: () => unknown): ConfigError {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError thrown');
}

describe('generatePiiKeys / loadPiiKeys', () => {
  it('generates two distinct base64 keys of 32 bytes that load', () => {
    const env = generatePiiKeys();
    expect(Buffer.from(env.PII_ENC_KEY, 'base64')).toHaveLength(32);
    expect(Buffer.from(env.PII_INDEX_KEY, 'base64')).toHaveLength(32);
    expect(env.PII_ENC_KEY).not.toBe(env.PII_INDEX_KEY);
    const keys = loadPiiKeys(env);
    expect(keys.encKeyId).toBe('k1');
    expect(keys.encKeys.get('k1')).toEqual(Buffer.from(env.PII_ENC_KEY, 'base64'));
    expect(keys.indexKey).toEqual(Buffer.from(env.PII_INDEX_KEY, 'base64'));
  });

  it('defaults to process.env', () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, generatePiiKeys(), { PII_ENC_KEY_ID: 'env7' });
      expect(loadPiiKeys().encKeyId).toBe('env7');
    } finally {
      for (const name of ['PII_ENC_KEY', 'PII_INDEX_KEY', 'PII_ENC_KEY_ID']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  function errorOf(env: NodeJS.ProcessEnv): string {
    try {
      loadPiiKeys(env);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('loadPiiKeys did not throw');
  }

  // "PII_ENC_KEY" alone, not as a prefix of PII_ENC_KEY_ID / PII_ENC_KEYS_OLD.
  const ENC_KEY = /PII_ENC_KEY(?![_S])/;

  it('names each missing variable', () => {
    const both = errorOf({});
    expect(both).toMatch(ENC_KEY);
    expect(both).toMatch(/PII_INDEX_KEY is missing/);
    const onlyIndex = errorOf({ PII_ENC_KEY: generatePiiKeys().PII_ENC_KEY });
    expect(onlyIndex).toMatch(/PII_INDEX_KEY is missing/);
    expect(onlyIndex).not.toMatch(ENC_KEY);
    const onlyEnc = errorOf({ PII_INDEX_KEY: generatePiiKeys().PII_INDEX_KEY, PII_ENC_KEY: '  ' });
    expect(onlyEnc).toMatch(/PII_ENC_KEY is missing/);
    expect(onlyEnc).not.toMatch(/PII_INDEX_KEY/);
  });

  it.each([
    ['31 bytes', crypto.randomBytes(31).toString('base64')],
    ['33 bytes', crypto.randomBytes(33).toString('base64')],
    ['hex instead of base64', crypto.randomBytes(32).toString('hex')],
    ['base64url alphabet', '-_' + crypto.randomBytes(32).toString('base64').slice(2)],
    ['missing padding', crypto.randomBytes(32).toString('base64').replace(/=+$/, '')],
    ['garbage', 'not a key at all, but long enough to look like one!!'],
  ])('names a malformed key (%s) without printing it', (_label, bad) => {
    const message = errorOf({ PII_ENC_KEY: bad, PII_INDEX_KEY: generatePiiKeys().PII_INDEX_KEY });
    expect(message).toMatch(/PII_ENC_KEY must be base64 of exactly 32 random bytes/);
    expect(message).not.toContain(bad);
    expect(message).not.toContain(bad.slice(0, 12));
    const other = errorOf({ PII_ENC_KEY: generatePiiKeys().PII_ENC_KEY, PII_INDEX_KEY: bad });
    expect(other).toMatch(/PII_INDEX_KEY must be base64/);
    expect(other).not.toContain(bad.slice(0, 12));
  });

  it('refuses the same key for encryption and index', () => {
    const { PII_ENC_KEY } = generatePiiKeys();
    expect(errorOf({ PII_ENC_KEY, PII_INDEX_KEY: PII_ENC_KEY })).toMatch(/PII_INDEX_KEY must differ from PII_ENC_KEY/);
  });

  it('validates PII_ENC_KEY_ID and PII_ENC_KEYS_OLD without printing keys', () => {
    const env = generatePiiKeys();
    expect(errorOf({ ...env, PII_ENC_KEY_ID: 'k.1' })).toMatch(/PII_ENC_KEY_ID must be/);
    const shortKey = crypto.randomBytes(16).toString('base64');
    const badOld = errorOf({ ...env, PII_ENC_KEYS_OLD: `k0:${generatePiiKeys().PII_ENC_KEY},k9:${shortKey}` });
    expect(badOld).toMatch(/PII_ENC_KEYS_OLD entry 2 must be/);
    expect(badOld).not.toContain(shortKey);
    expect(errorOf({ ...env, PII_ENC_KEYS_OLD: 'no-colon-here' })).toMatch(/PII_ENC_KEYS_OLD entry 1/);
    const reused = errorOf({ ...env, PII_ENC_KEYS_OLD: `k1:${generatePiiKeys().PII_ENC_KEY}` });
    expect(reused).toMatch(/PII_ENC_KEYS_OLD entry 1 reuses key id k1/);
  });

  it('reports every problem at once', () => {
    const message = errorOf({ PII_ENC_KEY: 'x', PII_ENC_KEY_ID: 'bad id', PII_ENC_KEYS_OLD: 'k0' });
    expect(message).toMatch(/PII_ENC_KEY must be/);
    expect(message).toMatch(/PII_INDEX_KEY is missing/);
    expect(message).toMatch(/PII_ENC_KEY_ID must be/);
    expect(message).toMatch(/PII_ENC_KEYS_OLD entry 1/);
  });
});

describe('loadMerchantConfig', () => {
  const good = { WXPAY_MCH_ID: '1900006511', WXPAY_CERT_SERIALNO: SERIAL.toLowerCase(), WXPAY_PRIVATE_KEY: privateKey };

  function errorOf(env: NodeJS.ProcessEnv): string {
    try {
      loadMerchantConfig(env);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('loadMerchantConfig did not throw');
  }

  it('loads, upper-cases the serial and parses the key', () => {
    const config = loadMerchantConfig(good);
    expect(config.mchId).toBe('1900006511');
    expect(config.certSerialNo).toBe(SERIAL);
    expect(config.privateKey.asymmetricKeyType).toBe('rsa');
    const sign = signRequest(config.privateKey, config.certSerialNo, 1700000000);
    expect(sign).toBe(signRequest(privateKey, SERIAL, 1700000000));
  });

  it('accepts literal \\n escapes and surrounding quotes, as env UIs produce', () => {
    const escaped = `"${privateKey.trim().replace(/\n/g, '\\n')}"`;
    expect(escaped).not.toContain('\n');
    const config = loadMerchantConfig({ ...good, WXPAY_PRIVATE_KEY: escaped });
    expect(config.privateKey.export({ type: 'pkcs8', format: 'pem' })).toBe(privateKey);
  });

  it('names every missing variable', () => {
    const message = errorOf({});
    expect(message).toMatch(/WXPAY_MCH_ID is missing/);
    expect(message).toMatch(/WXPAY_CERT_SERIALNO is missing/);
    expect(message).toMatch(/WXPAY_PRIVATE_KEY is missing/);
    expect(errorOf({ ...good, WXPAY_MCH_ID: ' ' })).toBe('WeChat Pay merchant config: WXPAY_MCH_ID is missing');
  });

  it('names malformed variables without printing their values', () => {
    const badSerial = 'ABCDEF0123456789ABCDEF0123456789ABCDEF0';
    const serialMessage = errorOf({ ...good, WXPAY_CERT_SERIALNO: badSerial });
    expect(serialMessage).toBe('WeChat Pay merchant config: WXPAY_CERT_SERIALNO must be 40 hex characters');
    expect(errorOf({ ...good, WXPAY_CERT_SERIALNO: 'G'.repeat(40) })).toMatch(/WXPAY_CERT_SERIALNO must be/);
    expect(errorOf({ ...good, WXPAY_MCH_ID: 'mch-1900006511' })).toMatch(/WXPAY_MCH_ID must be/);

    const broken = privateKey.replace(/[A-Za-z0-9]{20}/, 'QUJDREVGR0hJSktMTU5P');
    const keyMessage = errorOf({ ...good, WXPAY_PRIVATE_KEY: broken });
    expect(keyMessage).toMatch(/WXPAY_PRIVATE_KEY must be an unencrypted RSA private key/);
    expect(keyMessage).not.toMatch(/BEGIN|QUJD/);
    expect(errorOf({ ...good, WXPAY_PRIVATE_KEY: publicKey })).toMatch(/WXPAY_PRIVATE_KEY must be/);
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const ecPem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(errorOf({ ...good, WXPAY_PRIVATE_KEY: ecPem })).toMatch(/WXPAY_PRIVATE_KEY must be/);
  });

  it('reports all problems together', () => {
    const message = errorOf({ WXPAY_MCH_ID: 'x', WXPAY_CERT_SERIALNO: '123', WXPAY_PRIVATE_KEY: 'nope' });
    expect(message.match(/WXPAY_/g)).toHaveLength(3);
    expect(message).not.toContain('nope');
  });
});

describe('kinds, defaults and ranges', () => {
  const wechat = { WECHAT_APPSECRET: 'a'.repeat(32) };
  const app = { WECHAT_APPID: 'wx1234567890abcdef' };

  it('fills defaults for what is not set (blank counts as not set) and freezes the group', () => {
    const group = loadGroup('wechat', { ...wechat, WECHAT_TIMEOUT_MS: '   ' });
    expect(group).toEqual({ ...wechat, WECHAT_API_BASE: 'https://api.weixin.qq.com', WECHAT_TIMEOUT_MS: 5000 });
    expect(Object.isFrozen(group)).toBe(true);
    expect(wechatConfig(loadGroup('app', app), group)).toEqual({
      base: 'https://api.weixin.qq.com',
      appid: app.WECHAT_APPID,
      secret: wechat.WECHAT_APPSECRET,
      timeoutMs: 5000,
    });
  });

  it.each([
    ['ROSTER_DB_QPS', 'x', 'must be a whole number from 1 to 500'],
    ['ROSTER_DB_QPS', '0', 'must be a whole number from 1 to 500'],
    ['ROSTER_DB_QPS', '2.5', 'must be a whole number from 1 to 500'],
    ['ROSTER_SLICE_SECONDS', '4O', 'must be a whole number from 0 to 60'],
    ['ROSTER_SLICE_SECONDS', '61', 'must be a whole number from 0 to 60'],
    ['ROSTER_SLICE_SECONDS', '-1', 'must be a whole number from 0 to 60'],
    ['ROSTER_ADMIN_OPENIDS', 'o_a, o b', 'must be openids'],
    ['REVIEWER_OPENIDS', 'o;b', 'must be openids'],
  ] as const)('refuses %s=%s instead of falling back', (name, value, rule) => {
    const group = name.endsWith('OPENIDS') ? 'admins' : 'roster';
    const err = configErrorOf(() => loadGroup(group, { [name]: value }));
    expect(err.message).toBe(
      `${group === 'admins' ? 'admins and reviewers' : 'roster settings'}: ${name} ${rule}${rule.endsWith('openids') ? ' (letters, digits, _ and -) separated by commas' : ''}`,
    );
    expect(err.variables).toEqual([name]);
    expect(err.code).toBe('NOT_CONFIGURED');
    expect(err.publicMessage).toBe(`服务尚未完成配置（${name}），请联系管理员`);
  });

  it('offers the default methods, and never face alone or nothing', () => {
    expect(loadGroup('methods', {})).toEqual({ IDENTITY_METHODS: ['wxcheck', 'face', 'manual'] });
    expect(loadGroup('methods', { IDENTITY_METHODS: 'manual, wxcheck' }).IDENTITY_METHODS).toEqual([
      'manual',
      'wxcheck',
    ]);
    for (const [value, problem] of [
      ['face', 'offers face alone'],
      ['face,face', 'offers face alone'],
      ['wxcheck,wxcheck', 'lists a method twice'],
      ['face,sms', 'must list methods among face, wxpay, wxcheck, manual'],
      [',', 'offers no method at all'],
    ] as const) {
      const err = configErrorOf(() => loadGroup('methods', { IDENTITY_METHODS: value }));
      expect(err.message).toContain(problem);
      expect(err.variables).toEqual(['IDENTITY_METHODS']);
    }
  });

  it('reads integers, lists and choices', () => {
    expect(loadGroup('roster', { ROSTER_DB_QPS: '30', ROSTER_SLICE_SECONDS: '0', ROSTER_MAX_FILE_MB: '512' })).toEqual({
      ROSTER_DB_QPS: 30,
      ROSTER_SLICE_SECONDS: 0,
      ROSTER_MAX_FILE_MB: 512,
    });
    expect(loadGroup('roster', {})).toEqual({ ROSTER_DB_QPS: 25, ROSTER_SLICE_SECONDS: 40, ROSTER_MAX_FILE_MB: 128 });
    expect(() => loadGroup('roster', { ROSTER_MAX_FILE_MB: '513' })).toThrow(/ROSTER_MAX_FILE_MB/);
    expect(loadGroup('admins', { ROSTER_ADMIN_OPENIDS: ' o_a ,,o-b ' })).toEqual({
      ROSTER_ADMIN_OPENIDS: ['o_a', 'o-b'],
      REVIEWER_OPENIDS: [],
    });
    expect(loadGroup('face', { FACE_API_VERSION: ' V1 ' }).FACE_API_VERSION).toBe('v1');
    expect(loadGroup('face', {})).toEqual({ FACE_API_VERSION: 'v2', FACE_SESSION_TTL_SECONDS: 600 });
    expect(configErrorOf(() => loadGroup('face', { FACE_API_VERSION: 'v3' })).message).toBe(
      'face verification settings: FACE_API_VERSION must be one of v2, v1',
    );
    // A session never outlives WeChat's credential (3600 s): no silent 600 any more.
    expect(configErrorOf(() => loadGroup('face', { FACE_SESSION_TTL_SECONDS: '7200' })).variables).toEqual([
      'FACE_SESSION_TTL_SECONDS',
    ]);
  });

  it('checks the WeChat settings it can: the AppID form, the secret form, the URL', () => {
    const err = configErrorOf(() =>
      loadGroup('wechat', {
        WECHAT_APPSECRET: 'hunter2',
        WECHAT_API_BASE: 'api.weixin.qq.com',
      }),
    );
    expect(err.variables).toEqual(['WECHAT_APPSECRET', 'WECHAT_API_BASE']);
    const appError = configErrorOf(() => loadGroup('app', { WECHAT_APPID: 'my-app' }));
    expect(appError.message).toBe(
      'mini-program: WECHAT_APPID must be the mini-program AppID (wx and 16 hex characters)',
    );
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('my-app');
    expect(loadGroup('wechat', { ...wechat, WECHAT_API_BASE: 'http://127.0.0.1:8787/wechat/' }).WECHAT_API_BASE).toBe(
      'http://127.0.0.1:8787/wechat',
    );
    expect(configErrorOf(() => loadGroup('wechat', {})).message).toBe('WeChat API: WECHAT_APPSECRET is missing');
  });

  /** Values every required variable of `group` accepts, so a group loads with one variable under test. */
  const REQUIRED: Record<string, string> = {
    WECHAT_APPID: 'wx1234567890abcdef',
    WECHAT_APPSECRET: 'a'.repeat(32),
    ...generatePiiKeys(),
    WXPAY_MCH_ID: '1900006511',
    WXPAY_CERT_SERIALNO: SERIAL,
    WXPAY_PRIVATE_KEY: privateKey,
  };

  it.each(Object.keys(VARIABLES) as VariableName[])(
    '%s: unset, it loads as its default; its declared default, written out, is accepted and means the same',
    (name) => {
      const spec = VARIABLES[name];
      const base = Object.fromEntries(Object.entries(REQUIRED).filter(([key]) => key !== name));
      if (isRequired(spec)) {
        expect(configErrorOf(() => loadGroup(spec.group, base)).variables).toEqual([name]);
        return;
      }
      const unset = (loadGroup(spec.group, base) as Record<string, unknown>)[name];
      if (spec.kind === 'key') {
        // An optional key (OPERATOR_KEY): unset is null, the feature it keys off.
        expect(unset).toBeNull();
        return;
      }
      if (!('default' in spec)) {
        // Lists and key rings: empty when unset.
        expect(unset instanceof Map ? unset.size : (unset as unknown[]).length).toBe(0);
        return;
      }
      expect(unset).toEqual(spec.default);
      const written = (loadGroup(spec.group, { ...base, [name]: String(spec.default) }) as Record<string, unknown>)[
        name
      ];
      expect(written).toEqual(unset);
    },
  );
});

describe('loadSettings', () => {
  it('loads the groups the manifest gives a function; an unusable group throws only when used', () => {
    const settings = loadSettings('realname', {
      WECHAT_APPID: 'wx1234567890abcdef',
      WECHAT_APPSECRET: 'b'.repeat(32),
      ...generatePiiKeys(),
    });
    expect(FUNCTION_GROUPS.realname).toEqual(['app', 'wechat', 'pii', 'methods', 'merchant']);
    expect(settings.group('methods').IDENTITY_METHODS).toEqual(['wxcheck', 'face', 'manual']);
    expect(settings.group('wechat').WECHAT_TIMEOUT_MS).toBe(5000);
    expect(settings.group('pii').PII_ENC_KEY_ID).toBe('k1');
    const err = configErrorOf(() => settings.group('merchant'));
    expect(err.variables).toEqual(['WXPAY_MCH_ID', 'WXPAY_CERT_SERIALNO', 'WXPAY_PRIVATE_KEY']);
    expect(settings.problems).toEqual([err]);
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('reports each unusable group once, naming variables and never values', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = {
      info: () => undefined,
      error: (message: string, fields?: Record<string, unknown>) => void lines.push({ message, ...fields }),
    };
    loadSettings('roster', {
      WECHAT_APPID: 'wx1234567890abcdef',
      PII_ENC_KEY: 'c2VjcmV0',
      ROSTER_DB_QPS: 'fast',
    }).report(logger);
    // (The admins group is fine: both lists may be empty.)
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => l.variables)).toEqual([['PII_ENC_KEY', 'PII_INDEX_KEY'], ['ROSTER_DB_QPS']]);
    expect(JSON.stringify(lines)).not.toMatch(/c2VjcmV0|fast/);
  });

  it('gives a function without variables an empty, usable settings object', () => {
    expect(loadSettings('ping', {}).problems).toEqual([]);
  });
});
