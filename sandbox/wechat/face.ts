/**
 * Face verification, both generations.
 *
 * What the official docs say (checked with `search`):
 * - cert_hash — https://developers.weixin.qq.com/miniprogram/dev/platform-capabilities/cityservice/face2/api_getfaceidentifyimage
 *   (queryVerifyInfo, https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_queryverifyinfo, points to the
 *   same rule): standard base64 of cert_type, cert_name, cert_no; join as `cert_type=..&cert_name=..&cert_no=..`;
 *   SHA-256, lower-case hex. Worked example: {IDENTITY_CARD, 张三, 310101199801011234} →
 *   3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b (a unit test checks it). The values are
 *   UTF-8 (张三 → 5byg5LiJ). "微信后台校验 cert_info、openid,不一致则返回对应的errcode而不是verify_ret": a cert_hash,
 *   openid or out_seq_no that does not match the session is an errcode, never a verify_ret.
 * - getVerifyId — https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_getverifyid: out_seq_no
 *   5-32 chars of [0-9A-Za-z_-], unique per appid; verify_id ≤ 256 chars, expires_in 3600.
 * - verify_ret: 10000 success, 10001+ failures (10004 face mismatch), 9xxxx client-side. The v2 enum lists
 *   90002-90006 for cancellations; the sandbox answers 90100 (the v1 cancel code) as the starter's contract asks.
 * - v1 (seed 000): getinfo errors 84001 invalid id, 84002 expired, 84003 does not exist; the face_identify push
 *   is retried "在5s尽力推送". A real getuseridkey answered `84006 name or id_card_number empty` to a body
 *   without them (https://developers.weixin.qq.com/community/personal/oCJUsw6MZz0u-Hmj2F4_WL4XdpW0/answer).
 *
 * Emulator choices (not documented by WeChat): 47001 for a missing/mistyped field, 40003 for an openid that is not
 * 6-64 chars of [A-Za-z0-9_-], 40097 for an invalid value (cert_type, cert_no or id_card_number checksum,
 * out_seq_no format or reuse) and for an openid/out_seq_no/cert_hash that does not match the session; for
 * queryverifyinfo 84001 unknown verify_id, 84003 "not finished yet" (retry later), 84002 verify_id expired
 * before completion or result older than 1 h; a verify_id can be completed once. Results are NOT single use on
 * either generation (WeChat documents none): replays answer the same, the app must enforce single use itself.
 */
import { createHash } from 'node:crypto';
import { checkIdCard } from '../../miniprogram/shared/idcard';
import { normalizeIdCard, normalizeName } from '../../miniprogram/shared/normalize';
import type { Clock, FaceIdentifyEvent, HttpResult } from './types';
import {
  badInput,
  isObject,
  ok,
  optionalString,
  type JsonObject,
  type Parsed,
  randomToken,
  readBody,
  requireStrings,
  unixSeconds,
  wxError,
} from './util';

const SESSION_TTL_MS = 3600_000;
const V1_RESULT_TTL_MS = 300_000;
const V2_RESULT_TTL_MS = 3600_000;
const OUT_SEQ_NO = /^[A-Za-z0-9_-]{5,32}$/;
const OPENID = /^[A-Za-z0-9_-]{6,64}$/;
const VERIFY_RESULT = /^[A-Za-z0-9_-]{64,256}$/;
/** Push retries after the first attempt, ≈ 4.5 s in all; also stops once the emulated clock passed 5 s. */
const PUSH_RETRY_MS = [100, 200, 400, 800, 1000, 1000, 1000];
const PUSH_WINDOW_MS = 5000;

export type Outcome = 'pass' | 'fail' | 'cancel';
/** v1 identify_ret, v2 verify_ret for a failure/cancel, and the client errCode, per outcome. */
const V1_RET: Record<Outcome, number> = { pass: 0, fail: 10004, cancel: 90100 };
const V2_RET: Record<Outcome, number> = { pass: 10000, fail: 10004, cancel: 90100 };
const CLIENT_ERR: Record<Outcome, number> = { pass: 0, fail: 10004, cancel: 90100 };

interface Identity {
  name: string;
  idCardNumber: string;
}
interface VerifySession {
  openid: string;
  outSeqNo: string;
  identity: Identity;
  hash: string;
  expiresAt: number;
  result?: { outcome: Outcome; identityMatches: boolean; completedAt: number };
}
interface UserIdKey {
  identity: Identity;
  outSeqNo?: string;
  expiresAt: number;
}
interface VerifyResult {
  openid: string;
  userIdKey: string;
  outcome: Outcome;
  identity: Identity;
  finishTime: number;
  validateData: string;
  expiresAt: number;
}

/** cert_hash as documented (see the header). */
export function certHash(certType: string, certName: string, certNo: string): string {
  const b64 = (value: string): string => Buffer.from(value, 'utf8').toString('base64');
  return createHash('sha256')
    .update(`cert_type=${b64(certType)}&cert_name=${b64(certName)}&cert_no=${b64(certNo)}`)
    .digest('hex');
}

const md5 = (value: string): string => createHash('md5').update(value, 'utf8').digest('hex');

function sameIdentity(a: Identity, b: Identity): boolean {
  return (
    normalizeName(a.name) === normalizeName(b.name) &&
    normalizeIdCard(a.idCardNumber) === normalizeIdCard(b.idCardNumber)
  );
}

export class FaceEmulator {
  private readonly sessions = new Map<string, VerifySession>();
  private readonly usedSeqNos = new Set<string>();
  private readonly keys = new Map<string, UserIdKey>();
  private readonly results = new Map<string, VerifyResult>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly originalId: string;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    appid: string,
    private readonly push?: (event: FaceIdentifyEvent) => Promise<boolean>,
  ) {
    this.originalId = `gh_${createHash('sha256').update(appid).digest('hex').slice(0, 12)}`;
  }

  /** POST /cityservice/face/identify/getverifyid */
  getVerifyId(body: unknown): HttpResult {
    const parsed = readBody(body);
    if (!parsed.ok) return parsed.result;
    const fields = requireStrings(parsed.value, ['out_seq_no', 'openid']);
    if (!fields.ok) return fields.result;
    const info = parsed.value.cert_info;
    if (!isObject(info)) return wxError(47001, 'data format error: cert_info must be an object');
    const cert = requireStrings(info, ['cert_type', 'cert_name', 'cert_no']);
    if (!cert.ok) return cert.result;
    const { out_seq_no: outSeqNo, openid } = fields.value;
    const { cert_type: certType, cert_name: certName, cert_no: certNo } = cert.value;
    const now = this.clock.now();
    if (!OPENID.test(openid)) return wxError(40003, 'invalid openid');
    if (!OUT_SEQ_NO.test(outSeqNo)) return wxError(40097, 'invalid args: out_seq_no must be 5-32 of [0-9A-Za-z_-]');
    if (this.usedSeqNos.has(outSeqNo)) return wxError(40097, 'invalid args: out_seq_no already used');
    if (certType !== 'IDENTITY_CARD') return wxError(40097, 'invalid args: cert_type must be IDENTITY_CARD');
    if (!checkIdCard(certNo, new Date(now)).ok) return wxError(40097, 'invalid args: cert_no is not a valid ID number');
    const verifyId = randomToken(48);
    this.usedSeqNos.add(outSeqNo);
    this.sessions.set(verifyId, {
      openid,
      outSeqNo,
      identity: { name: certName, idCardNumber: certNo },
      hash: certHash(certType, certName, certNo),
      expiresAt: now + SESSION_TTL_MS,
    });
    return ok({ verify_id: verifyId, expires_in: SESSION_TTL_MS / 1000 });
  }

  /** POST /cityservice/face/identify/queryverifyinfo */
  queryVerifyInfo(body: unknown): HttpResult {
    const parsed = readBody(body);
    if (!parsed.ok) return parsed.result;
    const fields = requireStrings(parsed.value, ['verify_id', 'out_seq_no', 'cert_hash', 'openid']);
    if (!fields.ok) return fields.result;
    const { verify_id: verifyId, out_seq_no: outSeqNo, cert_hash: hash, openid } = fields.value;
    const session = this.sessions.get(verifyId);
    if (!session) return wxError(84001, 'invalid verify_id');
    if (session.openid !== openid) return wxError(40097, 'invalid args: openid does not match verify_id');
    if (session.outSeqNo !== outSeqNo) return wxError(40097, 'invalid args: out_seq_no does not match verify_id');
    if (session.hash !== hash) return wxError(40097, 'invalid args: cert_hash does not match cert_info');
    const now = this.clock.now();
    const result = session.result;
    if (!result) {
      return now >= session.expiresAt
        ? wxError(84002, 'verify_id expired')
        : wxError(84003, 'verify not finished: the user has not completed face verification');
    }
    if (now >= result.completedAt + V2_RESULT_TTL_MS) return wxError(84002, 'verify result expired');
    const pass = result.outcome === 'pass' && result.identityMatches;
    return ok({ verify_ret: pass ? V2_RET.pass : V2_RET[result.outcome === 'pass' ? 'fail' : result.outcome] });
  }

  /** POST /cityservice/face/identify/getuseridkey */
  getUserIdKey(body: unknown): HttpResult {
    const parsed = readBody(body);
    if (!parsed.ok) return parsed.result;
    const { name, id_card_number: idCardNumber, out_seq_no: outSeqNo } = parsed.value;
    if (
      typeof name !== 'string' ||
      name.trim() === '' ||
      typeof idCardNumber !== 'string' ||
      idCardNumber.trim() === ''
    ) {
      return wxError(84006, 'name or id_card_number empty');
    }
    const now = this.clock.now();
    if (!checkIdCard(idCardNumber, new Date(now)).ok) {
      return wxError(40097, 'invalid args: id_card_number is not a valid ID number');
    }
    if (outSeqNo !== undefined && (typeof outSeqNo !== 'string' || !OUT_SEQ_NO.test(outSeqNo))) {
      return wxError(47001, 'data format error: out_seq_no must be 5-32 of [0-9A-Za-z_-]');
    }
    const key = `id_key_${randomToken(32)}`;
    const record: UserIdKey = { identity: { name, idCardNumber }, expiresAt: now + SESSION_TTL_MS };
    if (outSeqNo !== undefined) record.outSeqNo = outSeqNo;
    this.keys.set(key, record);
    return ok({ user_id_key: key, expires_in: SESSION_TTL_MS / 1000 });
  }

  /** POST /cityservice/face/identify/getinfo */
  getInfo(body: unknown): HttpResult {
    const parsed = readBody(body);
    if (!parsed.ok) return parsed.result;
    const fields = requireStrings(parsed.value, ['verify_result']);
    if (!fields.ok) return fields.result;
    const verifyResult = fields.value.verify_result;
    if (!VERIFY_RESULT.test(verifyResult)) return wxError(84001, 'invalid identify id');
    const record = this.results.get(verifyResult);
    if (!record) return wxError(84003, 'user info not exist');
    if (this.clock.now() >= record.expiresAt) return wxError(84002, 'user info expired');
    return ok({
      identify_ret: V1_RET[record.outcome],
      identify_time: record.finishTime,
      validate_data: record.validateData,
      openid: record.openid,
      user_id_key: record.userIdKey,
      finish_time: record.finishTime,
      id_card_number_md5: md5(normalizeIdCard(record.identity.idCardNumber)),
      name_utf8_md5: md5(normalizeName(record.identity.name)),
    });
  }

  /** POST /sandbox/face/complete: the user finished the client-side face capture. */
  complete(input: unknown): HttpResult {
    if (!isObject(input)) return badInput('a JSON object is expected');
    const { openid, outcome } = input;
    if (typeof openid !== 'string' || !OPENID.test(openid)) {
      return badInput('openid must be 6-64 characters of [A-Za-z0-9_-]');
    }
    if (outcome !== 'pass' && outcome !== 'fail' && outcome !== 'cancel') {
      return badInput("outcome must be 'pass', 'fail' or 'cancel'");
    }
    const verifyId = optionalString(input, 'verifyId');
    if (!verifyId.ok) return verifyId.result;
    const userIdKey = optionalString(input, 'userIdKey');
    if (!userIdKey.ok) return userIdKey.result;
    const claimed = this.claimedIdentity(input);
    if (!claimed.ok) return claimed.result;
    if (verifyId.value !== undefined && userIdKey.value !== undefined) {
      return badInput('give verifyId or userIdKey, not both');
    }
    if (verifyId.value !== undefined) return this.completeV2(verifyId.value, openid, outcome, claimed.value);
    return this.completeV1(userIdKey.value, openid, outcome, claimed.value);
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /** name + idCardNumber given to completeFace: the identity the face actually matched. */
  private claimedIdentity(input: JsonObject): Parsed<Identity | undefined> {
    const name = optionalString(input, 'name');
    if (!name.ok) return name;
    const id = optionalString(input, 'idCardNumber');
    if (!id.ok) return id;
    if (name.value === undefined && id.value === undefined) return { ok: true, value: undefined };
    if (name.value === undefined || id.value === undefined) {
      return { ok: false, result: badInput('give name and idCardNumber together') };
    }
    const check = checkIdCard(id.value, new Date(this.clock.now()));
    if (!check.ok) return { ok: false, result: badInput(`idCardNumber is invalid (${check.code})`) };
    return { ok: true, value: { name: name.value, idCardNumber: check.value } };
  }

  private completeV2(verifyId: string, openid: string, outcome: Outcome, claimed?: Identity): HttpResult {
    const session = this.sessions.get(verifyId);
    const now = this.clock.now();
    if (!session) return badInput('unknown verifyId');
    if (session.openid !== openid) return badInput('openid does not match the verifyId session');
    if (now >= session.expiresAt) return badInput('verifyId expired');
    if (session.result) return badInput('verifyId already completed');
    const identityMatches = claimed === undefined || sameIdentity(claimed, session.identity);
    session.result = { outcome, identityMatches, completedAt: now };
    return { status: 200, body: { verifyId, errCode: CLIENT_ERR[outcome] } };
  }

  private completeV1(key: string | undefined, openid: string, outcome: Outcome, claimed?: Identity): HttpResult {
    const now = this.clock.now();
    let identity = claimed;
    let outSeqNo: string | undefined;
    if (key !== undefined) {
      const record = this.keys.get(key);
      if (!record) return badInput('unknown userIdKey');
      if (now >= record.expiresAt) return badInput('userIdKey expired');
      identity = claimed ?? record.identity;
      outSeqNo = record.outSeqNo;
    }
    if (!identity) return badInput('give verifyId, userIdKey, or name and idCardNumber');
    const verifyResult = randomToken(96);
    const finishTime = unixSeconds(this.clock);
    this.results.set(verifyResult, {
      openid,
      userIdKey: key ?? '',
      outcome,
      identity,
      finishTime,
      validateData: String(Math.floor(1000 + Math.random() * 9000)),
      expiresAt: now + V1_RESULT_TTL_MS,
    });
    if (outSeqNo !== undefined) {
      const event: FaceIdentifyEvent = {
        ToUserName: this.originalId,
        FromUserName: openid,
        CreateTime: finishTime,
        MsgType: 'event',
        Event: 'face_identify',
        openid,
        out_seq_no: outSeqNo,
        verify_result: verifyResult,
      };
      this.deliver(event, 0, now);
    }
    return { status: 200, body: { verifyResult, errCode: CLIENT_ERR[outcome] } };
  }

  /** Pushes the event; retries failures (false, rejection or throw) for about 5 s. */
  private deliver(event: FaceIdentifyEvent, attempt: number, startedAt: number): void {
    const push = this.push;
    if (!push || this.closed) return;
    void Promise.resolve()
      .then(() => push(event))
      .catch(() => false)
      .then((acked) => {
        const delay = PUSH_RETRY_MS[attempt];
        if (acked === true || this.closed || delay === undefined) return;
        if (this.clock.now() - startedAt > PUSH_WINDOW_MS) return;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.deliver(event, attempt + 1, startedAt);
        }, delay);
        timer.unref();
        this.timers.add(timer);
      });
  }
}
