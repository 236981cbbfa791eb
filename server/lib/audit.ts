/**
 * The audit trail: an append-only, server-only collection. One entry per verification attempt and
 * its outcome, per admin or reviewer action, per withdrawal. An entry names people only by keyed
 * hashes: the actor's openid hash and the subject's ID blind index (the same index the roster and
 * bindings use, so an admin can find a person's entries by typing their ID number). Never a name or
 * a number. Entries older than AUDIT_RETENTION_DAYS are purged by the `admin` timer.
 */
import crypto from 'crypto';
import type {
  ActionName,
  AuditEntryView,
  AuditKind,
  FunctionName,
  VerificationMethod,
} from '../../miniprogram/shared/contracts';
import type { ErrorCode } from '../../miniprogram/shared/errors';
import { AUDIT_REFUSALS_PER_CALLER } from '../core/limits';
import { blindIndex, keyVersion, type PiiKeys } from '../core/pii';
import type { AuditedCall, CallerContext } from '../core/router';
import { COLLECTION } from '../manifest';
import { serverWritten, type CloudDb } from './cloud-db';
import { RateLimiter } from './rate-limit';

const AUDIT = COLLECTION.auditLog;
/** Entries a query answers at most, newest first. */
export const AUDIT_QUERY_LIMIT = 200;

export interface AuditDoc {
  _id: string;
  at: Date;
  /** `at` in epoch milliseconds: what queries, ordering and the purge compare (a plain number sorts the same everywhere). */
  t: number;
  kind: AuditKind;
  /** `<function>.<action>`. */
  action: string;
  method?: VerificationMethod;
  outcome: 'ok' | ErrorCode;
  /** Keyed hash of the caller's openid ('' for timers). */
  actorHash: string;
  /**
   * Blind index of the ID (or document) number the action was about, when there was one; several
   * for a withdrawal of bindings that name different numbers (a query by one matches an array
   * holding it: https://developers.weixin.qq.com/miniprogram/en/dev/wxcloud/guide/database/query-array-object.html).
   */
  subjectIndex?: string | string[];
  /** A count the action reports (rows imported, entries purged...), never content. */
  count?: number;
  /**
   * An operator call (a PC with the server SDK and OPERATOR_KEY, no OPENID): `actorHash` is then the
   * hash of `operator:<id>` (of the claimed id when the call was refused).
   */
  operator?: true;
  /**
   * The keys its hashes were computed under (core/pii.ts `keyVersion`); absent on entries without
   * any (timers) and on entries of before key rotation existed. A key rotation re-keys the others.
   */
  kv?: string;
}

export type AuditInput = Omit<AuditDoc, '_id' | 'at' | 't'>;

export interface AuditQuery {
  from?: Date;
  to?: Date;
  /** The ID's blind indexes (under every index key configured, during a key rotation). */
  subjectIndex?: string | readonly string[];
  kind?: AuditKind;
  /** A cursor (`next` of the page before): only entries older than the one it names. */
  after?: string;
}

export interface AuditPage {
  entries: AuditEntryView[];
  /** The cursor of the next (older) page, when more entries match. */
  next?: string;
}

export class AuditLog {
  constructor(private readonly db: CloudDb) {}

  async record(entry: AuditInput): Promise<void> {
    const at = new Date();
    const doc: AuditDoc = {
      _id: crypto.randomBytes(16).toString('hex'),
      at,
      t: at.getTime(),
      ...stripUndefined(entry),
    };
    await this.db.collection(AUDIT).add({ data: doc });
  }

  /**
   * Entries matching `query`, newest first, AUDIT_QUERY_LIMIT per page. Pages are cut by
   * (t, _id) so entries written in the same millisecond are neither repeated nor skipped.
   */
  async query(query: AuditQuery): Promise<AuditPage> {
    const _ = this.db.command;
    const where: Record<string, unknown> = {};
    if (typeof query.subjectIndex === 'string') where.subjectIndex = query.subjectIndex;
    else if (query.subjectIndex) where.subjectIndex = _.in([...query.subjectIndex]);
    if (query.kind) where.kind = query.kind;
    const range = [
      ...(query.from ? [_.gte(query.from.getTime())] : []),
      ...(query.to ? [_.lt(query.to.getTime())] : []),
    ];
    if (range.length === 1) where.t = range[0];
    if (range.length === 2) where.t = _.and(range[0]!, range[1]!);
    const cursor = query.after ? parseCursor(query.after) : undefined;
    // Across fields (https://developers.weixin.qq.com/miniprogram/dev/wxcloud/reference-sdk-api/database/command/Command.or.html).
    const filter = cursor
      ? _.and([serverWritten(this.db, where), _.or([{ t: _.lt(cursor.t) }, { t: cursor.t, _id: _.lt(cursor.id) }])])
      : serverWritten(this.db, where);
    // One more than a page: whether there is a next page is known without a count.
    const res = await this.db
      .collection<AuditDoc>(AUDIT)
      .where(filter)
      .orderBy('t', 'desc')
      .orderBy('_id', 'desc')
      .limit(AUDIT_QUERY_LIMIT + 1)
      .get();
    const docs = res.data.slice(0, AUDIT_QUERY_LIMIT);
    const last = docs[docs.length - 1];
    return {
      entries: docs.map(viewOf),
      ...(res.data.length > AUDIT_QUERY_LIMIT && last ? { next: `${last.t}.${last._id}` } : {}),
    };
  }

  /** Removes entries older than `before` (the retention timer). */
  async purge(before: Date): Promise<number> {
    const _ = this.db.command;
    const res = await this.db
      .collection(AUDIT)
      .where({ t: _.lt(before.getTime()) })
      .remove();
    return res.stats.removed;
  }
}

/** One subject is stored as a string (as entries always were), several as an array. */
function subjectOf(subject: string | readonly string[] | undefined): string | string[] | undefined {
  if (subject === undefined || typeof subject === 'string') return subject;
  const unique = [...new Set(subject)];
  return unique.length === 0 ? undefined : unique.length === 1 ? unique[0] : unique;
}

function viewOf(d: AuditDoc): AuditEntryView {
  const subjects = d.subjectIndex === undefined ? [] : ([] as string[]).concat(d.subjectIndex);
  return {
    at: new Date(d.at).toISOString(),
    kind: d.kind,
    action: d.action,
    ...(d.method ? { method: d.method } : {}),
    outcome: d.outcome,
    actor: d.actorHash.slice(0, 12),
    ...(subjects.length ? { subject: subjects.map((s) => s.slice(0, 12)).join(',') } : {}),
    ...(d.count !== undefined ? { count: d.count } : {}),
    ...(d.operator ? { operator: true as const } : {}),
  };
}

/** A cursor the request checker accepted (`<t>.<_id>`). */
function parseCursor(after: string): { t: number; id: string } {
  const dot = after.indexOf('.');
  return { t: Number(after.slice(0, dot)), id: after.slice(dot + 1) };
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** How a function's audited actions are recorded: their kind, and the method they verify with. */
export type AuditSpecs<F extends FunctionName> = {
  readonly [A in ActionName<F>]?: { kind: AuditKind; method?: VerificationMethod };
};

/**
 * The router's `audit` option for function `fn`: records each call of the actions in `specs` with
 * the caller's openid hash (keys are read per call: a function without PII keys answers
 * NOT_CONFIGURED anyway, and its failed entries are logged).
 */
export function auditTrail<F extends FunctionName>(
  fn: F,
  db: CloudDb,
  keys: () => PiiKeys,
  specs: AuditSpecs<F>,
  options: { required?: boolean } = {},
) {
  const log = new AuditLog(db);
  return {
    actions: Object.keys(specs) as ActionName<F>[],
    ...(options.required ? { required: true } : {}),
    record: async (call: AuditedCall<F, { caller: CallerContext }>): Promise<void> => {
      const spec = specs[call.action];
      if (!spec || call.note.unfinished) return;
      const caller = call.context.caller.openid;
      const operator = call.context.caller.operator !== undefined;
      if (call.outcome !== 'ok') {
        // Refusals cost the caller nothing: past a few per window they are counted, not written. Operator
        // calls share one count (an unsigned one could claim any id).
        const refused = await new RateLimiter(db, keys()).count(
          AUDIT_REFUSALS_PER_CALLER,
          'caller',
          operator ? 'operator:*' : caller,
        );
        if (refused > AUDIT_REFUSALS_PER_CALLER.max) return;
      }
      await log.record({
        kind: spec.kind,
        action: `${fn}.${call.action}`,
        method: call.note.method ?? spec.method,
        outcome: call.outcome as AuditDoc['outcome'],
        actorHash: caller ? blindIndex(keys(), 'openid', caller) : '',
        subjectIndex: subjectOf(call.note.subject),
        count: call.note.count,
        kv: keyVersion(keys()),
        ...(operator ? { operator: true as const } : {}),
      });
    },
  };
}
