/**
 * The person's side of their identity: what they hold (masked bindings and consent records) and
 * withdrawal (PIPL art. 15/47): the bindings of a method, its pending face sessions and review
 * requests and its consent records are deleted; the withdrawal itself is in the audit trail (the
 * router records it), which names the person only by keyed hashes.
 */
import {
  VERIFICATION_METHODS,
  type BodyOf,
  type IdentityWithdrawRequest,
  type VerificationMethod,
} from '../../../miniprogram/shared/contracts';
import type { AuditNote } from '../../core/router';
import type { CloudDb } from '../../lib/cloud-db';
import type { ConsentStore } from '../../lib/consents';
import type { IdentityStore } from '../../lib/identity';
import type { RateLimiter } from '../../lib/rate-limit';
import { IDENTITY_WITHDRAW_PER_CALLER } from '../../core/limits';
import { COLLECTION } from '../../manifest';

export interface IdentityDeps {
  db: CloudDb;
  identities: IdentityStore;
  consents: ConsentStore;
  limiter: RateLimiter;
}

/** The one-time credentials each method reserves in used_tokens (their kind), under the holder's hash. */
const TOKEN_KINDS: Partial<Record<VerificationMethod, string>> = { wxpay: 'realname', wxcheck: 'wxcheck' };

export class IdentityService {
  constructor(private readonly deps: IdentityDeps) {}

  async mine(openid: string): Promise<BodyOf<'identity', 'mine'>> {
    const { identities, consents } = this.deps;
    const [bindings, records] = await Promise.all([
      identities.list(openid),
      consents.list(identities.openidHashes(openid)),
    ]);
    return { bindings, consents: records };
  }

  /**
   * Deletes what the caller holds for `request.method` (every method when absent). Whatever a
   * client planted under the caller's hash goes too: it is theirs to lose. Idempotent.
   */
  async withdraw(
    openid: string,
    request: IdentityWithdrawRequest,
    note: AuditNote,
  ): Promise<BodyOf<'identity', 'withdraw'>> {
    const { db, identities, consents, limiter } = this.deps;
    await limiter.hit(IDENTITY_WITHDRAW_PER_CALLER, 'caller', openid, 'RATE_LIMITED');
    const _ = db.command;
    // Every hash of the caller: during a key rotation some of their documents may be under an old index key.
    const hashes = identities.openidHashes(openid);
    const openidHash = _.in(hashes);
    const methods: VerificationMethod[] = request.method ? [request.method] : [...VERIFICATION_METHODS];
    if (request.method) note.method = request.method;
    // Every number the withdrawn bindings named: a query by any of them finds the withdrawal.
    const subjects = await identities.indexesOf(hashes, methods);
    if (subjects.length) note.subject = subjects;

    // Sessions and requests before bindings: a confirm or an approval in flight binds, then finds
    // its session or request gone and removes that binding itself; one that found it still there
    // bound before this removal of bindings. Either way no binding outlives the withdrawal.
    const sessions = methods.includes('face')
      ? (await db.collection(COLLECTION.faceSessions).where({ openidHash }).remove()).stats.removed
      : 0;
    const reviewRequests = methods.includes('manual')
      ? (await db.collection(COLLECTION.reviewRequests).where({ openidHash }).remove()).stats.removed
      : 0;
    const bindings = await identities.remove(hashes, methods);
    const consentRecords = await consents.remove(hashes, methods);
    // Spent credentials name the holder by the same hash until they expire: they go too.
    const kinds = methods.map((m) => TOKEN_KINDS[m]).filter((k): k is string => k !== undefined);
    if (kinds.length) {
      await db
        .collection(COLLECTION.usedTokens)
        .where({ openidHash, kind: _.in(kinds) })
        .remove();
    }
    const removed = { bindings, sessions, reviewRequests, consents: consentRecords };
    note.count = bindings + sessions + reviewRequests + consentRecords;
    return { methods, removed };
  }
}
