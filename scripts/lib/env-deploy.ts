/**
 * The environment as code: what server/manifest/ says a deployment is (functions with their code,
 * runtime, timeout, memory, variables and timers; collections with their indexes and permission;
 * the storage permission), applied to an environment through its management API, and read back to
 * list every drift. `npm run deploy` and the sandbox's own configuration (`npm start`, the test
 * sandboxes) both go through here, so a test of the sandbox is a test of the deploy.
 *
 * Order: the rules first (collections exist, their permission and the storage permission are
 * applied before anything that can fail), then the collections' contents (client-written documents
 * removed, indexes built), then the functions. A collection never holds a client-written document
 * (one with `_openid`: the server SDK never sets it), and a unique index cannot be built over two
 * documents that lack its field (a missing field counts as null).
 *
 * Idempotent: every step reads first and writes only what differs, except a function's code. The
 * management API gives no digest of the deployed code (GetFunction's ModTime also moves with every
 * configuration change, CodeSize proves nothing), so the deploy uploads the code of every function on
 * every run; the digest it writes into the description (`[code sha256:…]`) lets `--check` see code
 * deployed from another build, not code uploaded by other means (the console, miniprogram-ci).
 */
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import { loadSettings } from '../../server/lib/settings';
import {
  COLLECTION_PERMISSION,
  COLLECTIONS,
  FUNCTIONS,
  MIN_RUNTIME_MAJOR,
  STORAGE_PERMISSION,
  VARIABLES,
  type CollectionSpec,
  type FunctionSpec,
  type VariableName,
} from '../../server/manifest';
import type { FunctionName } from '../../miniprogram/shared/contracts';
import { CloudApiCallError, readOnlyApi, type CloudApi, type Params } from './cloud-api';
import { TMP } from './ci-project';
import { zip } from './zip';

/** Values of the manifest's variables, by name (what the untracked deploy file holds). */
export type DeployValues = Readonly<Record<string, string>>;

export interface DesiredFunction {
  spec: FunctionSpec;
  timeout: number;
  /** Only the function's own variables, only the ones given a value. */
  env: Record<string, string>;
  zip: Buffer;
  codeSha256: string;
  description: string;
}

export interface DesiredState {
  functions: DesiredFunction[];
  collections: CollectionSpec[];
}

/** The names of secret variables (never printed). */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(
  (Object.keys(VARIABLES) as VariableName[]).filter((name) => VARIABLES[name].secret),
);

const CODE_MARK = /\s*\[code sha256:([0-9a-f]{16})\]$/;

const PACKAGE_FILES = ['index.js', 'package.json', 'config.json'];
/** Packages already zipped in this process, by folder: a rebuild (new size or mtime) zips again. */
const packages = new Map<string, { stamp: string; zip: Buffer; sha256: string }>();

/**
 * Zips made by earlier processes, by the digest of what went into them (the files and the zip
 * writer's own source): every test suite, page-test sandbox and `npm start` deploys the same build,
 * and deflating its ~25 MB costs a second or more of CPU each time. Same files, same bytes (the
 * writer is reproducible), so a cached zip is the one that would be made.
 */
const ZIP_CACHE = path.join(TMP, 'function-zips');
const ZIP_WRITER = path.join(__dirname, 'zip.ts');

function cachedZip(name: string, contents: Buffer[], make: () => Buffer): Buffer {
  let writer: Buffer;
  try {
    writer = fs.readFileSync(ZIP_WRITER);
  } catch {
    return make(); // not run from the sources: no cache
  }
  const digest = crypto.createHash('sha256').update(writer);
  contents.forEach((content, i) => digest.update(`\0${PACKAGE_FILES[i]}\0${content.length}\0`).update(content));
  const file = path.join(ZIP_CACHE, `${name}-${digest.digest('hex').slice(0, 32)}.zip`);
  try {
    return fs.readFileSync(file);
  } catch {
    // Not cached yet (or pruned meanwhile by another process): made here.
  }
  const archive = make();
  try {
    fs.mkdirSync(ZIP_CACHE, { recursive: true });
    // Written aside, then renamed into place: a process reading it never sees half a zip.
    const aside = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(aside, archive);
    fs.renameSync(aside, file);
    // Older builds of this function are of no use any more.
    for (const old of fs.readdirSync(ZIP_CACHE)) {
      if (old.startsWith(`${name}-`) && old.endsWith('.zip') && path.join(ZIP_CACHE, old) !== file)
        fs.rmSync(path.join(ZIP_CACHE, old), { force: true });
    }
  } catch {
    // A cache that cannot be written only costs time.
  }
  return archive;
}

/** The built function folder (index.js, package.json, config.json) as the zip that is uploaded. */
function functionPackage(dir: string): { zip: Buffer; sha256: string } {
  const stats = PACKAGE_FILES.map((name) => {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) throw new Error(`${path.relative(process.cwd(), file)} is missing: run the build first`);
    return fs.statSync(file);
  });
  const stamp = JSON.stringify(stats.map((st) => [st.size, st.mtimeMs]));
  const cached = packages.get(dir);
  if (cached?.stamp === stamp) return cached;
  const contents = PACKAGE_FILES.map((name) => fs.readFileSync(path.join(dir, name)));
  const archive = cachedZip(path.basename(dir), contents, () =>
    zip(new Map(PACKAGE_FILES.map((name, i) => [name, contents[i]!]))),
  );
  const made = { stamp, zip: archive, sha256: crypto.createHash('sha256').update(archive).digest('hex') };
  packages.set(dir, made);
  return made;
}

export interface DesiredOptions {
  values: DeployValues;
  /** Where `npm run build` put the functions. */
  functionsDir: string;
  /** Only these functions (default: all). */
  only?: readonly string[];
  /** Timeouts other than the manifest's (test sandboxes that need a slice cut short). */
  timeouts?: Readonly<Record<string, number>>;
}

/**
 * The state to apply, and what is wrong with the values: each function's settings are loaded from
 * them exactly as the function will load them at instance start, so a deploy names a missing or
 * malformed variable before anything is uploaded.
 */
export function desiredState(options: DesiredOptions): { state: DesiredState; problems: string[] } {
  const problems: string[] = [];
  const unknown = Object.keys(options.values).filter((name) => !(name in VARIABLES));
  if (unknown.length) problems.push(`values for variables the manifest does not declare: ${unknown.join(', ')}`);
  const functions = FUNCTIONS.filter((spec) => !options.only || options.only.includes(spec.name)).map((spec) => {
    const env = Object.fromEntries(
      spec.env.map((v) => [v.name, options.values[v.name]?.trim() ?? '']).filter(([, value]) => value !== ''),
    );
    for (const problem of loadSettings(spec.name as FunctionName, env).problems) {
      problems.push(`${spec.name}: ${problem.message}`);
    }
    const { zip: archive, sha256: codeSha256 } = functionPackage(path.join(options.functionsDir, spec.name));
    return {
      spec,
      timeout: options.timeouts?.[spec.name] ?? spec.timeout,
      env,
      zip: archive,
      codeSha256,
      description: `${spec.description} [code sha256:${codeSha256.slice(0, 16)}]`,
    };
  });
  return { state: { functions, collections: COLLECTIONS }, problems };
}

// ------------------------------------------------------------ reading the environment

interface EnvInfo {
  namespace: string;
  mongo: { DatabaseName: string; InstanceId: string };
  bucket: string;
}

async function envInfo(api: CloudApi, envId: string): Promise<EnvInfo> {
  const res = await api.call('tcb', 'DescribeEnvInfo', { EnvId: envId });
  const base = (res.EnvInfo as { EnvBaseInfo?: Record<string, unknown> } | undefined)?.EnvBaseInfo ?? {};
  const first = (key: string) => ((base[key] as Record<string, unknown>[] | undefined) ?? [])[0] ?? {};
  if (base.EnvId !== envId) throw new Error(`environment ${envId} not found`);
  return {
    namespace: String(first('Functions').Namespace ?? envId),
    mongo: { DatabaseName: String(first('Databases').InstanceId ?? ''), InstanceId: 'flexdb' },
    bucket: String(first('Storages').Bucket ?? ''),
  };
}

const isAbsent = (err: unknown) => err instanceof CloudApiCallError && /NotFound|NotExist/i.test(err.code);

/** The answer, or undefined when the API says the thing does not exist. */
async function read(
  api: CloudApi,
  service: 'tcb' | 'scf',
  action: string,
  params: Params,
): Promise<Params | undefined> {
  try {
    return await api.call(service, action, params);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw err;
  }
}

interface DeployedTrigger {
  name: string;
  type: string;
  /** A timer's cron expression; any other trigger's description as given. */
  config: string;
}

interface DeployedFunction {
  runtime: string;
  timeout: number;
  memory: number;
  description: string;
  env: Record<string, string>;
  /** Every trigger, of any type (the manifest declares timers only). */
  triggers: DeployedTrigger[];
  status: string;
}

function deployedFunction(res: Params): DeployedFunction {
  const variables = (
    (res.Environment as { Variables?: { Key: string; Value: string }[] } | undefined)?.Variables ?? []
  ).map((v) => [v.Key, v.Value] as const);
  const triggers = (
    (res.Triggers as { TriggerName?: string; TriggerDesc?: string; Type?: string }[] | undefined) ?? []
  ).map((t) => {
    let config = String(t.TriggerDesc ?? '');
    try {
      if (t.Type === 'timer') config = String((JSON.parse(config) as { cron?: unknown }).cron ?? config);
    } catch {
      // a bare cron expression
    }
    return { name: String(t.TriggerName), type: String(t.Type ?? ''), config };
  });
  return {
    runtime: String(res.Runtime ?? ''),
    timeout: Number(res.Timeout),
    memory: Number(res.MemorySize),
    description: String(res.Description ?? ''),
    env: Object.fromEntries(variables),
    triggers,
    status: String(res.Status ?? ''),
  };
}

function runtimeMajor(runtime: string): number {
  const match = /^Nodejs(\d+)/.exec(runtime);
  return match ? Number(match[1]) : 0;
}

function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

// ------------------------------------------------------------ applying

export interface ApplyOptions {
  envId: string;
  log: (line: string) => void;
  /** Waits between status reads while a function is being created or updated. */
  wait?: (ms: number) => Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Reads the function until it is Active (a fresh sandbox's is at once; the cloud's takes seconds). */
async function waitActive(api: CloudApi, namespace: string, name: string, wait: (ms: number) => Promise<void>) {
  for (let attempt = 0, delay = 250; attempt < 120; attempt += 1, delay = Math.min(delay * 2, 5000)) {
    const res = await api.call('scf', 'GetFunction', { FunctionName: name, Namespace: namespace });
    const status = String(res.Status ?? 'Active');
    if (status === 'Active') return;
    if (/Failed/i.test(status)) throw new Error(`function ${name} is ${status}: ${String(res.StatusDesc ?? '')}`);
    await wait(delay);
  }
  throw new Error(`function ${name} did not become Active`);
}

async function applyFunction(api: CloudApi, info: EnvInfo, fn: DesiredFunction, options: ApplyOptions): Promise<void> {
  const { spec } = fn;
  const wait = options.wait ?? sleep;
  const ns = { FunctionName: spec.name, Namespace: info.namespace };
  const environment = { Variables: Object.entries(fn.env).map(([Key, Value]) => ({ Key, Value })) };
  const found = await read(api, 'scf', 'GetFunction', ns);
  if (!found) {
    await api.call('scf', 'CreateFunction', {
      ...ns,
      Runtime: spec.runtime,
      Handler: 'index.main',
      Timeout: fn.timeout,
      MemorySize: spec.memory,
      Description: fn.description,
      Environment: environment,
      // Everything the function needs is in its bundle (wx-server-sdk included): nothing to install,
      // so the cloud runs exactly what the tests ran.
      InstallDependency: 'FALSE',
      Code: { ZipFile: fn.zip.toString('base64') },
      Role: 'TCB_QcsRole',
      Stamp: 'MINI_QCBASE',
    });
    options.log(
      `  ${spec.name}: created (${spec.runtime}, ${fn.timeout} s, ${spec.memory} MB, ${Object.keys(fn.env).length} variables)`,
    );
    await waitActive(api, info.namespace, spec.name, wait);
  } else {
    const deployed = deployedFunction(found);
    if (runtimeMajor(deployed.runtime) < MIN_RUNTIME_MAJOR) {
      throw new Error(
        `function ${spec.name} runs on ${deployed.runtime || 'an unknown runtime'}, older than Node.js ${MIN_RUNTIME_MAJOR}: ` +
          'a runtime can only be chosen at creation. Delete the function in the console and deploy again.',
      );
    }
    // Always: nothing the API answers proves the deployed code is this build (see the module comment).
    await api.call('scf', 'UpdateFunctionCode', {
      ...ns,
      Handler: 'index.main',
      InstallDependency: 'FALSE',
      ZipFile: fn.zip.toString('base64'),
    });
    await waitActive(api, info.namespace, spec.name, wait);
    options.log(`  ${spec.name}: code uploaded`);
    const configured =
      deployed.timeout === fn.timeout &&
      deployed.memory === spec.memory &&
      deployed.description === fn.description &&
      sameEnv(deployed.env, fn.env);
    if (!configured) {
      await api.call('scf', 'UpdateFunctionConfiguration', {
        ...ns,
        Timeout: fn.timeout,
        MemorySize: spec.memory,
        Description: fn.description,
        Environment: environment,
      });
      await waitActive(api, info.namespace, spec.name, wait);
      options.log(
        `  ${spec.name}: configuration updated (${fn.timeout} s, ${spec.memory} MB, ${Object.keys(fn.env).length} variables)`,
      );
    }
  }
  await applyTriggers(api, info, fn, found ? deployedFunction(found).triggers : [], options);
}

const sameTrigger = (deployed: DeployedTrigger, wanted: { name: string; config: string }) =>
  deployed.type === 'timer' && deployed.name === wanted.name && deployed.config === wanted.config;

/** Timers as the manifest says: a changed one is replaced, one the manifest does not declare (any type) removed. */
async function applyTriggers(
  api: CloudApi,
  info: EnvInfo,
  fn: DesiredFunction,
  existing: DeployedTrigger[],
  options: ApplyOptions,
): Promise<void> {
  const ns = { FunctionName: fn.spec.name, Namespace: info.namespace };
  const missing = fn.spec.triggers.filter((t) => !existing.some((e) => sameTrigger(e, t)));
  for (const stale of existing.filter((e) => !fn.spec.triggers.some((t) => sameTrigger(e, t)))) {
    await api.call('scf', 'DeleteTrigger', { ...ns, TriggerName: stale.name, Type: stale.type });
    if (!fn.spec.triggers.some((t) => t.name === stale.name)) {
      options.log(`  ${fn.spec.name}: ${stale.type} trigger ${stale.name} removed (not in the manifest)`);
    }
  }
  if (missing.length === 0) return;
  const triggers = missing.map((t) => ({ TriggerName: t.name, Type: 'timer', TriggerDesc: t.config }));
  await api.call('scf', 'BatchCreateTrigger', { ...ns, Triggers: JSON.stringify(triggers), Count: triggers.length });
  options.log(`  ${fn.spec.name}: timer ${missing.map((t) => `${t.name} (${t.config})`).join(', ')}`);
}

interface IndexState {
  name: string;
  keys: Record<string, 1 | -1>;
  unique: boolean;
}

function indexesOf(res: Params): IndexState[] {
  return (
    (res.Indexes as { Name: string; Unique?: boolean; Keys?: { Name: string; Direction: string }[] }[]) ?? []
  ).map((index) => ({
    name: index.Name,
    unique: index.Unique === true,
    keys: Object.fromEntries((index.Keys ?? []).map((k) => [k.Name, String(k.Direction) === '-1' ? -1 : 1])),
  }));
}

const sameIndex = (a: IndexState, b: IndexState) =>
  a.unique === b.unique && JSON.stringify(a.keys) === JSON.stringify(b.keys);

/**
 * Unique indexes the manifest does not declare for the collection: each can refuse the functions'
 * writes. (`_id_` is the database's own; a non-unique extra index only costs space and is left alone.)
 */
function extraUniqueIndexes(spec: CollectionSpec, existing: IndexState[]): IndexState[] {
  return existing.filter((e) => e.unique && e.name !== '_id_' && !spec.indexes.some((i) => i.name === e.name));
}

const tableOf = (envId: string, info: EnvInfo, name: string) => ({
  EnvId: envId,
  MongoConnector: info.mongo,
  TableName: name,
});

/** The collection's indexes, creating it first if it is missing (`created`: nothing can be in it). */
async function ensureCollection(
  api: CloudApi,
  envId: string,
  info: EnvInfo,
  spec: CollectionSpec,
  options: ApplyOptions,
): Promise<{ created: boolean; indexes: IndexState[] }> {
  const table = tableOf(envId, info, spec.name);
  const described = await read(api, 'tcb', 'DescribeTable', table);
  if (described) return { created: false, indexes: indexesOf(described) };
  await api.call('tcb', 'CreateTable', table);
  options.log(`  ${spec.name}: created`);
  return { created: true, indexes: [] };
}

// A document a client wrote: the platform sets `_openid` on it, the server SDK never does.
const CLIENT_WRITTEN = { _openid: { $exists: true } };

/** One MongoDB command through the management API (tcb RunCommands); answers the command's result document. */
async function runCommand(
  api: CloudApi,
  envId: string,
  info: EnvInfo,
  name: string,
  type: 'QUERY' | 'DELETE',
  command: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const res = await api.call('tcb', 'RunCommands', {
    EnvId: envId,
    MongoConnector: info.mongo,
    MgoCommands: [{ TableName: name, CommandType: type, Command: JSON.stringify(command) }],
  });
  let result: unknown = (res.Data as unknown[] | undefined)?.[0];
  // Each answer is a JSON string (of a list of JSON strings for some commands).
  for (let depth = 0; depth < 3; depth += 1) {
    if (typeof result === 'string') result = JSON.parse(result) as unknown;
    else if (Array.isArray(result)) result = result[0];
    else break;
  }
  return result && typeof result === 'object' ? (result as Record<string, unknown>) : {};
}

/** `n` of a command's answer (a number, or EJSON's `{ "$numberInt": "2" }`); undefined if it has none. */
function countOf(result: Record<string, unknown>): number | undefined {
  const raw = result.n as unknown;
  const n =
    typeof raw === 'object' && raw !== null
      ? Number((raw as Record<string, unknown>).$numberInt ?? (raw as Record<string, unknown>).$numberLong)
      : Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

async function clientWrittenCount(api: CloudApi, envId: string, info: EnvInfo, name: string): Promise<number> {
  const result = await runCommand(api, envId, info, name, 'QUERY', { count: name, query: CLIENT_WRITTEN });
  const n = countOf(result);
  if (n === undefined) throw new Error(`tcb.RunCommands gave no count of the client-written documents of ${name}`);
  return n;
}

const documents = (n: number) => `${n} client-written document${n === 1 ? '' : 's'}`;

/** Removes every document a client wrote (none belongs in any collection of the manifest). */
async function removeClientWritten(
  api: CloudApi,
  envId: string,
  info: EnvInfo,
  name: string,
  options: ApplyOptions,
): Promise<void> {
  const counted = await clientWrittenCount(api, envId, info, name);
  if (counted === 0) return;
  const result = await runCommand(api, envId, info, name, 'DELETE', {
    delete: name,
    deletes: [{ q: CLIENT_WRITTEN, limit: 0 }],
  });
  // The answer's own count when it gives one, else the count just read.
  options.log(`  ${name}: removed ${documents(countOf(result) ?? counted)}`);
}

/** The manifest's indexes: missing or changed ones built, unique ones it does not declare dropped. */
async function applyIndexes(
  api: CloudApi,
  envId: string,
  info: EnvInfo,
  spec: CollectionSpec,
  existing: IndexState[],
  options: ApplyOptions,
): Promise<void> {
  const wanted = spec.indexes.map((i) => ({ name: i.name, keys: i.keys, unique: i.unique }));
  const changed = wanted.filter((w) => existing.some((e) => e.name === w.name && !sameIndex(e, w)));
  const missing = wanted.filter((w) => !existing.some((e) => e.name === w.name && sameIndex(e, w)));
  const drops = [...changed, ...extraUniqueIndexes(spec, existing)];
  if (missing.length === 0 && drops.length === 0) return;
  try {
    await api.call('tcb', 'UpdateTable', {
      ...tableOf(envId, info, spec.name),
      ...(drops.length ? { DropIndexes: drops.map((c) => ({ IndexName: c.name })) } : {}),
      ...(missing.length
        ? {
            CreateIndexes: missing.map((m) => ({
              IndexName: m.name,
              MgoKeySchema: {
                MgoIsUnique: m.unique,
                MgoIndexKeys: Object.entries(m.keys).map(([Name, d]) => ({ Name, Direction: String(d) })),
              },
            })),
          }
        : {}),
    });
  } catch (err) {
    throw uniqueIndexError(spec.name, missing, err);
  }
  const extra = extraUniqueIndexes(spec, existing);
  if (extra.length)
    options.log(`  ${spec.name}: unique index ${extra.map((e) => e.name).join(', ')} dropped (not in the manifest)`);
  if (missing.length) {
    options.log(`  ${spec.name}: index ${missing.map((m) => `${m.name}${m.unique ? ' (unique)' : ''}`).join(', ')}`);
  }
}

/** A unique index the database refused to build: which one, why, and what the team does about it. */
function uniqueIndexError(collection: string, missing: IndexState[], err: unknown): unknown {
  const unique = missing.filter((m) => m.unique);
  if (!(err instanceof CloudApiCallError) || unique.length === 0) return err;
  const fields = [...new Set(unique.flatMap((u) => Object.keys(u.keys)))].join(', ');
  return new Error(
    `collection ${collection}: unique index ${unique.map((u) => u.name).join(', ')} cannot be built (${err.message}). ` +
      `Two or more documents share a value of ${fields} (a missing field counts as null). The permissions are ` +
      `applied and client-written documents were removed, so these were written by a function or by hand: ` +
      `find them in 云开发控制台 → 数据库 → ${collection}, delete or correct them, then deploy again.`,
  );
}

async function collectionPermissions(api: CloudApi, envId: string, names: string[]): Promise<Map<string, string>> {
  const res = await read(api, 'tcb', 'DescribeResourcePermission', {
    EnvId: envId,
    ResourceType: 'collection',
    Resources: names,
  });
  const list = ((res?.Data as { PermissionList?: { Resource?: string; Permission?: string; SecurityRule?: string }[] })
    ?.PermissionList ?? []) as { Resource?: string; Permission?: string; SecurityRule?: string }[];
  return new Map(list.map((p) => [String(p.Resource), permissionLabel(p.Permission, p.SecurityRule)]));
}

/** `ADMINONLY`, or `CUSTOM <rule>` for a custom rule. */
function permissionLabel(permission: unknown, rule: unknown): string {
  return permission === 'CUSTOM' ? `CUSTOM ${String(rule ?? '')}` : String(permission ?? '');
}

/** A custom rule that lets no client read or write is as strong as ADMINONLY. */
function asStrongAsAdminOnly(label: string): boolean {
  if (label === 'ADMINONLY') return true;
  if (!label.startsWith('CUSTOM ')) return false;
  try {
    const rule = JSON.parse(label.slice(7)) as { read?: unknown; write?: unknown };
    return rule.read === false && rule.write === false;
  } catch {
    return false;
  }
}

async function storageAcl(api: CloudApi, envId: string, info: EnvInfo): Promise<string | undefined> {
  const res = await read(api, 'tcb', 'DescribeStorageSafeRule', { EnvId: envId, Bucket: info.bucket });
  return res ? permissionLabel(res.AclTag, res.Rule) : undefined;
}

/** Every collection's permission, then the storage's: from here on no client writes anything. */
async function applyPermissions(
  api: CloudApi,
  info: EnvInfo,
  collections: CollectionSpec[],
  options: ApplyOptions,
): Promise<void> {
  const permissions = await collectionPermissions(
    api,
    options.envId,
    collections.map((c) => c.name),
  );
  for (const spec of collections) {
    if (permissions.get(spec.name) === COLLECTION_PERMISSION) continue;
    await api.call('tcb', 'ModifyResourcePermission', {
      EnvId: options.envId,
      ResourceType: 'collection',
      Resource: spec.name,
      Permission: COLLECTION_PERMISSION,
    });
    options.log(`  ${spec.name}: permission ${COLLECTION_PERMISSION}`);
  }
  if ((await storageAcl(api, options.envId, info)) !== STORAGE_PERMISSION) {
    await api.call('tcb', 'ModifyStorageSafeRule', {
      EnvId: options.envId,
      Bucket: info.bucket,
      AclTag: STORAGE_PERMISSION,
    });
    options.log(`storage: permission ${STORAGE_PERMISSION}`);
  }
}

/**
 * Applies `state`: the collections (created if missing) and their permissions and the storage
 * permission first, so a step that fails later never leaves a rule open; then each collection's
 * client-written documents are removed and its indexes built; then the functions (in parallel).
 */
export async function applyState(api: CloudApi, state: DesiredState, options: ApplyOptions): Promise<void> {
  const info = await envInfo(api, options.envId);
  options.log('collections:');
  const found = [];
  for (const spec of state.collections) found.push(await ensureCollection(api, options.envId, info, spec, options));
  await applyPermissions(api, info, state.collections, options);
  for (const [i, spec] of state.collections.entries()) {
    const { created, indexes } = found[i]!;
    if (!created) await removeClientWritten(api, options.envId, info, spec.name, options);
    await applyIndexes(api, options.envId, info, spec, indexes, options);
  }
  options.log('functions:');
  await Promise.all(state.functions.map((fn) => applyFunction(api, info, fn, options)));
}

// ------------------------------------------------------------ checking

/**
 * Every way the environment differs from `state` (empty: no drift). Values are never printed. Only
 * reads: the API it is given refuses anything else.
 */
export async function checkState(api: CloudApi, state: DesiredState, envId: string): Promise<string[]> {
  const reader = readOnlyApi(api);
  const info = await envInfo(reader, envId);
  const drift: string[] = [];
  for (const fn of state.functions) drift.push(...(await checkFunction(reader, info, fn)));
  const permissions = await collectionPermissions(
    reader,
    envId,
    state.collections.map((c) => c.name),
  );
  for (const spec of state.collections) {
    const described = await read(reader, 'tcb', 'DescribeTable', tableOf(envId, info, spec.name));
    if (!described) {
      drift.push(`collection ${spec.name}: missing`);
      continue;
    }
    drift.push(...indexDrift(spec, indexesOf(described)));
    const permission = permissions.get(spec.name) ?? 'unknown';
    if (!asStrongAsAdminOnly(permission)) {
      drift.push(`collection ${spec.name}: permission ${permission} is weaker than ${COLLECTION_PERMISSION}`);
    }
    const clientWritten = await clientWrittenCount(reader, envId, info, spec.name);
    if (clientWritten > 0) {
      drift.push(`collection ${spec.name}: ${documents(clientWritten)} (with _openid; a deploy removes them)`);
    }
  }
  const acl = (await storageAcl(reader, envId, info)) ?? 'unknown';
  if (acl !== STORAGE_PERMISSION) {
    const weaker = acl === 'READONLY' || acl.startsWith('CUSTOM') || acl === 'unknown';
    drift.push(`storage: permission ${acl} ${weaker ? 'is weaker than' : 'differs from'} ${STORAGE_PERMISSION}`);
  }
  return drift;
}

function indexDrift(spec: CollectionSpec, existing: IndexState[]): string[] {
  const drift: string[] = [];
  for (const index of spec.indexes) {
    const found = existing.find((e) => e.name === index.name);
    if (!found) drift.push(`collection ${spec.name}: index ${index.name} missing${index.unique ? ' (unique)' : ''}`);
    else if (!sameIndex(found, index))
      drift.push(`collection ${spec.name}: index ${index.name} differs from the manifest`);
  }
  for (const extra of extraUniqueIndexes(spec, existing)) {
    drift.push(`collection ${spec.name}: unique index ${extra.name} is not in the manifest`);
  }
  return drift;
}

async function checkFunction(api: CloudApi, info: EnvInfo, fn: DesiredFunction): Promise<string[]> {
  const name = fn.spec.name;
  const found = await read(api, 'scf', 'GetFunction', { FunctionName: name, Namespace: info.namespace });
  if (!found) return [`function ${name}: missing`];
  const deployed = deployedFunction(found);
  const drift: string[] = [];
  if (runtimeMajor(deployed.runtime) < MIN_RUNTIME_MAJOR) {
    drift.push(`function ${name}: runtime ${deployed.runtime || 'unknown'} is older than Node.js ${MIN_RUNTIME_MAJOR}`);
  }
  if (deployed.timeout < fn.timeout)
    drift.push(`function ${name}: timeout ${deployed.timeout} s is below ${fn.timeout} s`);
  if (deployed.memory < fn.spec.memory)
    drift.push(`function ${name}: memory ${deployed.memory} MB is below ${fn.spec.memory} MB`);
  drift.push(...variableDrift(fn, deployed.env));
  // Code deployed from another build; code uploaded by other means keeps the mark (see the module comment).
  if (CODE_MARK.exec(deployed.description)?.[1] !== fn.codeSha256.slice(0, 16)) {
    drift.push(`function ${name}: code differs from this build`);
  }
  drift.push(...triggerDrift(fn, deployed.triggers));
  return drift;
}

function triggerDrift(fn: DesiredFunction, deployed: DeployedTrigger[]): string[] {
  const name = fn.spec.name;
  const drift: string[] = [];
  for (const t of fn.spec.triggers) {
    const trigger = deployed.find((d) => d.name === t.name);
    if (!trigger) drift.push(`function ${name}: timer ${t.name} missing`);
    else if (trigger.type !== 'timer') drift.push(`function ${name}: timer ${t.name} is a ${trigger.type} trigger`);
    else if (trigger.config !== t.config)
      drift.push(`function ${name}: timer ${t.name} is ${trigger.config}, not ${t.config}`);
  }
  for (const extra of deployed.filter((d) => !fn.spec.triggers.some((t) => t.name === d.name))) {
    drift.push(`function ${name}: ${extra.type} trigger ${extra.name} is not in the manifest (a deploy removes it)`);
  }
  return drift;
}

/**
 * Each variable that is not what a deploy would set: missing, different from the deploy values, set
 * without a value there, not declared for the function at all, or one the function will refuse.
 * Named, never shown: neither the deployed value nor the desired one is printed.
 */
function variableDrift(fn: DesiredFunction, env: Record<string, string>): string[] {
  const name = fn.spec.name;
  const drift: string[] = [];
  for (const v of fn.spec.env) {
    const desired = fn.env[v.name];
    const deployed = env[v.name];
    if (!deployed) {
      if (v.required || desired !== undefined) drift.push(`function ${name}: variable ${v.name} missing`);
    } else if (desired === undefined) {
      drift.push(
        `function ${name}: variable ${v.name} is set but has no value in the deploy values (a deploy removes it)`,
      );
    } else if (deployed !== desired) {
      drift.push(`function ${name}: variable ${v.name} differs from the deploy values`);
    }
  }
  for (const extra of Object.keys(env).filter((key) => !fn.spec.env.some((v) => v.name === key))) {
    drift.push(
      `function ${name}: variable ${extra} is set but not declared for ${name} in the manifest (a deploy removes it)`,
    );
  }
  // What the function will say at instance start.
  for (const problem of loadSettings(name as FunctionName, env).problems) {
    const malformed = problem.variables.filter((variable) => env[variable]);
    if (malformed.length) {
      drift.push(`function ${name}: ${malformed.join(', ')} malformed (${problem.message.split(': ')[0]})`);
    }
  }
  return drift;
}
