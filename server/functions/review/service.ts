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
import { decryptField, encryptField, type PiiKeys } from '../../core/pii';
import type { Logger } from '../../core/router';
import { bestEffort } from '../../lib/cleanup';
import { isClientWritten, removeClientWritten, serverWritten, type CloudDb } from '../../lib/cloud-db';
import type { IdentityStore } from '../../lib/identity';
import type { RateLimiter } from '../../lib/rate-limit';
import { COLLECTION } from '../../manifest';

const REQUESTS = COLLECTION.reviewRequests;
/** Requests `mine` and `queue` answer at most (the queue oldest first). */
export const LIST_LIMIT = 50;

/** A request as stored. */
export interface ReviewDoc {
  _id: string;
  openidHash: string;
  docType: ReviewDocType;
  nameEnc: string;
  numberEnc: string;
  /** Keyed index of the document (type and number): finds a person's requests without the number. */
  numberIndex: string;
  state: ReviewState;
  /**
   * Uniquely indexed: the holder's keyed openid hash while pending (one pending request each), then
   * `decided_<random>`; neither is something a client could predict and plant first.
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
  methods: readonly VerificationMethod[];
  logger: Logger;
}

const aad = (id: string, field: 'name' | 'number' | 'reason') => `${REQUESTS}:${id}:${field}`;

export class ReviewService {
  constructor(private readonly deps: ReviewDeps) {}

  /** `request` holds consent, a document type, and a name and number valid for it (checked by the router). */
  async submit(openid: string, request: ReviewSubmitRequest): Promise<BodyOf<'review', 'submit'>> {
    const { db, keys, limiter, identities, logger } = this.deps;
    requireMethod(this.deps.methods, 'manual');
    await limiter.hit(REVIEW_SUBMIT_PER_CALLER, 'caller', openid, 'RATE_LIMITED');
    const openidHash = identities.openidHash(openid);
    const _id = crypto.randomBytes(16).toString('hex');
    const doc: Omit<ReviewDoc, '_openid'> = {
      _id,
      openidHash,
      docType: request.docType,
      nameEnc: encryptField(keys, request.name, aad(_id, 'name')),
      numberEnc: encryptField(keys, request.docNumber, aad(_id, 'number')),
      numberIndex: identities.idIndex(request.docNumber, request.docType),
      state: 'pending',
      pendingKey: openidHash,
      submittedAt: new Date(),
    };
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

  /** The caller's own requests, newest first, masked (with the reason of a rejection). */
  async mine(openid: string): Promise<BodyOf<'review', 'mine'>> {
    const { db, identities } = this.deps;
    const res = await db
      .collection<ReviewDoc>(REQUESTS)
      .where(serverWritten(db, { openidHash: identities.openidHash(openid) }))
      .orderBy('submittedAt', 'desc')
      .limit(LIST_LIMIT)
      .get();
    return { requests: res.data.map((doc) => this.view(doc)) };
  }

  /** Pending requests, oldest first, masked. (The `reviewer` guard let the caller in.) */
  async queue(): Promise<BodyOf<'review', 'queue'>> {
    const { db } = this.deps;
    const res = await db
      .collection<ReviewDoc>(REQUESTS)
      .where(serverWritten(db, { state: 'pending' }))
      .orderBy('submittedAt', 'asc')
      .limit(LIST_LIMIT)
      .get();
    return { requests: res.data.map((doc) => this.view(doc)) };
  }

  /**
   * Approves or rejects a pending request (the `reviewer` guard let the caller in; a rejection's
   * reason is checked by the router). The state moves in one conditional update, so two reviewers
   * never both decide; an approval whose binding fails goes back to pending.
   */
  async decide(reviewer: string, request: ReviewDecideRequest): Promise<BodyOf<'review', 'decide'>> {
    const { db, keys, identities, logger } = this.deps;
    const doc = (
      await db
        .collection<ReviewDoc>(REQUESTS)
        .where(serverWritten(db, { _id: request.requestId }))
        .limit(1)
        .get()
    ).data[0];
    if (!doc) throw new Refusal('REVIEW_NOT_FOUND');
    const deciderHash = identities.openidHash(reviewer);
    if (doc.openidHash === deciderHash) throw new Refusal('REVIEW_OWN_REQUEST');
    if (doc.state !== 'pending') throw new Refusal('REVIEW_ALREADY_DECIDED');
    const decided: Partial<ReviewDoc> = {
      state: request.approve ? 'approved' : 'rejected',
      pendingKey: `decided_${crypto.randomBytes(16).toString('hex')}`,
      decidedAt: new Date(),
      deciderHash,
      ...(request.reason ? { reasonEnc: encryptField(keys, request.reason, aad(doc._id, 'reason')) } : {}),
    };
    const taken = await db.collection(REQUESTS).where({ _id: doc._id, state: 'pending' }).update({ data: decided });
    if (taken.stats.updated !== 1) throw new Refusal('REVIEW_ALREADY_DECIDED');
    const after = { ...doc, ...decided } as ReviewDoc;
    if (request.approve) {
      try {
        await identities.bindHash(doc.openidHash, 'manual', {
          name: decryptField(keys, doc.nameEnc, aad(doc._id, 'name')),
          docType: doc.docType,
          number: decryptField(keys, doc.numberEnc, aad(doc._id, 'number')),
        });
      } catch (err) {
        await bestEffort(logger, 'returning a request to pending', () => this.reopen(doc), { request: doc._id });
        throw err;
      }
    }
    logger.info('review request decided', { request: doc._id, state: after.state });
    return { request: this.view(after) };
  }

  /** Undoes an approval whose binding failed (only if nothing else changed it meanwhile). */
  private async reopen(doc: ReviewDoc): Promise<void> {
    const _ = this.deps.db.command;
    const res = await this.deps.db
      .collection(REQUESTS)
      .where({ _id: doc._id, state: 'approved' })
      .update({
        data: { state: 'pending', pendingKey: doc.openidHash, decidedAt: _.remove(), deciderHash: _.remove() },
      });
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
