/**
 * Staff verification (人工核验) for people no WeChat method serves: Hong Kong, Macao and Taiwan
 * residents, foreigners, anyone without a mainland ID card. The person submits the name and number
 * of a document; a reviewer (REVIEWER_OPENIDS, else the roster admins) checks the document itself,
 * at a counter or from what the organisation's own process collects, and approves or rejects.
 * Approval binds the person with method `manual` and the document type; a rejection's reason is
 * shown to the person. Names, numbers and reasons are stored encrypted, bound to the request; only
 * masked values leave the function. One pending request per person at a time (a unique key the
 * request gives up when it is decided); a reviewer never decides their own request.
 */
import crypto from 'crypto';
import type {
  BodyOf,
  ReviewDecideRequest,
  ReviewRequestView,
  ReviewState,
  ReviewSubmitRequest,
  VerificationMethod,
} from '../../../miniprogram/shared/contracts';
import type { ReviewDocType } from '../../../miniprogram/shared/documents';
import { maskDocNumber, maskName } from '../../../miniprogram/shared/mask';
import { InternalError, Refusal } from '../../core/errors';
import { REVIEW_SUBMIT_PER_CALLER } from '../../core/limits';
import { requireMethod } from '../../core/methods';
import { decryptField, encryptField, fieldAad, keyVersion, type PiiKeys } from '../../core/pii';
import type { AuditNote, Logger } from '../../core/router';
import { bestEffort } from '../../lib/cleanup';
import { isClientWritten, removeClientWritten, serverWritten, type CloudDb } from '../../lib/cloud-db';
import type { IdentityStore } from '../../lib/identity';
import type { ConsentStore } from '../../lib/consents';
import type { RateLimiter } from '../../lib/rate-limit';
import { COLLECTION } from '../../manifest';

const REQUESTS = COLLECTION.reviewRequests;
/** Requests `mine` and `queue` answer at most (the queue oldest first). */
export const LIST_LIMIT = 50;

/** A request as stored. */
export interface ReviewDoc {
  _id: string;
  openidHash: string;
  /** The holder's openid, encrypted: lets a key rotation (and an approval during one) recompute `openidHash`. */
  openidEnc?: string;
  /** The keys this document was written under (core/pii.ts `keyVersion`). */
  kv?: string;
  docType: ReviewDocType;
  nameEnc: string;
  numberEnc: string;
  /** Keyed index of the document (type and number): finds a person's requests without the number. */
  numberIndex: string;
  state: ReviewState;
  /**
   * Uniquely indexed: the holder's keyed openid hash while pending or approving (one open request
   * each), then `decided_<random>`; neither is something a client could predict and plant first.
   */
  pendingKey: string;
  submittedAt: Date;
  decidedAt?: Date;
  /** Keyed hash of the reviewer's openid. */
  deciderHash?: string;
  reasonEnc?: string;
  _openid?: string;
}

export interface ReviewDeps {
  db: CloudDb;
  keys: PiiKeys;
  limiter: RateLimiter;
  identities: IdentityStore;
  consents: ConsentStore;
  /** Read on each call, so a bad IDENTITY_METHODS fails only the actions that need a method. */
  methods: () => readonly VerificationMethod[];
  logger: Logger;
}

/** A decided request's pendingKey: unique, and nothing a client could predict and plant first. */
const decidedKey = () => `decided_${crypto.randomBytes(16).toString('hex')}`;

const aad = (id: string, field: 'name' | 'number' | 'reason' | 'openid') => fieldAad(REQUESTS, id, field);

export class ReviewService {
  constructor(private readonly deps: ReviewDeps) {}

  /** `request` holds consent, a document type, and a name and number valid for it (checked by the router). */
  async submit(
    openid: string,
    request: ReviewSubmitRequest,
    note: AuditNote = {},
  ): Promise<BodyOf<'review', 'submit'>> {
    const { db, keys, limiter, identities, consents, logger } = this.deps;
    const numberIndex = identities.idIndex(request.docNumber, request.docType);
    note.subject = numberIndex;
    requireMethod(this.deps.methods(), 'manual');
    await limiter.hit(REVIEW_SUBMIT_PER_CALLER, 'caller', openid, 'RATE_LIMITED');
    const openidHash = identities.openidHash(openid);
    await consents.record(openid, openidHash, 'manual');
    const _id = crypto.randomBytes(16).toString('hex');
    const doc: Omit<ReviewDoc, '_openid'> = {
      _id,
      openidHash,
      openidEnc: encryptField(keys, openid, aad(_id, 'openid')),
      kv: keyVersion(keys),
      docType: request.docType,
      nameEnc: encryptField(keys, request.name, aad(_id, 'name')),
      numberEnc: encryptField(keys, request.docNumber, aad(_id, 'number')),
      numberIndex,
      state: 'pending',
      pendingKey: openidHash,
      submittedAt: new Date(),
    };
    await this.refuseIfPendingUnderOldKey(openid, openidHash);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        await db.collection(REQUESTS).add({ data: doc });
        logger.info('review request submitted', { request: _id, docType: request.docType });
        return { requestId: _id };
      } catch (err) {
        // The unique pendingKey: the caller has a pending request, or a client planted one in their name.
        const held = (await db.collection<ReviewDoc>(REQUESTS).where({ pendingKey: openidHash }).limit(1).get())
          .data[0];
        if (!held) throw err;
        if (!isClientWritten(held)) throw new Refusal('REVIEW_PENDING_EXISTS');
        await removeClientWritten(db, REQUESTS, held._id);
      }
    }
    throw new Refusal('REVIEW_PENDING_EXISTS');
  }

  /**
   * The unique pendingKey holds one pending request per holder under the current index key; during
   * a key rotation one may still be pending under an old key's hash (and the rotation would then
   * meet two). Checked here.
   */
  private async refuseIfPendingUnderOldKey(openid: string, openidHash: string): Promise<void> {
    const { db, identities } = this.deps;
    const older = identities.openidHashes(openid).filter((h) => h !== openidHash);
    if (older.length === 0) return;
    const held = await db
      .collection(REQUESTS)
      .where(serverWritten(db, { pendingKey: db.command.in(older) }))
      .limit(1)
      .get();
    if (held.data.length > 0) throw new Refusal('REVIEW_PENDING_EXISTS');
  }

  /** The caller's own requests, newest first, masked (with the reason of a rejection). */
  async mine(openid: string): Promise<BodyOf<'review', 'mine'>> {
    const { db, identities } = this.deps;
    const res = await db
      .collection<ReviewDoc>(REQUESTS)
      .where(serverWritten(db, { openidHash: db.command.in(identities.openidHashes(openid)) }))
      .orderBy('submittedAt', 'desc')
      .limit(LIST_LIMIT)
      .get();
    return { requests: res.data.map((doc) => this.view(doc)) };
  }

  /**
   * Requests waiting for a reviewer, oldest first, masked: pending ones and approvals interrupted
   * after their claim. (The `reviewer` guard let the caller in.)
   */
  async queue(reviewer: string): Promise<BodyOf<'review', 'queue'>> {
    const { db, identities } = this.deps;
    const _ = db.command;
    const res = await db
      .collection<ReviewDoc>(REQUESTS)
      .where(serverWritten(db, { state: _.in(['pending', 'approving']) }))
      .orderBy('submittedAt', 'asc')
      .limit(LIST_LIMIT)
      .get();
    const own = identities.openidHashes(reviewer);
    return {
      requests: res.data.map((doc) => ({ ...this.view(doc), ...(own.includes(doc.openidHash) ? { own: true } : {}) })),
    };
  }

  /**
   * Approves or rejects a request (the `reviewer` guard let the caller in; the router checked that
   * an approval carries the number typed from the original and a rejection its reason).
   *
   * An approval claims the request (pending → approving, in one conditional update, so two reviewers
   * never decide it two ways; the holder's pendingKey stays, so they cannot submit another
   * meanwhile), writes the binding (idempotent), then marks it approved. If the binding fails the
   * request goes back to pending; if even that fails it stays `approving`, shown in the queue, and
   * approving it again finishes the job. Nothing ever reads "approved" without a binding.
   */
  async decide(
    reviewer: string,
    request: ReviewDecideRequest,
    note: AuditNote = {},
  ): Promise<BodyOf<'review', 'decide'>> {
    const { db, keys, identities, logger } = this.deps;
    const doc = (
      await db
        .collection<ReviewDoc>(REQUESTS)
        .where(serverWritten(db, { _id: request.requestId }))
        .limit(1)
        .get()
    ).data[0];
    if (!doc) throw new Refusal('REVIEW_NOT_FOUND');
    const number = decryptField(keys, doc.numberEnc, aad(doc._id, 'number'));
    // Recomputed: a request not yet re-keyed by a key rotation holds an old index key's.
    note.subject = identities.idIndex(number, doc.docType);
    const deciderHash = identities.openidHash(reviewer);
    if (identities.openidHashes(reviewer).includes(doc.openidHash)) throw new Refusal('REVIEW_OWN_REQUEST');
    const open = doc.state === 'pending' || (request.approve && doc.state === 'approving');
    if (!open) throw new Refusal('REVIEW_ALREADY_DECIDED');

    if (!request.approve) {
      const rejected = {
        state: 'rejected' as const,
        pendingKey: decidedKey(),
        decidedAt: new Date(),
        deciderHash,
        ...(request.reason ? { reasonEnc: encryptField(keys, request.reason, aad(doc._id, 'reason')) } : {}),
      };
      const taken = await db.collection(REQUESTS).where({ _id: doc._id, state: 'pending' }).update({ data: rejected });
      if (taken.stats.updated !== 1) throw new Refusal('REVIEW_ALREADY_DECIDED');
      logger.info('review request decided', { request: doc._id, state: 'rejected' });
      return { request: this.view({ ...doc, ...rejected }) };
    }

    // The whole number, as the reviewer read it off the original, against the one submitted.
    if (identities.idIndex(request.docNumber ?? '', doc.docType) !== identities.idIndex(number, doc.docType)) {
      throw new Refusal('REVIEW_NUMBER_MISMATCH');
    }
    if (doc.state === 'pending') {
      const claimed = await db
        .collection(REQUESTS)
        .where({ _id: doc._id, state: 'pending' })
        .update({ data: { state: 'approving', deciderHash } });
      if (claimed.stats.updated !== 1) throw new Refusal('REVIEW_ALREADY_DECIDED');
    }
    try {
      await identities.bindHash(
        doc.openidHash,
        'manual',
        { name: decryptField(keys, doc.nameEnc, aad(doc._id, 'name')), docType: doc.docType, number },
        this.holderOf(doc),
      );
    } catch (err) {
      await bestEffort(logger, 'returning a request to pending', () => this.reopen(doc._id), { request: doc._id });
      throw err;
    }
    const approved = { state: 'approved' as const, pendingKey: decidedKey(), decidedAt: new Date(), deciderHash };
    await this.markApproved(doc, approved);
    logger.info('review request decided', { request: doc._id, state: 'approved' });
    return { request: this.view({ ...doc, ...approved }) };
  }

  /**
   * The last step of an approval. Another reviewer finishing the same interrupted approval at the
   * same moment is no failure; a request gone meanwhile was withdrawn by its holder
   * (identity.withdraw deletes requests before bindings): the binding just made must not outlive it.
   */
  private async markApproved(doc: ReviewDoc, approved: Partial<ReviewDoc>): Promise<void> {
    const { db, identities } = this.deps;
    const marked = await db.collection(REQUESTS).where({ _id: doc._id, state: 'approving' }).update({ data: approved });
    if (marked.stats.updated === 1) return;
    const still = await db.collection(REQUESTS).where({ _id: doc._id }).field({ _id: true }).limit(1).get();
    if (still.data.length > 0) return;
    const holder = this.holderOf(doc);
    await identities.remove([doc.openidHash, ...(holder ? identities.openidHashes(holder) : [])], ['manual']);
    throw new Refusal('WITHDRAWN');
  }

  /** The request's holder, when it was stored (requests of before key rotation existed lack it). */
  private holderOf(doc: ReviewDoc): string | undefined {
    return doc.openidEnc === undefined
      ? undefined
      : decryptField(this.deps.keys, doc.openidEnc, aad(doc._id, 'openid'));
  }

  /** Undoes the claim of an approval whose binding failed (only while it is still that claim). */
  private async reopen(_id: string): Promise<void> {
    const _ = this.deps.db.command;
    const res = await this.deps.db
      .collection(REQUESTS)
      .where({ _id, state: 'approving' })
      .update({ data: { state: 'pending', deciderHash: _.remove() } });
    if (res.stats.updated !== 1) throw new InternalError('the request changed while its approval failed');
  }

  /** What a client sees of a request: masked name and number, the state, the reason of a rejection. */
  private view(doc: ReviewDoc): ReviewRequestView {
    const { keys } = this.deps;
    return {
      requestId: doc._id,
      docType: doc.docType,
      maskedName: maskName(decryptField(keys, doc.nameEnc, aad(doc._id, 'name'))),
      maskedNumber: maskDocNumber(decryptField(keys, doc.numberEnc, aad(doc._id, 'number'))),
      state: doc.state,
      ...(doc.reasonEnc ? { reason: decryptField(keys, doc.reasonEnc, aad(doc._id, 'reason')) } : {}),
      submittedAt: new Date(doc.submittedAt).toISOString(),
      ...(doc.decidedAt ? { decidedAt: new Date(doc.decidedAt).toISOString() } : {}),
    };
  }
}
