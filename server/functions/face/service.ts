/**
 * Face verification (人脸核身), both generations behind one interface:
 *   v2 (default): getverifyid → wx.requestFacialVerify({ verifyId }) → queryverifyinfo (cert_hash)
 *   v1 (FACE_API_VERSION=v1): getuseridkey → wx.startFacialRecognitionVerify({ userIdKey }) → getinfo
 * The client's answer is never trusted: `confirm` re-checks with WeChat, the session is single use,
 * bound to the caller and expires. Names and IDs are encrypted in the session and removed from it
 * when it ends.
 */
import crypto from 'crypto';
import type {
  BodyOf,
  FaceApiVersion,
  FaceConfirmRequest,
  FaceStartRequest,
  VerificationMethod,
} from '../../../miniprogram/shared/contracts';
import { isCredential } from '../../../miniprogram/shared/requests';
import { describeError, Refusal } from '../../core/errors';
import { requireMethod } from '../../core/methods';
import { certHash, evaluateGetInfo, evaluateQueryVerifyInfo, type FaceCheckResult } from '../../core/face-check';
import { type FaceSession, sessionRefusal } from '../../core/face-flow';
import {
  FACE_CONFIRM_PER_CALLER,
  FACE_PUSH_PER_USER,
  FACE_START_CALLERS_PER_ID,
  FACE_START_ID_CALLER,
  FACE_START_PER_CALLER,
} from '../../core/limits';
import { decryptField, encryptField, fieldAad, hashToken, keyVersion, type PiiKeys } from '../../core/pii';
import type { AuditNote, Logger } from '../../core/router';
import { isWechatApiError } from '../../core/wechat-errors';
import { bestEffort } from '../../lib/cleanup';
import { serverWritten, type CloudDb } from '../../lib/cloud-db';
import type { ConsentStore } from '../../lib/consents';
import type { RateLimiter } from '../../lib/rate-limit';
import { idCardHolder, type IdentityStore } from '../../lib/identity';
import type { WechatClient } from '../../lib/wechat';
import { COLLECTION } from '../../manifest';

const SESSIONS = COLLECTION.faceSessions;
const PATH = '/cityservice/face/identify';

export interface FaceDeps {
  db: CloudDb;
  limiter: RateLimiter;
  wechat: WechatClient;
  identities: IdentityStore;
  consents: ConsentStore;
  keys: PiiKeys;
  mode: FaceApiVersion;
  ttlSeconds: number;
  /** The methods offered (IDENTITY_METHODS): start and confirm need face. Read on each call, so a bad value fails only them. */
  methods: () => readonly VerificationMethod[];
  logger: Logger;
}

export interface FacePushEvent {
  MsgType: 'event';
  Event: 'face_identify';
  openid: string;
  out_seq_no: string;
  verify_result: string;
}

export function isFacePush(event: unknown): event is FacePushEvent {
  const e = event as Partial<FacePushEvent> | null;
  return !!e && e.MsgType === 'event' && e.Event === 'face_identify';
}

export class FaceService {
  constructor(private readonly deps: FaceDeps) {}

  /** `request` is checked (consent given, name and ID valid and normalised) by the router. */
  async start(openid: string, request: FaceStartRequest, note: AuditNote = {}): Promise<BodyOf<'face', 'start'>> {
    const { name, idCardNumber: idCard } = request;
    const { db, identities, consents, keys, mode, ttlSeconds } = this.deps;
    note.subject = identities.idIndex(idCard);
    requireMethod(this.deps.methods(), 'face');
    await this.admit(openid, idCard);
    const openidHash = identities.openidHash(openid);
    const now = new Date();
    // What the person agreed to, before anything of theirs is kept or sent.
    await consents.record(openid, openidHash, 'face');

    // The session is written with state 'starting' and no credential yet. Its verifyKey (uniquely
    // indexed) holds a placeholder of its own until the credential arrives: a start that dies in
    // between blocks nobody.
    const sessionId = crypto.randomBytes(16).toString('hex');
    const session: FaceSession = {
      _id: sessionId,
      openidHash,
      openidEnc: encryptField(keys, openid, fieldAad(SESSIONS, sessionId, 'openid')),
      kv: keyVersion(keys),
      mode,
      verifyKey: `starting_${sessionId}`,
      state: 'starting',
      nameEnc: encryptField(keys, name, fieldAad(SESSIONS, sessionId, 'name')),
      idEnc: encryptField(keys, idCard, fieldAad(SESSIONS, sessionId, 'idCard')),
      createdAt: now,
      expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
    };
    await db.collection(SESSIONS).add({ data: session });
    // A session that will not be used goes at once; if that fails, the sweep clears its PII on expiry.
    const discard = () =>
      bestEffort(
        this.deps.logger,
        'discarding an unused face session',
        () => db.collection(SESSIONS).doc(sessionId).remove(),
        { session: sessionId },
      );

    let credential: string;
    try {
      credential = await this.requestCredential(mode, sessionId, openid, name, idCard);
    } catch (err) {
      await discard();
      throw err;
    }
    await db
      .collection(SESSIONS)
      .doc(sessionId)
      .update({ data: { verifyKey: hashToken(credential), state: 'pending' } });
    this.deps.logger.info('face session started', { mode, session: sessionId });
    return mode === 'v2'
      ? { mode, verifyId: credential, expiresIn: ttlSeconds }
      : { mode, userIdKey: credential, expiresIn: ttlSeconds };
  }

  /**
   * Rate limits, before anything is written: the caller's own first (atomic counters, so concurrent
   * starts cannot slip under it), then the ID number's. The ID counts each caller once per window
   * and only callers their own limit let through, so one account, however persistent, cannot lock
   * a person out; a caller the ID's limit turned away is not remembered as admitted.
   */
  private async admit(openid: string, idCard: string): Promise<void> {
    const { limiter } = this.deps;
    await limiter.hit(FACE_START_PER_CALLER, 'caller', openid, 'FACE_RATE_LIMITED');
    const pair = `${idCard}\0${openid}`;
    if ((await limiter.count(FACE_START_ID_CALLER, 'id', pair)) > 1) return;
    try {
      await limiter.hit(FACE_START_CALLERS_PER_ID, 'id', idCard, 'FACE_RATE_LIMITED');
    } catch (err) {
      await limiter.forget(FACE_START_ID_CALLER, 'id', pair);
      throw err;
    }
  }

  /** WeChat's credential for the client step: verify_id (v2) or user_id_key (v1). */
  private async requestCredential(
    mode: FaceApiVersion,
    sessionId: string,
    openid: string,
    name: string,
    idCard: string,
  ) {
    const answer =
      mode === 'v2'
        ? await this.deps.wechat.call('POST', `${PATH}/getverifyid`, {
            out_seq_no: sessionId,
            cert_info: { cert_type: 'IDENTITY_CARD', cert_name: name, cert_no: idCard },
            openid,
          })
        : await this.deps.wechat.call('POST', `${PATH}/getuseridkey`, {
            name,
            id_card_number: idCard,
            out_seq_no: sessionId,
          });
    const credential = String((mode === 'v2' ? answer.verify_id : answer.user_id_key) ?? '');
    if (!credential) throw new Refusal('WECHAT_ERROR');
    return credential;
  }

  /** `request` carries a well-formed credential of one generation (checked by the router). */
  async confirm(openid: string, request: FaceConfirmRequest, note: AuditNote = {}): Promise<BodyOf<'face', 'confirm'>> {
    requireMethod(this.deps.methods(), 'face');
    // Every confirm asks WeChat (v2 may ask again while the user has not finished: 84003), and v1
    // asks getinfo before it knows the session: counted per caller before anything else.
    await this.deps.limiter.hit(FACE_CONFIRM_PER_CALLER, 'caller', openid, 'FACE_RATE_LIMITED');
    return 'verifyId' in request
      ? this.confirmV2(openid, request.verifyId, note)
      : this.confirmV1(openid, request.verifyResult, note);
  }

  private async confirmV2(openid: string, verifyId: string, note: AuditNote): Promise<BodyOf<'face', 'confirm'>> {
    const session = await this.claim(openid, hashToken(verifyId), 'v2');
    const identity = this.identityOf(session, note);
    const answer = await this.deps.wechat
      .call('POST', `${PATH}/queryverifyinfo`, {
        verify_id: verifyId,
        out_seq_no: session._id,
        cert_hash: certHash(identity.name, identity.idCard),
        openid,
      })
      .catch((err: unknown) => this.abandon(session, err, note));
    const verdict = evaluateQueryVerifyInfo(answer);
    return this.finish(openid, session, identity, verdict);
  }

  private async confirmV1(openid: string, verifyResult: string, note: AuditNote): Promise<BodyOf<'face', 'confirm'>> {
    // getinfo first: its user_id_key tells which session this result belongs to (confirm counted the call).
    const answer = await this.deps.wechat.call('POST', `${PATH}/getinfo`, { verify_result: verifyResult });
    const userIdKey = typeof answer.user_id_key === 'string' ? answer.user_id_key : '';
    if (!userIdKey) throw new Refusal('FACE_RESULT_INVALID');
    const session = await this.claim(openid, hashToken(userIdKey), 'v1');
    const identity = this.identityOf(session, note);
    if (session.push && session.push.verifyResultHash !== hashToken(verifyResult)) {
      // The verified push named another result for this session: refuse rather than guess.
      return this.finish(openid, session, identity, { ok: false, code: 'FACE_RESULT_INVALID' });
    }
    return this.finish(openid, session, identity, evaluateGetInfo(answer, { ...identity, openid }));
  }

  /** Finds the session by its credential, checks it is the caller's, pending and alive, and takes it atomically. */
  private async claim(openid: string, verifyKey: string, mode: FaceApiVersion): Promise<FaceSession> {
    const { db, identities } = this.deps;
    const res = await db.collection(SESSIONS).where(serverWritten(db, { verifyKey, mode })).limit(1).get();
    const session = res.data[0] as FaceSession | undefined;
    const refusal = sessionRefusal(session, identities.openidHashes(openid), new Date());
    if (refusal) throw new Refusal(refusal);
    // Single use even under concurrent replays: only one update can move it out of 'pending'.
    const taken = await db
      .collection(SESSIONS)
      .where({ _id: session!._id, state: 'pending' })
      .update({ data: { state: 'consumed', consumedAt: new Date() } });
    if (taken.stats.updated !== 1) throw new Refusal('FACE_SESSION_USED');
    return session!;
  }

  /** The session's identity; the audit entry of this confirm names its ID by blind index. */
  private identityOf(session: FaceSession, note: AuditNote) {
    const { keys, identities } = this.deps;
    const identity = {
      name: decryptField(keys, session.nameEnc ?? '', fieldAad(SESSIONS, session._id, 'name')),
      idCard: decryptField(keys, session.idEnc ?? '', fieldAad(SESSIONS, session._id, 'idCard')),
    };
    note.subject = identities.idIndex(identity.idCard);
    return identity;
  }

  private async finish(
    openid: string,
    session: FaceSession,
    identity: { name: string; idCard: string },
    verdict: FaceCheckResult,
  ): Promise<BodyOf<'face', 'confirm'>> {
    if (!verdict.ok) {
      await this.close(session, 'failed');
      this.deps.logger.info('face verification refused', { session: session._id, code: verdict.code });
      throw new Refusal(verdict.code);
    }
    let binding;
    try {
      binding = await this.deps.identities.bind(openid, 'face', idCardHolder(identity.name, identity.idCard));
    } catch (err) {
      // Never leave the session holding PII (if even that fails, the sweep clears it on expiry).
      await bestEffort(this.deps.logger, 'closing a face session', () => this.close(session, 'failed'), {
        session: session._id,
      });
      throw err;
    }
    if (!(await this.close(session, 'passed'))) {
      // The holder withdrew while WeChat was answering (identity.withdraw deletes sessions before
      // bindings): the binding just made must not outlive the withdrawal.
      await this.deps.identities.remove(this.deps.identities.openidHashes(openid), ['face']);
      throw new Refusal('WITHDRAWN');
    }
    this.deps.logger.info('face verification passed', { session: session._id, mode: session.mode });
    return { binding };
  }

  /**
   * WeChat could not answer: 84003 (v2: the user has not finished yet) puts the session back to
   * pending so the client may ask again (the attempt is not over: the audit records the confirm
   * that ends it, not each poll); anything else ends it.
   */
  private async abandon(session: FaceSession, err: unknown, note: AuditNote): Promise<never> {
    if (isWechatApiError(err) && err.errcode === 84003) {
      note.unfinished = true;
      await this.deps.db
        .collection(SESSIONS)
        .doc(session._id)
        .update({ data: { state: 'pending' } });
    } else {
      await this.close(session, 'failed');
    }
    throw err;
  }

  /** Ends a session: its state, and its encrypted name and ID removed (nothing kept beyond need). */
  /** Whether the session was still there to close (a withdrawal deletes it). */
  private async close(session: FaceSession, state: 'passed' | 'failed'): Promise<boolean> {
    const _ = this.deps.db.command;
    const res = await this.deps.db
      .collection(SESSIONS)
      .where({ _id: session._id })
      .update({ data: { state, endedAt: new Date(), nameEnc: _.remove(), idEnc: _.remove() } });
    return res.stats.updated === 1;
  }

  async status(openid: string): Promise<BodyOf<'face', 'status'>> {
    return { mode: this.deps.mode, bindings: await this.deps.identities.list(openid) };
  }

  /**
   * The seed's face_identify push (v1 with out_seq_no): a second signal, never the only one. It is
   * re-checked with getinfo (so a forged event cannot plant anything), recorded once per session,
   * and confirm then refuses a different result. Always acknowledged, so WeChat stops retrying.
   */
  async push(event: FacePushEvent): Promise<'success'> {
    const { db, identities, logger } = this.deps;
    if (!/^[0-9a-f]{32}$/.test(String(event.out_seq_no)) || !isCredential(event.verify_result)) {
      logger.info('face push ignored: malformed');
      return 'success';
    }
    const res = await db
      .collection(SESSIONS)
      .where(serverWritten(db, { _id: event.out_seq_no }))
      .limit(1)
      .get();
    const session = res.data[0] as FaceSession | undefined;
    if (
      !session ||
      session.mode !== 'v1' ||
      session.push ||
      !identities.openidHashes(String(event.openid)).includes(session.openidHash)
    ) {
      logger.info('face push ignored', { session: session?._id ?? 'unknown', duplicate: Boolean(session?.push) });
      return 'success';
    }
    let answer: Record<string, unknown>;
    try {
      // Anyone can send a push naming their own session: each costs a getinfo, so it is counted.
      await this.deps.limiter.hit(FACE_PUSH_PER_USER, 'caller', String(event.openid), 'FACE_RATE_LIMITED');
      answer = await this.deps.wechat.call('POST', `${PATH}/getinfo`, { verify_result: event.verify_result });
    } catch (err) {
      logger.info('face push ignored: not checked', { session: session._id, ...describeError(err) });
      return 'success';
    }
    const genuine =
      typeof answer.user_id_key === 'string' &&
      hashToken(answer.user_id_key) === session.verifyKey &&
      answer.openid === event.openid;
    if (!genuine) {
      logger.info('face push ignored: not confirmed by getinfo', { session: session._id });
      return 'success';
    }
    const _ = db.command;
    await db
      .collection(SESSIONS)
      .where({ _id: session._id, push: _.exists(false) })
      .update({ data: { push: { verifyResultHash: hashToken(event.verify_result), receivedAt: new Date() } } });
    logger.info('face push recorded', { session: session._id });
    return 'success';
  }
}

/**
 * The timer trigger: sessions past their expiry (cancelled on the device, abandoned, or cut off
 * mid-confirm) lose their encrypted name and ID. Needs nothing but the database, so it runs even
 * when the function's settings are incomplete.
 */
export async function sweepExpiredSessions(db: CloudDb): Promise<{ expired: number }> {
  const _ = db.command;
  const res = await db
    .collection(SESSIONS)
    .where({ expiresAt: _.lt(new Date()), nameEnc: _.exists(true) })
    .update({ data: { state: 'expired', endedAt: new Date(), nameEnc: _.remove(), idEnc: _.remove() } });
  return { expired: res.stats.updated };
}
