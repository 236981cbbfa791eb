/**
 * The environment as code: what server/manifest/ says a deployment is (functions with their code,
 * runtime, timeout, memory, variables and timers; collections with their indexes and permission;
 * the storage permission), applied to an environment through its management API, and read back to
 * list every drift. `npm run deploy` and the sandbox's own configuration (`npm start`, the test
 * sandboxes) both go through here, so a test of the sandbox is a test of the deploy.
 *
 * Idempotent: every step reads first and writes only what differs. A function's code is compared by
 * the digest the deploy writes into its description (`[code sha256:…]`).
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
import { CloudApiCallError, type CloudApi, type Params } from './cloud-api';
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
  const archive = zip(new Map(PACKAGE_FILES.map((name) => [name, fs.readFileSync(path.join(dir, name))])));
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

interface DeployedFunction {
  runtime: string;
  timeout: number;
  memory: number;
  description: string;
  env: Record<string, string>;
  triggers: { name: string; config: string }[];
  status: string;
}

function deployedFunction(res: Params): DeployedFunction {
  const variables = (
    (res.Environment as { Variables?: { Key: string; Value: string }[] } | undefined)?.Variables ?? []
  ).map((v) => [v.Key, v.Value] as const);
  const triggers = ((res.Triggers as { TriggerName?: string; TriggerDesc?: string; Type?: string }[] | undefined) ?? [])
    .filter((t) => t.Type === 'timer')
    .map((t) => {
      let config = String(t.TriggerDesc ?? '');
      try {
        config = String((JSON.parse(config) as { cron?: unknown }).cron ?? config);
      } catch {
        // a bare cron expression
      }
      return { name: String(t.TriggerName), config };
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
    if (CODE_MARK.exec(deployed.description)?.[1] !== fn.codeSha256.slice(0, 16)) {
      await api.call('scf', 'UpdateFunctionCode', {
        ...ns,
        Handler: 'index.main',
        InstallDependency: 'FALSE',
        ZipFile: fn.zip.toString('base64'),
      });
      await waitActive(api, info.namespace, spec.name, wait);
      options.log(`  ${spec.name}: code updated`);
    }
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

async function applyTriggers(
  api: CloudApi,
  info: EnvInfo,
  fn: DesiredFunction,
  existing: { name: string; config: string }[],
  options: ApplyOptions,
): Promise<void> {
  const ns = { FunctionName: fn.spec.name, Namespace: info.namespace };
  const missing = fn.spec.triggers.filter((t) => !existing.some((e) => e.name === t.name && e.config === t.config));
  for (const t of missing.filter((m) => existing.some((e) => e.name === m.name))) {
    await api.call('scf', 'DeleteTrigger', { ...ns, TriggerName: t.name, Type: 'timer' });
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

async function applyCollection(
  api: CloudApi,
  envId: string,
  info: EnvInfo,
  spec: CollectionSpec,
  options: ApplyOptions,
) {
  const table = { EnvId: envId, MongoConnector: info.mongo, TableName: spec.name };
  let described = await read(api, 'tcb', 'DescribeTable', table);
  if (!described) {
    await api.call('tcb', 'CreateTable', table);
    options.log(`  ${spec.name}: created`);
    described = { Indexes: [] };
  }
  const existing = indexesOf(described);
  const wanted = spec.indexes.map((i) => ({ name: i.name, keys: i.keys, unique: i.unique }));
  const changed = wanted.filter((w) => existing.some((e) => e.name === w.name && !sameIndex(e, w)));
  const missing = wanted.filter((w) => !existing.some((e) => e.name === w.name && sameIndex(e, w)));
  if (missing.length > 0) {
    await api.call('tcb', 'UpdateTable', {
      ...table,
      ...(changed.length ? { DropIndexes: changed.map((c) => ({ IndexName: c.name })) } : {}),
      CreateIndexes: missing.map((m) => ({
        IndexName: m.name,
        MgoKeySchema: {
          MgoIsUnique: m.unique,
          MgoIndexKeys: Object.entries(m.keys).map(([Name, d]) => ({ Name, Direction: String(d) })),
        },
      })),
    });
    options.log(`  ${spec.name}: index ${missing.map((m) => `${m.name}${m.unique ? ' (unique)' : ''}`).join(', ')}`);
  }
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

/** Applies `state`: functions (in parallel), then collections with indexes and permissions, then storage. */
export async function applyState(api: CloudApi, state: DesiredState, options: ApplyOptions): Promise<void> {
  const info = await envInfo(api, options.envId);
  options.log('functions:');
  await Promise.all(state.functions.map((fn) => applyFunction(api, info, fn, options)));
  options.log('collections:');
  for (const spec of state.collections) await applyCollection(api, options.envId, info, spec, options);
  const permissions = await collectionPermissions(
    api,
    options.envId,
    state.collections.map((c) => c.name),
  );
  for (const spec of state.collections) {
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

// ------------------------------------------------------------ checking

/** Every way the environment differs from `state` (empty: no drift). Values are never printed. */
export async function checkState(api: CloudApi, state: DesiredState, envId: string): Promise<string[]> {
  const info = await envInfo(api, envId);
  const drift: string[] = [];
  for (const fn of state.functions) drift.push(...(await checkFunction(api, info, fn)));
  const permissions = await collectionPermissions(
    api,
    envId,
    state.collections.map((c) => c.name),
  );
  for (const spec of state.collections) {
    const described = await read(api, 'tcb', 'DescribeTable', {
      EnvId: envId,
      MongoConnector: info.mongo,
      TableName: spec.name,
    });
    if (!described) {
      drift.push(`collection ${spec.name}: missing`);
      continue;
    }
    const existing = indexesOf(described);
    for (const index of spec.indexes) {
      const found = existing.find((e) => e.name === index.name);
      if (!found) drift.push(`collection ${spec.name}: index ${index.name} missing${index.unique ? ' (unique)' : ''}`);
      else if (!sameIndex(found, index))
        drift.push(`collection ${spec.name}: index ${index.name} differs from the manifest`);
    }
    const permission = permissions.get(spec.name) ?? 'unknown';
    if (!asStrongAsAdminOnly(permission)) {
      drift.push(`collection ${spec.name}: permission ${permission} is weaker than ${COLLECTION_PERMISSION}`);
    }
  }
  const acl = (await storageAcl(api, envId, info)) ?? 'unknown';
  if (acl !== STORAGE_PERMISSION) {
    const weaker = acl === 'READONLY' || acl.startsWith('CUSTOM') || acl === 'unknown';
    drift.push(`storage: permission ${acl} ${weaker ? 'is weaker than' : 'differs from'} ${STORAGE_PERMISSION}`);
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
  if (CODE_MARK.exec(deployed.description)?.[1] !== fn.codeSha256.slice(0, 16)) {
    drift.push(`function ${name}: code differs from this build`);
  }
  for (const t of fn.spec.triggers) {
    const trigger = deployed.triggers.find((d) => d.name === t.name);
    if (!trigger) drift.push(`function ${name}: timer ${t.name} missing`);
    else if (trigger.config !== t.config)
      drift.push(`function ${name}: timer ${t.name} is ${trigger.config}, not ${t.config}`);
  }
  return drift;
}

/** Required variables that are missing, and set ones the function will refuse (named, never shown). */
function variableDrift(fn: DesiredFunction, env: Record<string, string>): string[] {
  const name = fn.spec.name;
  const drift = fn.spec.env
    .filter((v) => v.required && !env[v.name])
    .map((v) => `function ${name}: variable ${v.name} missing`);
  // What the function will say at instance start.
  for (const problem of loadSettings(name as FunctionName, env).problems) {
    const malformed = problem.variables.filter((variable) => env[variable]);
    if (malformed.length) {
      drift.push(`function ${name}: ${malformed.join(', ')} malformed (${problem.message.split(': ')[0]})`);
    }
  }
  return drift;
}
