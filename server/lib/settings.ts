/**
 * The one settings loader: environment variables → a frozen, typed settings object, from the
 * declarations in server/manifest/variables.ts (kind, default, range). A function loads its groups
 * once at instance start (`loadSettings('face')`); a group with a missing or malformed variable
 * throws `ConfigError` (→ `NOT_CONFIGURED`, naming the variables) when used, never a silent
 * fallback, and its problems are logged once at start. Messages name variables, never values.
 */
import crypto, { type KeyObject } from 'crypto';
import type { FunctionName, VerificationMethod } from '../../miniprogram/shared/contracts';
import { ConfigError } from '../core/errors';
import { methodsProblem } from '../core/methods';
import type { MerchantConfig } from '../core/realname-crypto';
import type { PiiKeys } from '../core/pii';
import type { Logger } from '../core/router';
import type { WechatConfig } from './wechat';
import {
  FUNCTION_GROUPS,
  KEY_ID_PATTERN,
  VARIABLE_GROUPS,
  VARIABLES,
  variablesOf,
  type GroupName,
  type GroupsOf,
  type VariableName,
  type VariableSpec,
} from '../manifest';

type Env = Readonly<Record<string, string | undefined>>;

/** The value type of a variable of kind `S['kind']`. */
type ValueOf<S> = S extends { kind: 'integer' }
  ? number
  : S extends { kind: 'choice'; values: readonly (infer V)[] }
    ? V
    : S extends { kind: 'list' }
      ? readonly string[]
      : S extends { kind: 'key'; optional: true }
        ? Buffer | null
        : S extends { kind: 'key' }
          ? Buffer
          : S extends { kind: 'keyring' }
            ? ReadonlyMap<string, Buffer>
            : S extends { kind: 'privateKey' }
              ? KeyObject
              : string;

type Variables = typeof VARIABLES;

/** The typed values of one group, keyed by variable name. */
export type GroupSettings<G extends GroupName> = {
  readonly [V in VariableName as Variables[V]['group'] extends G ? V : never]: ValueOf<Variables[V]>;
};

const KEY_BYTES = 32;
const MUST_BE_KEY = `must be base64 of exactly ${KEY_BYTES} random bytes`;

/** Strict standard base64 (canonical, padded); `undefined` when the text is not that. */
function decodeBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** `\n` typed literally by environment-variable UIs → real newlines; surrounding quotes removed. */
function pemFromEnv(value: string): string {
  return value
    .replace(/^(["'])([\s\S]*)\1$/, '$2')
    .replace(/\\r\\n|\\n/g, '\n')
    .replace(/\r\n/g, '\n');
}

function parseRsaPrivateKey(pem: string): KeyObject | undefined {
  try {
    const key = crypto.createPrivateKey(pem);
    return key.asymmetricKeyType === 'rsa' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** `id:base64` entries separated by commas; problems name the entry, never its value. */
function parseKeyring(name: string, text: string, problems: string[]): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  text.split(',').forEach((entry, i) => {
    const sep = entry.indexOf(':');
    const id = entry.slice(0, sep).trim();
    const key = sep > 0 ? decodeBase64(entry.slice(sep + 1).trim()) : undefined;
    if (!KEY_ID_PATTERN.test(id) || !key || key.length !== KEY_BYTES) {
      problems.push(`${name} entry ${i + 1} must be <keyId>:<base64 of ${KEY_BYTES} bytes>`);
    } else if (keys.has(id)) {
      problems.push(`${name} entry ${i + 1} reuses key id ${id}`);
    } else {
      keys.set(id, key);
    }
  });
  return keys;
}

/** The default of a variable that is not set (`undefined`: it is required). */
function defaultOf(spec: VariableSpec): unknown {
  switch (spec.kind) {
    case 'text':
      return spec.default;
    case 'integer':
    case 'choice':
    case 'url':
      return spec.default;
    case 'list':
      return Object.freeze([...(spec.default ?? [])]);
    case 'keyring':
      return new Map();
    case 'key':
      // An optional key left unset: the feature it keys is off.
      return spec.optional ? null : undefined;
    default:
      return undefined;
  }
}

type Parser<S extends VariableSpec> = (name: string, spec: S, raw: string, problems: string[]) => unknown;
type Parsers = { [K in VariableSpec['kind']]: Parser<Extract<VariableSpec, { kind: K }>> };

/** Records `<name> <rule>` and answers undefined. */
const bad = (problems: string[], name: string, rule: string): undefined => void problems.push(`${name} ${rule}`);

/** One parser per kind: a set (non-blank, trimmed) value → its typed value, or a problem. */
const PARSERS: Parsers = {
  text: (name, spec, raw, problems) => {
    const value = spec.upperCase ? raw.toUpperCase() : raw;
    return !spec.pattern || spec.pattern.test(value) ? value : bad(problems, name, spec.rule ?? 'is malformed');
  },
  integer: (name, spec, raw, problems) => {
    const value = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
    return Number.isSafeInteger(value) && value >= spec.min && value <= spec.max
      ? value
      : bad(problems, name, `must be a whole number from ${spec.min} to ${spec.max}`);
  },
  choice: (name, spec, raw, problems) =>
    spec.values.find((v) => v === raw.toLowerCase()) ?? bad(problems, name, `must be one of ${spec.values.join(', ')}`),
  list: (name, spec, raw, problems) => {
    const items = raw
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
    return items.every((item) => spec.pattern.test(item)) ? Object.freeze(items) : bad(problems, name, spec.rule);
  },
  url: (name, _spec, raw, problems) => {
    const value = raw.replace(/\/+$/, '');
    return /^https?:\/\/[^\s/]+(\/\S*)?$/.test(value) ? value : bad(problems, name, 'must be an http(s) URL');
  },
  key: (name, _spec, raw, problems) => {
    const key = decodeBase64(raw);
    return key && key.length === KEY_BYTES ? key : bad(problems, name, MUST_BE_KEY);
  },
  keyring: (name, _spec, raw, problems) => parseKeyring(name, raw, problems),
  privateKey: (name, _spec, raw, problems) =>
    parseRsaPrivateKey(pemFromEnv(raw)) ?? bad(problems, name, 'must be an unencrypted RSA private key in PEM form'),
};

function parseSet(name: string, spec: VariableSpec, raw: string, problems: string[]): unknown {
  return (PARSERS[spec.kind] as Parser<VariableSpec>)(name, spec, raw, problems);
}

/** A problem found across the variables of a group: the variable to name, and what is wrong. */
type CrossProblem = [VariableName, string];

/** Checks across the variables of one group (run only when each variable parsed). */
const GROUP_CHECKS: { [G in GroupName]?: (values: GroupSettings<G>) => CrossProblem[] } = {
  methods: (values) => {
    const problem = methodsProblem(values.IDENTITY_METHODS);
    return problem ? [['IDENTITY_METHODS', `IDENTITY_METHODS ${problem}`]] : [];
  },
  pii: (values) => {
    const problems: CrossProblem[] = [];
    if (values.PII_ENC_KEY.equals(values.PII_INDEX_KEY)) {
      problems.push(['PII_INDEX_KEY', 'PII_INDEX_KEY must differ from PII_ENC_KEY']);
    }
    [...values.PII_ENC_KEYS_OLD.keys()].forEach((id, i) => {
      if (id === values.PII_ENC_KEY_ID) {
        problems.push(['PII_ENC_KEYS_OLD', `PII_ENC_KEYS_OLD entry ${i + 1} reuses key id ${id}`]);
      }
    });
    [...values.PII_INDEX_KEYS_OLD.entries()].forEach(([id, key], i) => {
      if (id === values.PII_INDEX_KEY_ID) {
        problems.push(['PII_INDEX_KEYS_OLD', `PII_INDEX_KEYS_OLD entry ${i + 1} reuses key id ${id}`]);
      } else if (key.equals(values.PII_INDEX_KEY)) {
        problems.push(['PII_INDEX_KEYS_OLD', `PII_INDEX_KEYS_OLD entry ${i + 1} is the current PII_INDEX_KEY`]);
      }
    });
    return problems;
  },
};

/**
 * One group's values, or the `ConfigError` naming every variable that is missing or malformed. Blank
 * (unset, empty or whitespace) means "not set": the default, or missing when there is none.
 */
export function loadGroup<G extends GroupName>(group: G, env: Env = process.env): GroupSettings<G> {
  const problems: string[] = [];
  const named: string[] = [];
  const values: Record<string, unknown> = {};
  for (const name of variablesOf(group)) {
    const spec: VariableSpec = VARIABLES[name];
    const raw = env[name]?.trim() ?? '';
    const before = problems.length;
    const value = raw === '' ? defaultOf(spec) : parseSet(name, spec, raw, problems);
    if (raw === '' && value === undefined) problems.push(`${name} is missing`);
    if (problems.length > before) named.push(name);
    values[name] = value;
  }
  if (problems.length === 0) {
    const check = GROUP_CHECKS[group] as ((v: Record<string, unknown>) => CrossProblem[]) | undefined;
    for (const [name, problem] of check?.(values) ?? []) {
      problems.push(problem);
      named.push(name);
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(`${VARIABLE_GROUPS[group]}: ${problems.join('; ')}`, [...new Set(named)]);
  }
  return Object.freeze(values) as GroupSettings<G>;
}

/** A function's settings: every group it declares, each loaded once, usable or its `ConfigError`. */
export class Settings<G extends GroupName> {
  private readonly groups = new Map<GroupName, object>();

  constructor(groups: readonly G[], env: Env) {
    for (const group of groups) {
      try {
        this.groups.set(group, loadGroup(group, env));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        this.groups.set(group, err);
      }
    }
    Object.freeze(this);
  }

  /** The group's values; throws its `ConfigError` (→ NOT_CONFIGURED) when it is not usable. */
  group<K extends G>(name: K): GroupSettings<K> {
    const loaded = this.groups.get(name);
    if (loaded === undefined) throw new ConfigError(`settings group ${name} is not declared for this function`, []);
    if (loaded instanceof ConfigError) throw loaded;
    return loaded as GroupSettings<K>;
  }

  /** What is wrong, one error per unusable group (for the log at instance start). */
  get problems(): ConfigError[] {
    return [...this.groups.values()].filter((g): g is ConfigError => g instanceof ConfigError);
  }

  /** Says once, in the log, which settings are missing or malformed (never their values). */
  report(logger: Logger): this {
    for (const problem of this.problems) {
      logger.error('configuration incomplete', { problem: problem.message, variables: problem.variables });
    }
    return this;
  }
}

/** The settings of function `fn` (the groups the manifest gives it), read from `env` at instance start. */
export function loadSettings<F extends FunctionName>(fn: F, env: Env = process.env): Settings<GroupsOf<F>> {
  return new Settings(FUNCTION_GROUPS[fn] as readonly GroupsOf<F>[], env);
}

// ---------------------------------------------------------------- the groups as the code uses them

export function wechatConfig(app: GroupSettings<'app'>, values: GroupSettings<'wechat'>): WechatConfig {
  return Object.freeze({
    base: values.WECHAT_API_BASE,
    appid: app.WECHAT_APPID,
    secret: values.WECHAT_APPSECRET,
    timeoutMs: values.WECHAT_TIMEOUT_MS,
  });
}

export function piiKeysOf(values: GroupSettings<'pii'>): PiiKeys {
  const encKeys = new Map(values.PII_ENC_KEYS_OLD);
  encKeys.set(values.PII_ENC_KEY_ID, values.PII_ENC_KEY);
  return Object.freeze({
    encKeyId: values.PII_ENC_KEY_ID,
    encKeys,
    indexKey: values.PII_INDEX_KEY,
    indexKeyId: values.PII_INDEX_KEY_ID,
    oldIndexKeys: values.PII_INDEX_KEYS_OLD,
  });
}

/** The methods offered, in order (each matched the variable's pattern: one of VerificationMethod). */
export function methodsOf(values: GroupSettings<'methods'>): readonly VerificationMethod[] {
  return values.IDENTITY_METHODS as readonly VerificationMethod[];
}

/** Who reviews staff verifications: REVIEWER_OPENIDS, or the roster admins when it is empty. */
export function reviewersOf(values: GroupSettings<'admins'>): { openids: readonly string[]; ofAdmins: boolean } {
  return values.REVIEWER_OPENIDS.length > 0
    ? { openids: values.REVIEWER_OPENIDS, ofAdmins: false }
    : { openids: values.ROSTER_ADMIN_OPENIDS, ofAdmins: true };
}

export function merchantOf(values: GroupSettings<'merchant'>): MerchantConfig {
  return Object.freeze({
    mchId: values.WXPAY_MCH_ID,
    certSerialNo: values.WXPAY_CERT_SERIALNO,
    privateKey: values.WXPAY_PRIVATE_KEY,
  });
}

/** The PII keys from `env` (tests, scripts): the `pii` group, checked as a function checks it. */
export function loadPiiKeys(env: Env = process.env): PiiKeys {
  return piiKeysOf(loadGroup('pii', env));
}

/** The WeChat Pay merchant from `env`: the `merchant` group. */
export function loadMerchantConfig(env: Env = process.env): MerchantConfig {
  return merchantOf(loadGroup('merchant', env));
}
