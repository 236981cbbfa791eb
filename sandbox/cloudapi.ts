/**
 * The Tencent Cloud API actions a deploy makes through `@cloudbase/manager-node` (TC3-signed JSON
 * over HTTPS; here `POST /tcloud/<service>` on the sandbox), emulated over the sandbox's own
 * environment: `tcb` (environment info, collections and indexes, collection and storage
 * permissions, MongoDB commands on a collection's documents) and `scf` (functions: code, runtime,
 * timeout, memory, variables, timers).
 *
 * Requests are authenticated like the real API: the TC3-HMAC-SHA256 signature is recomputed with the
 * sandbox's own API key pair (secrets.json) and the timestamp must be within 5 minutes. Answers are
 * the API's envelope: `{ Response: { …, RequestId } }` or `{ Response: { Error: { Code, Message }, RequestId } }`.
 */
import crypto from 'crypto';
import { EJSON } from 'bson';
import type { Database } from './db';
import { ACLS, type Acl, type DeployedFunction, type Environment, type Trigger } from './environment';
import { unzip } from './zip';

export class CloudApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CloudApiContext {
  envId: string;
  /** The storage bucket of the environment. */
  bucket: string;
  region: string;
  env: Environment;
  db: Database;
  credentials: { secretId: string; secretKey: string };
  now: () => number;
}

type Params = Record<string, unknown>;
type Action = (params: Params, ctx: CloudApiContext) => Params;

const fail = (code: string, message: string): never => {
  throw new CloudApiError(code, message);
};

function text(params: Params, name: string): string {
  const value = params[name];
  if (typeof value !== 'string' || value === '')
    fail('MissingParameter', `The request is missing a required parameter \`${name}\`.`);
  return value as string;
}

function integer(params: Params, name: string, min: number, max: number): number | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail('InvalidParameterValue', `\`${name}\` must be an integer from ${min} to ${max}.`);
  }
  return value as number;
}

function checkEnv(params: Params, ctx: CloudApiContext): void {
  if (text(params, 'EnvId') !== ctx.envId)
    fail('ResourceNotFound.Env', `Environment ${String(params.EnvId)} not found.`);
}

function checkNamespace(params: Params, ctx: CloudApiContext): void {
  const namespace = params.Namespace ?? 'default';
  if (namespace !== ctx.envId) fail('ResourceNotFound.Namespace', `Namespace ${String(namespace)} not found.`);
}

// ------------------------------------------------------------ tcb: environment, collections, permissions

const DATABASE_INSTANCE = 'sandbox-flexdb';

function tableName(params: Params, ctx: CloudApiContext): string {
  checkEnv(params, ctx);
  const name = text(params, 'TableName');
  if (!/^[A-Za-z_][\w-]{0,63}$/.test(name)) fail('InvalidParameterValue', `Invalid TableName ${name}.`);
  return name;
}

function indexesOf(name: string, ctx: CloudApiContext) {
  return ctx.db.indexes(name).map((index) => ({
    Name: index.name,
    Size: 0,
    Unique: index.unique,
    Keys: Object.entries(index.keys).map(([field, direction]) => ({ Name: field, Direction: String(direction) })),
    Accesses: { Ops: 0, Since: new Date(0).toISOString() },
  }));
}

interface CreateIndexInput {
  IndexName?: unknown;
  MgoKeySchema?: { MgoIsUnique?: unknown; MgoIndexKeys?: { Name?: unknown; Direction?: unknown }[] };
}

function parseIndex(input: CreateIndexInput) {
  const name = typeof input.IndexName === 'string' ? input.IndexName : '';
  const keys = input.MgoKeySchema?.MgoIndexKeys;
  if (!/^[\w-]{1,64}$/.test(name) || !Array.isArray(keys) || keys.length === 0) {
    fail('InvalidParameterValue', 'CreateIndexes needs IndexName and MgoKeySchema.MgoIndexKeys.');
  }
  const spec: Record<string, 1 | -1> = {};
  for (const key of keys!) {
    const direction = String(key.Direction);
    if (typeof key.Name !== 'string' || !key.Name || (direction !== '1' && direction !== '-1')) {
      fail('InvalidParameterValue', 'Each MgoIndexKeys item needs Name and Direction "1" or "-1".');
    }
    spec[key.Name as string] = direction === '1' ? 1 : -1;
  }
  return { name, keys: spec, unique: input.MgoKeySchema?.MgoIsUnique === true };
}

function parseAcl(value: unknown, rule: unknown, collection: boolean): { acl: Acl; rule?: string } {
  if (typeof value !== 'string' || !ACLS.includes(value as Acl)) {
    fail('InvalidParameterValue', `Permission must be one of ${ACLS.join(', ')}.`);
  }
  if (value !== 'CUSTOM') return { acl: value as Acl };
  if (typeof rule !== 'string')
    fail('MissingParameter', `${collection ? 'SecurityRule' : 'Rule'} is required with CUSTOM.`);
  try {
    JSON.parse(rule as string);
  } catch {
    fail('InvalidParameterValue', 'The custom rule must be a JSON string.');
  }
  return { acl: 'CUSTOM', rule: rule as string };
}

interface MgoCommand {
  TableName?: unknown;
  CommandType?: unknown;
  Command?: unknown;
}

type Filter = Record<string, unknown>;
const filterOf = (value: unknown): Filter => (value && typeof value === 'object' ? (value as Filter) : {});

/** The command document of `input`, which must name its table first (`{ "count": "<table>", … }`). */
function commandOf(input: MgoCommand, ctx: CloudApiContext): { name: string; verb: string; command: Params } {
  const name = typeof input.TableName === 'string' ? input.TableName : '';
  if (!ctx.db.hasCollection(name)) fail('ResourceNotFound.TableNotExist', `Table ${name} does not exist.`);
  let command: Params;
  try {
    command = EJSON.parse(String(input.Command ?? '')) as Params;
  } catch {
    return fail('InvalidParameterValue', 'Command must be a JSON (EJSON) command document.');
  }
  const verb = Object.keys(command)[0] ?? '';
  if (command[verb] !== name) fail('InvalidParameterValue', `The command must name table ${name} first.`);
  return { name, verb, command };
}

function deleteCommand(name: string, command: Params, ctx: CloudApiContext): Params {
  let n = 0;
  for (const d of command.deletes as { q?: unknown; limit?: unknown }[]) {
    if (d.limit !== 0 && d.limit !== 1) fail('InvalidParameterValue', 'Each delete needs limit 0 (all) or 1.');
    n += ctx.db.remove(name, filterOf(d.q), d.limit === 0);
  }
  return { n, ok: 1 };
}

/**
 * One command of `RunCommands`, with the management API's own rights (no collection permission
 * applies): `count` (CommandType QUERY) and `delete` (DELETE), MongoDB's command documents, answered
 * with MongoDB's result document `{ n, ok: 1 }`. The other commands the cloud runs are not emulated.
 */
function runCommand(input: MgoCommand, ctx: CloudApiContext): Params {
  const { name, verb, command } = commandOf(input, ctx);
  try {
    if (input.CommandType === 'QUERY' && verb === 'count') {
      return { n: ctx.db.count(name, filterOf(command.query)), ok: 1 };
    }
    if (input.CommandType === 'DELETE' && verb === 'delete' && Array.isArray(command.deletes)) {
      return deleteCommand(name, command, ctx);
    }
  } catch (err) {
    if (err instanceof CloudApiError) throw err;
    fail('InvalidParameterValue', (err as Error).message);
  }
  return fail(
    'UnsupportedOperation',
    `The sandbox runs count (QUERY) and delete (DELETE) commands only, not ${String(input.CommandType)} ${verb}.`,
  );
}

const TCB: Record<string, Action> = {
  DescribeEnvInfo: (params, ctx) => {
    checkEnv(params, ctx);
    return {
      EnvInfo: {
        EnvBaseInfo: {
          EnvId: ctx.envId,
          Alias: 'sandbox',
          Status: 'NORMAL',
          Source: 'miniapp',
          Databases: [{ InstanceId: DATABASE_INSTANCE, Status: 'RUNNING', Region: ctx.region }],
          Storages: [{ Region: ctx.region, Bucket: ctx.bucket, CdnDomain: '', AppId: '' }],
          Functions: [{ Namespace: ctx.envId, Region: ctx.region }],
          LogServices: [],
        },
      },
    };
  },
  DescribeTable: (params, ctx) => {
    const name = tableName(params, ctx);
    if (!ctx.db.hasCollection(name)) fail('ResourceNotFound.TableNotExist', `Table ${name} does not exist.`);
    const indexes = indexesOf(name, ctx);
    return { Indexes: indexes, IndexNum: indexes.length };
  },
  CreateTable: (params, ctx) => {
    const name = tableName(params, ctx);
    if (ctx.db.hasCollection(name)) fail('ResourceInUse.TableExist', `Table ${name} already exists.`);
    ctx.db.createCollection(name);
    return {};
  },
  UpdateTable: (params, ctx) => {
    const name = tableName(params, ctx);
    if (!ctx.db.hasCollection(name)) fail('ResourceNotFound.TableNotExist', `Table ${name} does not exist.`);
    const drops = Array.isArray(params.DropIndexes) ? (params.DropIndexes as { IndexName?: unknown }[]) : [];
    const creates = Array.isArray(params.CreateIndexes) ? (params.CreateIndexes as CreateIndexInput[]) : [];
    const parsed = creates.map(parseIndex);
    for (const drop of drops) ctx.db.dropIndex(name, String(drop.IndexName));
    for (const index of parsed) {
      try {
        ctx.db.createIndex(name, index);
      } catch (err) {
        fail('FailedOperation.CreateIndex', (err as Error).message);
      }
    }
    return {};
  },
  RunCommands: (params, ctx) => {
    checkEnv(params, ctx);
    const commands = params.MgoCommands;
    if (!Array.isArray(commands) || commands.length === 0) fail('MissingParameter', 'MgoCommands is required.');
    // Each answer is a JSON string, as the cloud gives it.
    return { Data: (commands as MgoCommand[]).map((command) => JSON.stringify(runCommand(command, ctx))) };
  },
  ModifyResourcePermission: (params, ctx) => {
    checkEnv(params, ctx);
    const type = text(params, 'ResourceType');
    if (type !== 'collection')
      fail('UnsupportedOperation', `The sandbox models collection permissions only, not ${type}.`);
    const name = text(params, 'Resource');
    if (!ctx.db.hasCollection(name)) fail('ResourceNotFound.TableNotExist', `Table ${name} does not exist.`);
    ctx.env.setCollectionPermission(name, parseAcl(params.Permission, params.SecurityRule, true));
    return { Data: { Success: true } };
  },
  DescribeResourcePermission: (params, ctx) => {
    checkEnv(params, ctx);
    if (params.ResourceType !== 'collection')
      fail('UnsupportedOperation', 'The sandbox models collection permissions only.');
    const names = Array.isArray(params.Resources) ? (params.Resources as string[]) : ctx.db.collectionNames();
    const list = names
      .filter((name) => ctx.db.hasCollection(name))
      .map((name) => {
        const permission = ctx.env.collectionPermission(name);
        return {
          ResourceType: 'collection',
          Resource: name,
          Permission: permission.acl,
          ...(permission.rule ? { SecurityRule: permission.rule } : {}),
        };
      });
    return { Data: { TotalCount: list.length, PermissionList: list } };
  },
  DescribeStorageSafeRule: (params, ctx) => {
    checkEnv(params, ctx);
    if (params.Bucket !== ctx.bucket) fail('ResourceNotFound.Bucket', `Bucket ${String(params.Bucket)} not found.`);
    const permission = ctx.env.storagePermission();
    return { AclTag: permission.acl, ...(permission.rule ? { Rule: permission.rule } : {}) };
  },
  ModifyStorageSafeRule: (params, ctx) => {
    checkEnv(params, ctx);
    if (params.Bucket !== ctx.bucket) fail('ResourceNotFound.Bucket', `Bucket ${String(params.Bucket)} not found.`);
    ctx.env.setStoragePermission(parseAcl(params.AclTag, params.Rule, false));
    return {};
  },
};

// ------------------------------------------------------------ scf: functions

/** Node.js runtimes the sandbox accepts (it runs every one on its own Node: see docs/sandbox.md). */
const RUNTIME = /^Nodejs(\d+)\.(\d+)$/;

function functionName(params: Params, ctx: CloudApiContext): string {
  checkNamespace(params, ctx);
  const name = text(params, 'FunctionName');
  if (!/^[A-Za-z][\w-]{0,59}$/.test(name)) fail('InvalidParameterValue.FunctionName', `Invalid FunctionName ${name}.`);
  return name;
}

function existing(params: Params, ctx: CloudApiContext): DeployedFunction {
  const name = functionName(params, ctx);
  return ctx.env.function(name) ?? fail('ResourceNotFound.Function', `Function ${name} does not exist.`);
}

function variables(params: Params): Record<string, string> | undefined {
  const environment = params.Environment as { Variables?: { Key?: unknown; Value?: unknown }[] } | undefined;
  if (environment === undefined) return undefined;
  const list = environment?.Variables;
  if (!Array.isArray(list)) fail('InvalidParameterValue.Environment', 'Environment.Variables must be a list.');
  const env: Record<string, string> = {};
  for (const item of list!) {
    if (typeof item.Key !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(item.Key) || typeof item.Value !== 'string') {
      fail('InvalidParameterValue.Environment', 'Each variable needs a Key (letters, digits, _) and a string Value.');
    }
    env[item.Key as string] = item.Value as string;
  }
  return env;
}

/** Unpacks `ZipFile` (base64): the function's code, which must hold the handler's file. */
function code(zipBase64: unknown, handler: string, installDependency: unknown, ctx: CloudApiContext, name: string) {
  if (typeof zipBase64 !== 'string' || zipBase64 === '') fail('MissingParameter', 'Code.ZipFile is required.');
  let files: Map<string, Buffer>;
  try {
    files = unzip(Buffer.from(zipBase64 as string, 'base64'));
  } catch (err) {
    return fail('InvalidParameterValue.ZipFile', (err as Error).message);
  }
  const file = `${handler.split('.')[0]}.js`;
  if (!files.has(file)) fail('InvalidParameterValue.Handler', `The code has no ${file} for handler ${handler}.`);
  const pkg = files.get('package.json');
  const dependencies = pkg ? (JSON.parse(pkg.toString('utf8')) as { dependencies?: object }).dependencies : undefined;
  if (installDependency === 'TRUE' && dependencies && Object.keys(dependencies).length > 0) {
    // The cloud would install them from the registry; the sandbox runs only what it was given.
    fail('UnsupportedOperation.InstallDependency', 'The sandbox installs no dependencies: bundle them into the code.');
  }
  return ctx.env.storeCode(name, files);
}

function triggersOf(fn: DeployedFunction) {
  return fn.triggers.map((t) => ({
    Type: t.type,
    TriggerName: t.name,
    TriggerDesc: JSON.stringify({ cron: t.config }),
    Enable: 1,
    AvailableStatus: 'Available',
    ModTime: fn.modifiedAt,
  }));
}

const SCF: Record<string, Action> = {
  GetFunction: (params, ctx) => {
    const fn = existing(params, ctx);
    return {
      FunctionName: fn.name,
      Namespace: ctx.envId,
      Runtime: fn.runtime,
      Handler: fn.handler,
      Timeout: fn.timeout,
      MemorySize: fn.memory,
      Description: fn.description,
      Environment: { Variables: Object.entries(fn.env).map(([Key, Value]) => ({ Key, Value })) },
      Status: 'Active',
      StatusDesc: '',
      CodeSize: fn.codeSize,
      CodeInfo: fn.codeSha256,
      Triggers: triggersOf(fn),
      ModTime: fn.modifiedAt,
    };
  },
  CreateFunction: (params, ctx) => {
    const name = functionName(params, ctx);
    if (ctx.env.function(name)) fail('ResourceInUse.Function', `Function ${name} already exists.`);
    const runtime = text(params, 'Runtime');
    if (!RUNTIME.test(runtime)) fail('InvalidParameterValue.Runtime', `Unsupported runtime ${runtime}.`);
    const handler = typeof params.Handler === 'string' && params.Handler ? params.Handler : 'index.main';
    const stored = code(
      (params.Code as { ZipFile?: unknown } | undefined)?.ZipFile,
      handler,
      params.InstallDependency,
      ctx,
      name,
    );
    ctx.env.putFunction({
      name,
      runtime,
      handler,
      timeout: integer(params, 'Timeout', 1, 900) ?? 3,
      memory: integer(params, 'MemorySize', 64, 3072) ?? 128,
      description: typeof params.Description === 'string' ? params.Description : '',
      env: variables(params) ?? {},
      triggers: [],
      ...stored,
    });
    return {};
  },
  UpdateFunctionCode: (params, ctx) => {
    const fn = existing(params, ctx);
    const handler = typeof params.Handler === 'string' && params.Handler ? params.Handler : fn.handler;
    const stored = code(params.ZipFile, handler, params.InstallDependency, ctx, fn.name);
    ctx.env.putFunction({ ...fn, handler, ...stored });
    return {};
  },
  UpdateFunctionConfiguration: (params, ctx) => {
    const fn = existing(params, ctx);
    ctx.env.putFunction({
      ...fn,
      timeout: integer(params, 'Timeout', 1, 900) ?? fn.timeout,
      memory: integer(params, 'MemorySize', 64, 3072) ?? fn.memory,
      description: typeof params.Description === 'string' ? params.Description : fn.description,
      env: variables(params) ?? fn.env,
    });
    return {};
  },
  BatchCreateTrigger: (params, ctx) => {
    const fn = existing(params, ctx);
    let triggers: { TriggerName?: unknown; Type?: unknown; TriggerDesc?: unknown }[];
    try {
      triggers = JSON.parse(text(params, 'Triggers')) as typeof triggers;
    } catch {
      return fail('InvalidParameterValue.Triggers', 'Triggers must be a JSON list.');
    }
    const added: Trigger[] = [];
    for (const t of triggers) {
      if (t.Type !== 'timer' || typeof t.TriggerName !== 'string' || typeof t.TriggerDesc !== 'string') {
        fail('InvalidParameterValue.Triggers', 'Only timer triggers with TriggerName and TriggerDesc (cron).');
      }
      if ((t.TriggerDesc as string).trim().split(/\s+/).length !== 7) {
        fail('InvalidParameterValue.TriggerDesc', 'A timer needs a 7-field cron expression.');
      }
      if (fn.triggers.some((old) => old.name === t.TriggerName)) {
        fail('ResourceInUse.Trigger', `Trigger ${String(t.TriggerName)} already exists.`);
      }
      added.push({ name: t.TriggerName as string, type: 'timer', config: t.TriggerDesc as string });
    }
    ctx.env.putFunction({ ...fn, triggers: [...fn.triggers, ...added] });
    return {};
  },
  DeleteTrigger: (params, ctx) => {
    const fn = existing(params, ctx);
    const trigger = text(params, 'TriggerName');
    if (!fn.triggers.some((t) => t.name === trigger))
      fail('ResourceNotFound.Trigger', `Trigger ${trigger} does not exist.`);
    ctx.env.putFunction({ ...fn, triggers: fn.triggers.filter((t) => t.name !== trigger) });
    return {};
  },
};

const SERVICES: Record<string, Record<string, Action>> = { tcb: TCB, scf: SCF };

// ------------------------------------------------------------ authentication

const sha256 = (data: string) => crypto.createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) => crypto.createHmac('sha256', key).update(data, 'utf8').digest();

/** Recomputes the TC3-HMAC-SHA256 signature of a request (https://cloud.tencent.com/document/api/213/30654). */
export function tc3Signature(input: {
  secretKey: string;
  service: string;
  host: string;
  path: string;
  timestamp: number;
  body: string;
}): string {
  const canonical = [
    'POST',
    input.path,
    '',
    `content-type:application/json\nhost:${input.host}\n`,
    'content-type;host',
    sha256(input.body),
  ].join('\n');
  const date = new Date(input.timestamp * 1000).toISOString().slice(0, 10);
  const scope = `${date}/${input.service}/tc3_request`;
  const toSign = ['TC3-HMAC-SHA256', String(input.timestamp), scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(`TC3${input.secretKey}`, date), input.service), 'tc3_request');
  return crypto.createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

export interface CloudApiRequest {
  service: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function authenticate(req: CloudApiRequest, ctx: CloudApiContext): void {
  const auth = String(req.headers.authorization ?? '');
  const match =
    /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([a-z]+)\/tc3_request, SignedHeaders=content-type;host, Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!match) fail('AuthFailure.SignatureFailure', 'The request is not signed with TC3-HMAC-SHA256.');
  const [, secretId, , service, signature] = match!;
  if (secretId !== ctx.credentials.secretId) fail('AuthFailure.SecretIdNotFound', 'The SecretId is not found.');
  const timestamp = Number(req.headers['x-tc-timestamp']);
  if (!Number.isInteger(timestamp) || Math.abs(ctx.now() / 1000 - timestamp) > 300) {
    fail('AuthFailure.SignatureExpire', 'The request timestamp is more than 5 minutes from the server time.');
  }
  const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
  const expected = tc3Signature({
    secretKey: ctx.credentials.secretKey,
    service: service!,
    host,
    path: req.path,
    timestamp,
    body: req.body,
  });
  const given = Buffer.from(signature!, 'hex');
  if (service !== req.service || !crypto.timingSafeEqual(given, Buffer.from(expected, 'hex'))) {
    fail('AuthFailure.SignatureFailure', 'The provided credentials could not be validated.');
  }
}

/** One API request → the API's answer envelope (always HTTP 200, as the real API answers). */
export function handleCloudApi(req: CloudApiRequest, ctx: CloudApiContext): { Response: Params } {
  const RequestId = crypto.randomUUID();
  try {
    authenticate(req, ctx);
    const actionName = String(req.headers['x-tc-action'] ?? '');
    const action = SERVICES[req.service]?.[actionName];
    if (!action) fail('InvalidAction', `The action ${req.service}.${actionName} is not emulated by the sandbox.`);
    let params: Params;
    try {
      params = JSON.parse(req.body || '{}') as Params;
    } catch {
      return fail('InvalidParameter', 'The body is not JSON.');
    }
    return { Response: { ...action!(params, ctx), RequestId } };
  } catch (err) {
    if (err instanceof CloudApiError)
      return { Response: { Error: { Code: err.code, Message: err.message }, RequestId } };
    return { Response: { Error: { Code: 'InternalError', Message: (err as Error).message }, RequestId } };
  }
}
