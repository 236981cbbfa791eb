/**
 * The TCB wire protocol that wx-server-sdk 4.x (@cloudbase/node-sdk 3.x) speaks: every call is
 * `POST /admin?env=E&seqId=...` with JSON `{ action, envName, ... }`; query, data, order and
 * projection travel as canonical EJSON strings. Errors answer `{ code, message }` with the code
 * names the SDK maps to errCodes.
 */
import { Database, DbError } from './db';
import { withUserInfo } from './events';
import type { FunctionRunner } from './functions';
import type { Storage } from './storage';

export interface QuotaOptions {
  /** Added to every database request. */
  latencyMs?: number;
  /** Database operations in flight at once; more answer EXCEED_CONCURRENT_REQUEST_LIMIT (-501004). */
  maxConcurrent?: number;
  /** Database requests per second; more answer EXCEED_REQUEST_LIMIT (-501003). */
  qps?: number;
}

/** The basic plan, as documented: ~30 QPS and ~20 concurrent operations (see docs/sandbox.md). */
export const BASIC_PLAN: Required<QuotaOptions> = { latencyMs: 15, maxConcurrent: 20, qps: 30 };

export interface DbStats {
  reads: number;
  writes: number;
  rejected: number;
}

/** POST /sandbox/db/faults: the next `times` database requests of `action` (on `collection`) fail. */
export interface DbFault {
  action: string;
  collection?: string;
  /** The error to answer; absent with `latencyMs` alone: the request is only delayed. */
  code?: string;
  message: string;
  times: number;
  /** Delay before the request (and its error, if any). */
  latencyMs?: number;
  /** For inserts: store the first `partial` documents, then answer the error (a half-done batch). */
  partial?: number;
}

type Body = Record<string, unknown>;
type Answer = Record<string, unknown>;

const WRITE_ACTIONS = new Set([
  'database.insertDocument',
  'database.modifyDocument',
  'database.removeDocument',
  'database.updateDocInTransaction',
  'database.deleteDocInTransaction',
]);

export class TcbService {
  quota: QuotaOptions = {};
  readonly stats: DbStats = { reads: 0, writes: 0, rejected: 0 };
  private inFlight = 0;
  private window: number[] = [];
  private faults: DbFault[] = [];
  /** File deletions that fail next: each a request whose every file answers `code`. */
  private deleteFaults: string[] = [];

  constructor(
    readonly db: Database,
    private readonly storage: Storage,
    private readonly functions: FunctionRunner,
    private readonly caller: () => { appid: string },
  ) {}

  resetStats(): void {
    this.stats.reads = 0;
    this.stats.writes = 0;
    this.stats.rejected = 0;
  }

  async handle(body: Body, baseUrl: string): Promise<Answer> {
    const action = String(body.action ?? '');
    const requestId = `sandbox-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    try {
      let data: unknown;
      if (action.startsWith('database.')) data = await this.database(action, body);
      else if (action.startsWith('storage.')) data = this.storageAction(action, body, baseUrl);
      else if (action === 'functions.invokeFunction') data = await this.invoke(body);
      else return { requestId, code: 'INVALID_ACTION', message: `action ${action} is not emulated by the sandbox` };
      if (data && typeof data === 'object' && 'topLevel' in data)
        return { requestId, ...(data as { topLevel: Answer }).topLevel };
      return { requestId, data };
    } catch (err) {
      if (err instanceof DbError) return { requestId, code: err.code, message: err.message };
      return { requestId, code: 'SYS_ERR', message: (err as Error).message };
    }
  }

  // ------------------------------------------------------------ faults

  /**
   * Arms a database fault: the next `times` (default 1) requests of `action` (e.g.
   * `database.insertDocument`), optionally only on `collection`, answer `{ code, message }` as the
   * service does for an error (default SYS_ERR), before touching any data. Answers 400 for bad input.
   */
  injectFault(input: unknown): { status: number; body: unknown } {
    const fault = parseDbFault(input);
    if (typeof fault === 'string') return { status: 400, body: { error: fault } };
    this.faults.push(fault);
    return { status: 200, body: { fault } };
  }

  /**
   * Arms a storage fault: the next `times` (default 1) delete requests fail for every file they name,
   * per file as the service reports it (`code`, default STORAGE_REQUEST_FAIL; the SDK resolves with a
   * status per file instead of rejecting). Answers 400 for bad input.
   */
  injectStorageFault(input: unknown): { status: number; body: unknown } {
    const f = (typeof input === 'object' && input !== null ? input : {}) as FaultInput;
    const code = f.code ?? 'STORAGE_REQUEST_FAIL';
    if (typeof code !== 'string' || !/^STORAGE_[A-Z_]+$/.test(code)) {
      return { status: 400, body: { error: 'code must be a storage error code name, e.g. "STORAGE_REQUEST_FAIL"' } };
    }
    if (!isCount(f.times ?? 1)) return { status: 400, body: { error: 'times must be an integer from 1 to 10000' } };
    for (let i = 0; i < ((f.times ?? 1) as number); i += 1) this.deleteFaults.push(code);
    return { status: 200, body: { fault: { action: 'storage.batchDeleteFile', code, times: f.times ?? 1 } } };
  }

  private takeFault(action: string, collection: unknown): DbFault | undefined {
    const at = this.faults.findIndex(
      (f) => f.action === action && (f.collection === undefined || f.collection === collection),
    );
    const fault = this.faults[at];
    if (!fault) return undefined;
    fault.times -= 1;
    if (fault.times === 0) this.faults.splice(at, 1);
    return fault;
  }

  // ------------------------------------------------------------ quota model

  private async admit<T>(run: () => T): Promise<T> {
    const { qps, maxConcurrent, latencyMs } = this.quota;
    const now = Date.now();
    if (qps) {
      this.window = this.window.filter((t) => now - t < 1000);
      if (this.window.length >= qps) {
        this.stats.rejected += 1;
        throw new DbError('EXCEED_REQUEST_LIMIT', 'exceed request limit [LimitExceeded.RequestLimitExceeded]');
      }
      this.window.push(now);
    }
    if (maxConcurrent && this.inFlight >= maxConcurrent) {
      this.stats.rejected += 1;
      throw new DbError('EXCEED_CONCURRENT_REQUEST_LIMIT', 'exceed concurrent request limit [LimitExceeded]');
    }
    this.inFlight += 1;
    try {
      if (latencyMs) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      return run();
    } finally {
      this.inFlight -= 1;
    }
  }

  // ------------------------------------------------------------ database

  private async database(action: string, body: Body): Promise<unknown> {
    const fault = this.takeFault(action, body.collectionName);
    if (fault?.latencyMs) await new Promise((resolve) => setTimeout(resolve, fault.latencyMs));
    if (fault?.code) {
      if (fault.partial && action === 'database.insertDocument' && Array.isArray(body.data)) {
        const docs = (body.data as string[]).slice(0, fault.partial).map((d) => this.db.parse(d));
        this.db.insert(String(body.collectionName ?? ''), docs);
      }
      throw new DbError(fault.code, fault.message);
    }
    if (action === 'database.startTransaction') return { topLevel: { transactionId: this.db.startTransaction() } };
    if (action === 'database.commitTransaction') {
      this.db.commitTransaction(String(body.transactionId));
      return {};
    }
    if (action === 'database.abortTransaction') {
      this.db.abortTransaction(String(body.transactionId));
      return {};
    }
    if (action === 'database.addCollection') {
      this.db.createCollection(String(body.collectionName));
      return {};
    }
    return this.admit(() => {
      if (WRITE_ACTIONS.has(action)) this.stats.writes += 1;
      else this.stats.reads += 1;
      return this.documentAction(action, body);
    });
  }

  private documentAction(action: string, body: Body): unknown {
    const c = String(body.collectionName ?? '');
    const tx = typeof body.transactionId === 'string' ? body.transactionId : undefined;
    const query = this.db.parse(body.query as string | undefined);
    switch (action) {
      case 'database.insertDocument': {
        const docs = (body.data as string[]).map((d) => this.db.parse(d));
        return { insertedIds: this.db.insert(c, docs, tx) };
      }
      case 'database.getDocument': {
        const list = this.db.query(
          c,
          query,
          {
            order: body.order ? (this.db.parse(body.order as string) as Record<string, 1 | -1>) : undefined,
            offset: Number(body.offset ?? 0),
            limit: body.limit === undefined ? undefined : Number(body.limit),
            projection: body.projection ? this.db.parse(body.projection as string) : undefined,
          },
          tx,
        );
        return { list: list.map((d) => Database.serialize(d)) };
      }
      case 'database.calculateDocument':
        return { total: this.db.count(c, query) };
      case 'database.modifyDocument': {
        const result = this.db.modify(
          c,
          query,
          this.db.parse(body.data as string),
          { multi: Boolean(body.multi), merge: body.merge !== false, upsert: Boolean(body.upsert) },
          tx,
        );
        return { updated: result.updated, upsert_id: result.upsertId ?? null };
      }
      case 'database.removeDocument':
        return { deleted: this.db.remove(c, query, body.multi !== false && body.queryType !== 'DOC', tx) };
      default:
        throw new DbError('INVALID_ACTION', `database action ${action} is not emulated by the sandbox`);
    }
  }

  // ------------------------------------------------------------ storage

  private storageAction(action: string, body: Body, baseUrl: string): unknown {
    switch (action) {
      case 'storage.getUploadMetadata': {
        const cloudPath = this.storage.safePath(String(body.path ?? ''));
        if (!cloudPath) throw new DbError('INVALID_PARAM', 'invalid cloudPath');
        const token = this.storage.uploadToken(cloudPath);
        return {
          url: `${baseUrl}/storage/upload/${cloudPath}`,
          token,
          authorization: token,
          fileId: this.storage.fileId(cloudPath),
          cosFileId: token,
        };
      }
      case 'storage.batchGetDownloadUrl': {
        const list = (body.file_list as Array<{ fileid: string; max_age?: number }>) ?? [];
        return {
          download_list: list.map(({ fileid, max_age }) => {
            const cloudPath = this.storage.pathOf(fileid);
            if (!cloudPath || !this.storage.exists(cloudPath)) {
              return { fileID: fileid, tempFileURL: '', code: 'STORAGE_FILE_NONEXIST', message: 'file does not exist' };
            }
            return { fileID: fileid, tempFileURL: this.storage.tempUrl(cloudPath, max_age ?? 7200), code: 'SUCCESS' };
          }),
        };
      }
      case 'storage.batchDeleteFile': {
        const list = (body.fileid_list as string[]) ?? [];
        const fault = this.deleteFaults.shift();
        if (fault) return { delete_list: list.map((fileID) => ({ fileID, code: fault, message: 'injected fault' })) };
        return {
          delete_list: list.map((fileID) => {
            const cloudPath = this.storage.pathOf(fileID);
            const deleted = cloudPath ? this.storage.delete(cloudPath) : false;
            return deleted
              ? { fileID, code: 'SUCCESS' }
              : { fileID, code: 'STORAGE_FILE_NONEXIST', message: 'file does not exist' };
          }),
        };
      }
      default:
        throw new DbError('INVALID_ACTION', `storage action ${action} is not emulated by the sandbox`);
    }
  }

  // ------------------------------------------------------------ functions

  private async invoke(body: Body): Promise<unknown> {
    const name = String(body.function_name ?? '');
    // Called with the server SDK: no end-user identity travels with it. The platform still adds
    // `userInfo` with the appId alone, as WeChat's HTTP API example answer shows
    // (https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/cloudbase/batch/invokecloudfunction.html).
    const { appid } = this.caller();
    const event = withUserInfo(JSON.parse(String(body.request_data ?? '{}')) as unknown, { appId: appid });
    const result = await this.functions.invoke(name, event, { openid: '', appid });
    if (!result.ok) {
      const code = result.error.startsWith('FunctionName') ? 'FUNCTIONS_REQUEST_FAIL' : 'FUNCTIONS_EXECUTE_FAIL';
      throw new DbError(code, result.error);
    }
    return { response_data: JSON.stringify(result.result) };
  }
}

type FaultInput = Record<string, unknown>;

/** Each rule: when it is broken, the input is refused with its message. */
const FAULT_RULES: Array<[(f: FaultInput, code: unknown) => boolean, string]> = [
  [
    (f) => typeof f.action !== 'string' || !/^database\.[A-Za-z]+$/.test(f.action),
    'action must be a database action, e.g. "database.insertDocument"',
  ],
  [(f) => f.collection !== undefined && typeof f.collection !== 'string', 'collection must be a string'],
  [
    (_f, code) => code !== undefined && !(typeof code === 'string' && /^[A-Z][A-Z_]*$/.test(code)),
    'code must be an error code name',
  ],
  [
    (f) => f.latencyMs !== undefined && !isCount(f.latencyMs, 0, 60_000),
    'latencyMs must be an integer from 0 to 60000',
  ],
  [
    (f, code) => f.partial !== undefined && (!isCount(f.partial) || code === undefined),
    'partial must be an integer from 1 to 10000, with a code',
  ],
  [(f) => !isCount(f.times ?? 1), 'times must be an integer from 1 to 10000'],
];

/** A fault from POST /sandbox/db/faults, or what is wrong with the input. */
function parseDbFault(input: unknown): DbFault | string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return 'a JSON object is expected';
  const f = input as FaultInput;
  // No code and no latency: a plain failure. Latency alone: only a delay.
  const code = f.code ?? (f.latencyMs === undefined ? 'SYS_ERR' : undefined);
  const broken = FAULT_RULES.find(([isBroken]) => isBroken(f, code));
  if (broken) return broken[1];
  return {
    action: f.action as string,
    collection: f.collection as string | undefined,
    code: code as string | undefined,
    message: typeof f.message === 'string' ? f.message : `injected database fault ${String(code)}`,
    times: (f.times ?? 1) as number,
    ...(f.latencyMs !== undefined ? { latencyMs: f.latencyMs as number } : {}),
    ...(f.partial !== undefined ? { partial: f.partial as number } : {}),
  };
}

function isCount(value: unknown, min = 1, max = 10000): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}
