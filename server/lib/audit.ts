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
  /** Blind index of the ID (or document) number the action was about, when there was one. */
  subjectIndex?: string;
  /** A count the action reports (rows imported, entries purged...), never content. */
  count?: number;
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

  async query(query: AuditQuery): Promise<AuditEntryView[]> {
    const _ = this.db.command;
    const where: Record<string, unknown> = {};
    if (typeof query.subjectIndex === 'string') where.subjectIndex = query.subjectIndex;
    else if (query.subjectIndex) where.subjectIndex = _.in([...query.subjectIndex]);
    const range = [
      ...(query.from ? [_.gte(query.from.getTime())] : []),
      ...(query.to ? [_.lt(query.to.getTime())] : []),
    ];
    if (range.length === 1) where.t = range[0];
    if (range.length === 2) where.t = _.and(range[0]!, range[1]!);
    const res = await this.db
      .collection<AuditDoc>(AUDIT)
      .where(serverWritten(this.db, where))
      .orderBy('t', 'desc')
      .limit(AUDIT_QUERY_LIMIT)
      .get();
    return res.data.map((d) => ({
      at: new Date(d.at).toISOString(),
      kind: d.kind,
      action: d.action,
      ...(d.method ? { method: d.method } : {}),
      outcome: d.outcome,
      actor: d.actorHash.slice(0, 12),
      ...(d.subjectIndex ? { subject: d.subjectIndex.slice(0, 12) } : {}),
      ...(d.count !== undefined ? { count: d.count } : {}),
    }));
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
      if (!spec) return;
      const caller = call.context.caller.openid;
      if (call.outcome !== 'ok') {
        // Refusals cost the caller nothing: past a few per window they are counted, not written.
        const refused = await new RateLimiter(db, keys()).count(AUDIT_REFUSALS_PER_CALLER, 'caller', caller);
        if (refused > AUDIT_REFUSALS_PER_CALLER.max) return;
      }
      await log.record({
        kind: spec.kind,
        action: `${fn}.${call.action}`,
        method: call.note.method ?? spec.method,
        outcome: call.outcome as AuditDoc['outcome'],
        actorHash: blindIndex(keys(), 'openid', caller),
        subjectIndex: call.note.subject,
        count: call.note.count,
        kv: keyVersion(keys()),
      });
    },
  };
}
