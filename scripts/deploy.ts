/**
 * `npm run deploy`: applies the environment manifest (server/manifest/) to a CloudBase environment
 * with @cloudbase/manager-node: the functions (built here, uploaded with their code and settings,
 * timers), the collections with their indexes and permission, the storage permission. Idempotent:
 * it reads first and writes only what differs.
 *
 *   npm run deploy [-- --dry-run] [-- --check] [-- --sandbox <url>] [-- --only face,roster]
 *                  [-- --env-file <path>] [-- --key-file <path>] [-- --allow-incomplete] [-- --manual]
 *                  [-- --no-build]   (deploy cloudfunctions/ as the last `npm run build` left it)
 *
 * - Values of the functions' variables come from an untracked file (`--env-file`, default
 *   `.env.deploy`; `deploy.env.example` lists them). They are checked exactly as the functions will
 *   load them; a missing or malformed one stops the deploy (`--allow-incomplete` deploys anyway:
 *   those functions answer NOT_CONFIGURED) and no value is ever printed.
 * - Tencent Cloud API key: TENCENTCLOUD_SECRETID / TENCENTCLOUD_SECRETKEY, or `--key-file` (JSON
 *   `{ "secretId", "secretKey" }`). Environment: CLOUD_ENV, else `envId` in miniprogram/config.ts.
 * - `--dry-run`: no key, no network: prints every call it would make on an empty environment,
 *   secrets masked; nothing is changed, whatever the target. `--check`: reads the environment back,
 *   lists every drift, exits 1 if any; it only reads.
 * - `--sandbox <url>`: the same against a running `npm start` sandbox (its key and values are read
 *   from its data dir, SANDBOX_DATA_DIR or .sandbox/). `.env.deploy` is not read; an `--env-file`
 *   given may set the sandbox's settings but never a secret, WECHAT_API_BASE or another value the
 *   sandbox sets itself, and TENCENTCLOUD_* from the shell are not used (names ignored are printed).
 * - `--manual`: for a team without Tencent Cloud API keys: prints every step to make by hand.
 */
import fs from 'fs';
import path from 'path';
import { DEFAULT_DATA_DIR } from '../sandbox';
import { deployValues, SANDBOX_SETTINGS, type SandboxSecrets } from '../sandbox/secrets';
import { COLLECTION_PERMISSION, COLLECTIONS, FUNCTIONS, STORAGE_PERMISSION } from '../server/manifest';
import { buildFunctions, FUNCTIONS_OUT, ROOT } from './build';
import { dryRunApi, managerApi, type CloudApi } from './lib/cloud-api';
import { CLOUD_CREDENTIALS, outsideValues } from './lib/sandbox-deploy';
import { parseArgs, resolveConfig, runScript, UsageError } from './lib/deploy';
import {
  applyState,
  checkState,
  desiredState,
  SECRET_VARIABLES,
  type DeployValues,
  type DesiredState,
} from './lib/env-deploy';

const ARGS = {
  'dry-run': 'flag',
  check: 'flag',
  sandbox: 'value',
  only: 'value',
  'env-file': 'value',
  'key-file': 'value',
  'allow-incomplete': 'flag',
  manual: 'flag',
  'no-build': 'flag',
} as const;

/**
 * `KEY=VALUE` lines (`#` comments, optional `export `). A value in double quotes may span lines and
 * takes the escapes `\n`, `\"` and `\\` (a PEM key fits either way); single quotes are literal. A
 * quoted value ends at its closing quote: only spaces and a `# comment` may follow it. Errors name
 * the line, never a value.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new UsageError(`env file line ${i + 1}: expected KEY=VALUE`);
    const [, key, rest] = match as unknown as [string, string, string];
    if (rest.startsWith('"') || rest.startsWith("'")) {
      const quoted = quotedValue(lines, i, key, rest);
      values[key] = quoted.value;
      i = quoted.lastLine;
    } else {
      values[key] = rest.replace(/\s+#.*$/, '');
    }
  }
  return values;
}

const DOUBLE_QUOTE_ESCAPES: Readonly<Record<string, string | undefined>> = { n: '\n', '"': '"', '\\': '\\' };

/**
 * The value of a quoted `rest` starting on line `first` (0-based): its text and the line its
 * closing quote is on. Only a double-quoted value continues on the next lines.
 */
function quotedValue(lines: string[], first: number, key: string, rest: string): { value: string; lastLine: number } {
  const quote = rest[0]!;
  let value = '';
  let line = first;
  let text = rest.slice(1);
  for (;;) {
    for (let at = 0; at < text.length; at += 1) {
      const char = text[at]!;
      const escaped = quote === '"' && char === '\\' ? DOUBLE_QUOTE_ESCAPES[text[at + 1] ?? ''] : undefined;
      if (escaped !== undefined) {
        value += escaped;
        at += 1;
      } else if (char === quote) {
        if (!/^\s*(#.*)?$/.test(text.slice(at + 1))) {
          throw new UsageError(
            `env file line ${line + 1}: ${key} has text after its closing quote (only a # comment may follow)`,
          );
        }
        return { value, lastLine: line };
      } else {
        value += char;
      }
    }
    if (quote !== '"' || line + 1 >= lines.length) {
      throw new UsageError(`env file line ${first + 1}: ${key} has no closing quote`);
    }
    line += 1;
    text = lines[line]!;
    value += '\n';
  }
}

export function readEnvFile(file: string, required: boolean): Record<string, string> {
  if (!fs.existsSync(file)) {
    if (required) throw new UsageError(`env file ${file} not found (copy deploy.env.example and fill it in)`);
    return {};
  }
  return parseEnvFile(fs.readFileSync(file, 'utf8'));
}

function readKeyFile(file: string): { secretId: string; secretKey: string } {
  if (!fs.existsSync(file)) throw new UsageError(`--key-file ${file} not found`);
  const key = JSON.parse(fs.readFileSync(file, 'utf8')) as { secretId?: unknown; secretKey?: unknown };
  if (typeof key.secretId !== 'string' || typeof key.secretKey !== 'string') {
    throw new UsageError(`--key-file ${file}: expected { "secretId": "…", "secretKey": "…" }`);
  }
  return { secretId: key.secretId, secretKey: key.secretKey };
}

interface Target {
  envId: string;
  api: CloudApi;
  values: DeployValues;
  /** The values came from us, not the team: their problems are not theirs to fix. */
  managedValues: boolean;
}

/**
 * A running sandbox: its own key signs the calls, its own values are deployed; of the env file's
 * values only settings are taken (see outsideValues), and the names left out are printed. A dry run
 * calls nothing there either.
 */
async function sandboxTarget(url: string, envFileValues: Record<string, string>, dryRun: boolean): Promise<Target> {
  const base = url.replace(/\/+$/, '');
  const health = (await fetch(`${base}/health`).then((r) => r.json())) as { env?: string };
  if (!health.env) throw new UsageError(`${base}/health gave no env: is it a sandbox (npm start)?`);
  const dataDir = path.resolve(process.env.SANDBOX_DATA_DIR ?? DEFAULT_DATA_DIR);
  const file = path.join(dataDir, 'secrets.json');
  if (!fs.existsSync(file)) throw new UsageError(`${file} not found: set SANDBOX_DATA_DIR to the sandbox's data dir`);
  const secrets = JSON.parse(fs.readFileSync(file, 'utf8')) as SandboxSecrets;
  const own = deployValues(secrets, base);
  const { values, ignored } = outsideValues(envFileValues, own);
  const credentials = CLOUD_CREDENTIALS.filter((name) => process.env[name]?.trim());
  if (ignored.length || credentials.length) {
    console.error(`note: ignored for the sandbox (it keeps its own): ${[...ignored, ...credentials].join(', ')}`);
  }
  const api = dryRun
    ? dryRunApi({ envId: health.env }, (l) => console.log(`  ${l}`), SECRET_VARIABLES)
    : managerApi({
        envId: health.env,
        secretId: secrets.cloudApiSecretId,
        secretKey: secrets.cloudApiSecretKey,
        apiBase: `${base}/tcloud`,
      });
  return { envId: health.env, api, values: { ...SANDBOX_SETTINGS, ...own, ...values }, managedValues: true };
}

function cloudTarget(args: Args, values: Record<string, string>): Target {
  const config = resolveConfig(ROOT, process.env);
  const envProblem = config.problems.find((p) => p.includes('cloud environment'));
  if (envProblem) throw new UsageError(envProblem);
  const dryRun = args['dry-run'] === true;
  if (dryRun) {
    return {
      envId: config.env,
      api: dryRunApi({ envId: config.env }, (l) => console.log(`  ${l}`), SECRET_VARIABLES),
      values,
      managedValues: false,
    };
  }
  const key = args['key-file']
    ? readKeyFile(args['key-file'])
    : {
        secretId: process.env.TENCENTCLOUD_SECRETID?.trim() ?? '',
        secretKey: process.env.TENCENTCLOUD_SECRETKEY?.trim() ?? '',
      };
  if (!key.secretId || !key.secretKey) {
    throw new UsageError(
      'a Tencent Cloud API key is needed: TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY, or --key-file <json> ' +
        '(without one: npm run deploy -- --manual prints the console steps)',
    );
  }
  return { envId: config.env, api: managerApi({ envId: config.env, ...key }), values, managedValues: false };
}

/** Every step by hand, for a team without Tencent Cloud API keys (functions via `npm run functions`). */
export function manualSteps(envId: string): string[] {
  const lines = [`By hand in 云开发控制台 (env ${envId}), when no Tencent Cloud API key is available:`];
  lines.push('  Functions (upload code with `npm run functions`, which uses the mini-program upload key):');
  for (const spec of FUNCTIONS) {
    const vars = spec.env.map((v) => `${v.name}${v.secret ? ' (secret)' : ''}${v.required ? '' : ' (optional)'}`);
    lines.push(
      `    ${spec.name}: create with runtime ${spec.runtime} before the first upload; 版本与配置: timeout ${spec.timeout} s, ` +
        `memory ${spec.memory} MB; 环境变量: ${vars.join(', ') || 'none'}`,
    );
  }
  lines.push('  Database (数据库 → collection; create each one first):');
  for (const spec of COLLECTIONS) {
    const indexes = spec.indexes.map(
      (i) =>
        `索引 ${i.name}: ${Object.entries(i.keys)
          .map(([field, d]) => `${field} ${d === 1 ? '升序' : '降序'}`)
          .join(' + ')}${i.unique ? '，唯一' : ''}`,
    );
    lines.push(
      `    ${spec.name}: 数据权限 ${COLLECTION_PERMISSION} (仅管理端可读写)${indexes.length ? `; ${indexes.join('; ')}` : ''}`,
    );
  }
  lines.push(`  Storage (存储 → 权限设置): ${STORAGE_PERMISSION} (仅创建者及管理员可读写)`);
  lines.push('  Then `npm run deploy -- --check` with a key shows whatever still differs.');
  return lines;
}

type Args = ReturnType<typeof parseArgs<typeof ARGS>>;

/** The values file: `--env-file`, else `.env.deploy`, which holds a real environment's values (never a sandbox's). */
export function envFileOf(args: { sandbox?: string; 'env-file'?: string }, root: string): string | undefined {
  if (args['env-file']) return path.resolve(root, args['env-file']);
  return args.sandbox ? undefined : path.resolve(root, '.env.deploy');
}

async function targetOf(args: Args, envFile: string | undefined): Promise<Target> {
  const dryRun = args['dry-run'] === true;
  if (args.sandbox && args['key-file']) {
    throw new UsageError('--key-file is for a cloud environment: a sandbox is called with its own key (its data dir)');
  }
  const fileValues = envFile ? readEnvFile(envFile, Boolean(args['env-file']) && !dryRun) : {};
  const target = args.sandbox ? await sandboxTarget(args.sandbox, fileValues, dryRun) : cloudTarget(args, fileValues);
  const mode = args.check ? 'check' : dryRun ? 'dry run' : 'apply';
  console.log(`deploy (${mode}) → env ${target.envId}${args.sandbox ? ` (sandbox ${args.sandbox})` : ''}`);
  return target;
}

/**
 * Prints the values' problems; a real apply of the team's own values stops on them (true) unless
 * --allow-incomplete. Dry runs and checks only note them; a sandbox's values are its own.
 */
function refused(args: Args, target: Target, problems: string[], envFile: string | undefined): boolean {
  const blocking = !args['dry-run'] && !args.check && !args['allow-incomplete'] && !target.managedValues;
  for (const problem of problems) console.error(`${blocking ? 'error' : 'note'}: ${problem}`);
  if (!problems.length || !blocking) return false;
  console.error(
    `fix ${path.relative(ROOT, envFile ?? '.env.deploy')} (see deploy.env.example), or deploy with --allow-incomplete`,
  );
  return true;
}

function onlyFunctions(args: Args): string[] | undefined {
  const only = args.only?.split(',').map((name) => name.trim());
  const unknown = only?.filter((name) => !FUNCTIONS.some((f) => f.name === name)) ?? [];
  if (unknown.length) throw new UsageError(`--only: no function ${unknown.join(', ')} in the manifest`);
  return only;
}

/** Reads the environment back and lists each drift; 1 when there is any. */
async function check(target: Target, state: DesiredState): Promise<number> {
  const drift = await checkState(target.api, state, target.envId);
  for (const line of drift) console.log(`drift: ${line}`);
  console.log(
    drift.length ? `${drift.length} difference(s) from the manifest` : 'no drift: the environment matches the manifest',
  );
  return drift.length ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  return runScript(async () => {
    const args = parseArgs(argv, ARGS);
    const dryRun = args['dry-run'] === true;
    const only = onlyFunctions(args);
    if (args.manual) {
      for (const line of manualSteps(resolveConfig(ROOT, process.env).env)) console.log(line);
      return 0;
    }
    const envFile = envFileOf(args, ROOT);
    const target = await targetOf(args, envFile);
    if (!args['no-build']) buildFunctions(only);
    const { state, problems } = desiredState({ values: target.values, functionsDir: FUNCTIONS_OUT, only });
    if (refused(args, target, problems, envFile)) return 2;
    if (args.check) return check(target, state);
    if (dryRun) console.log('dry run: no call is made; on an empty environment it would call:');
    await applyState(target.api, state, { envId: target.envId, log: (line) => console.log(line) });
    console.log(dryRun ? 'dry run done (nothing was changed)' : 'deployed: `npm run deploy -- --check` reads it back');
    return 0;
  });
}
