/**
 * Counts attempts per caller or per ID number in fixed windows (`rate_limits`, one document per key
 * and window, keyed by a keyed hash: nothing in it identifies anyone) and refuses past the limit.
 * A key's older windows are removed when its next window opens, and the timer sweeps remove expired
 * ones: the collection stays bounded. A document a client planted counts for nothing.
 */
import type { ErrorCode } from '../../miniprogram/shared/errors';
import { Refusal } from '../core/errors';
import { windowStart, type RateLimit } from '../core/limits';
import { blindIndex, keyVersion, type PiiKeys } from '../core/pii';
import { COLLECTION } from '../manifest';
import { isClientWritten, removeClientWritten, serverWritten, type CloudDb } from './cloud-db';

const RATE_LIMITS = COLLECTION.rateLimits;

interface Counter {
  _id: string;
  scope: string;
  keyHash: string;
  windowStart: number;
  count: number;
  expiresAt: Date;
  /** The keys `keyHash` was computed under (core/pii.ts `keyVersion`). */
  kv?: string;
  _openid?: string;
}

export class RateLimiter {
  constructor(
    private readonly db: CloudDb,
    private readonly keys: PiiKeys,
  ) {}

  /**
   * Counts one attempt of `limit` by `subject` (an openid, or an ID number: `kind` keeps them apart)
   * and throws `Refusal(code)` once the window's count passes the limit. Call it before the work.
   */
  async hit(
    limit: RateLimit,
    kind: 'caller' | 'id',
    subject: string,
    code: ErrorCode,
    now = Date.now(),
  ): Promise<void> {
    if ((await this.count(limit, kind, subject, now)) > limit.max) throw new Refusal(code);
  }

  /** Counts one attempt of `limit` by `subject` and answers the window's count so far (never refuses). */
  async count(limit: RateLimit, kind: 'caller' | 'id', subject: string, now = Date.now()): Promise<number> {
    const { _id, keyHash, start } = this.keyOf(limit, kind, subject, now);
    return this.increment(_id, { scope: limit.scope, keyHash, windowStart: start, limit });
  }

  /** Forgets `subject`'s count in the current window of `limit` (its next attempt counts as the first). */
  async forget(limit: RateLimit, kind: 'caller' | 'id', subject: string, now = Date.now()): Promise<void> {
    const { _id } = this.keyOf(limit, kind, subject, now);
    await this.db.collection(RATE_LIMITS).where(serverWritten(this.db, { _id })).remove();
  }

  private keyOf(limit: RateLimit, kind: 'caller' | 'id', subject: string, now: number) {
    const keyHash = blindIndex(this.keys, 'rateLimit', `${limit.scope}\0${kind}\0${subject}`);
    const start = windowStart(limit, now);
    return { _id: `${keyHash}_${start}`, keyHash, start };
  }

  private async increment(
    _id: string,
    fields: { scope: string; keyHash: string; windowStart: number; limit: RateLimit },
  ): Promise<number> {
    const { db } = this;
    const _ = db.command;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const bumped = await db
        .collection(RATE_LIMITS)
        .where(serverWritten(db, { _id }))
        .update({ data: { count: _.inc(1) } });
      if (bumped.stats.updated === 1) {
        const res = await db.collection<Counter>(RATE_LIMITS).where({ _id }).limit(1).get();
        return res.data[0]?.count ?? 1;
      }
      const counter: Omit<Counter, '_openid'> = {
        _id,
        scope: fields.scope,
        keyHash: fields.keyHash,
        windowStart: fields.windowStart,
        count: 1,
        expiresAt: new Date(fields.windowStart + fields.limit.windowSeconds * 1000),
        kv: keyVersion(this.keys),
      };
      try {
        await db.collection(RATE_LIMITS).add({ data: counter });
      } catch (err) {
        // Someone else opened the window first (count again), or a client planted the document.
        const held = (await db.collection<Counter>(RATE_LIMITS).where({ _id }).limit(1).get()).data[0];
        if (!held) throw err;
        if (isClientWritten(held)) await removeClientWritten(db, RATE_LIMITS, _id);
        continue;
      }
      // A new window for this key: its older ones are done with.
      await db
        .collection(RATE_LIMITS)
        .where({ keyHash: fields.keyHash, windowStart: _.lt(fields.windowStart) })
        .remove();
      return 1;
    }
    throw new Error('rate limit counter could not be written');
  }
}

/**
 * The timer sweeps: expired counters and one-time-token reservations go (both carry `expiresAt`).
 * Answers how many of each were removed.
 */
export async function sweepExpiredRecords(
  db: CloudDb,
  now = new Date(),
): Promise<{ counters: number; tokens: number }> {
  const _ = db.command;
  const counters = await db
    .collection(RATE_LIMITS)
    .where({ expiresAt: _.lt(now) })
    .remove();
  const tokens = await db
    .collection(COLLECTION.usedTokens)
    .where({ expiresAt: _.lt(now) })
    .remove();
  return { counters: counters.stats.removed, tokens: tokens.stats.removed };
}
