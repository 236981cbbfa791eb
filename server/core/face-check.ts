/**
 * Pure decision logic of face verification: the `cert_hash` of the second generation and the
 * verdicts on WeChat's answers. Answers are untrusted input (`unknown`): every field is checked
 * before use and anything unexpected fails closed.
 */
import crypto from 'crypto';
import type { ErrorCode } from '../../miniprogram/shared/errors';
import { isFaceCancelled } from '../../miniprogram/shared/face-messages';
import { normalizeIdCard } from '../../miniprogram/shared/normalize';
import { wechatErrorCode } from './wechat-errors';

export type FaceCheckResult =
  | { ok: true; identifyTime?: number }
  /** `wechatCode`: the errcode / identify_ret / verify_ret behind the verdict, for logs (never PII). */
  | { ok: false; code: ErrorCode; wechatCode?: number };

const b64 = (value: string): string => Buffer.from(value, 'utf8').toString('base64');

/**
 * `cert_hash` of queryVerifyInfo: lower-case hex SHA-256 of
 * `cert_type=<b64>&cert_name=<b64>&cert_no=<b64>`, each value standard base64 of its UTF-8 bytes.
 * Pass exactly the strings sent in getVerifyId's `cert_info`.
 * Official definition and worked example (张三 / 310101199801011234 → 3c241f7f…108b):
 * https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_queryverifyinfo
 */
export function certHash(name: string, idCard: string, certType = 'IDENTITY_CARD'): string {
  const text = `cert_type=${b64(certType)}&cert_name=${b64(name)}&cert_no=${b64(idCard)}`;
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Lower-case hex MD5 of the UTF-8 bytes (WeChat's `*_md5` fields; not a security primitive here). */
export function md5Hex(s: string): string {
  return crypto.createHash('md5').update(s, 'utf8').digest('hex');
}

/** Constant-time equality of two strings (compared as UTF-8 digests, so lengths may differ). */
function safeEqual(a: string, b: string): boolean {
  const da = crypto.createHash('sha256').update(a, 'utf8').digest();
  const db = crypto.createHash('sha256').update(b, 'utf8').digest();
  return crypto.timingSafeEqual(da, db);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function intField(body: Record<string, unknown>, key: string): number | undefined {
  const value = body[key];
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

function md5Field(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  return typeof value === 'string' && /^[0-9a-fA-F]{32}$/.test(value) ? value.toLowerCase() : undefined;
}

/** A fresh object each time: callers may add to what they get. */
const invalid = (): FaceCheckResult => ({ ok: false, code: 'FACE_RESULT_INVALID' });

/** Common head of both answers: the body when it is a record with `errcode === 0`, else the failure. */
function checkErrcode(
  response: unknown,
  path: string,
): { body: Record<string, unknown>; fail?: never } | { fail: FaceCheckResult } {
  if (!isRecord(response)) return { fail: invalid() };
  const errcode = intField(response, 'errcode');
  if (errcode === undefined) return { fail: invalid() };
  if (errcode !== 0) return { fail: { ok: false, code: wechatErrorCode(errcode, path), wechatCode: errcode } };
  return { body: response };
}

/**
 * First generation (`getinfo`): passes only when errcode and identify_ret are 0, the md5 of the ID
 * (X upper case) and of the UTF-8 name match what we expected, and the openid is the caller's.
 * `expected.name` must be the exact string that went to WeChat; `expected.openid` must come from
 * `getWXContext()`, never from the request.
 */
export function evaluateGetInfo(
  response: unknown,
  expected: { name: string; idCard: string; openid: string },
): FaceCheckResult {
  const head = checkErrcode(response, '/cityservice/face/identify/getinfo');
  if (head.fail) return head.fail;
  const { body } = head;

  const identifyRet = intField(body, 'identify_ret');
  if (identifyRet === undefined) return invalid();
  if (identifyRet !== 0) {
    return {
      ok: false,
      code: isFaceCancelled(identifyRet) ? 'FACE_CANCELLED' : 'FACE_NOT_PASSED',
      wechatCode: identifyRet,
    };
  }

  const openid = body.openid;
  const idMd5 = md5Field(body, 'id_card_number_md5');
  const nameMd5 = md5Field(body, 'name_utf8_md5');
  if (typeof openid !== 'string' || openid === '' || !idMd5 || !nameMd5) return invalid();
  if (!expected.openid || !safeEqual(openid, expected.openid)) return { ok: false, code: 'FACE_NOT_OWNER' };

  const idOk = safeEqual(idMd5, md5Hex(normalizeIdCard(expected.idCard)));
  const nameOk = safeEqual(nameMd5, md5Hex(expected.name));
  if (!idOk || !nameOk) return { ok: false, code: 'FACE_IDENTITY_MISMATCH' };

  const identifyTime = intField(body, 'identify_time');
  return identifyTime !== undefined && identifyTime > 0 ? { ok: true, identifyTime } : { ok: true };
}

/**
 * Second generation (`queryverifyinfo`): passes only on errcode 0 and verify_ret 10000. 9xxxx are
 * client outcomes (cancellations per the official enumeration: 90002–90006, 90024, and 90100),
 * 10001+ are verification failures; anything else fails closed as invalid.
 */
export function evaluateQueryVerifyInfo(response: unknown): FaceCheckResult {
  const head = checkErrcode(response, '/cityservice/face/identify/queryverifyinfo');
  if (head.fail) return head.fail;
  const verifyRet = intField(head.body, 'verify_ret');
  if (verifyRet === undefined) return invalid();
  if (verifyRet === 10000) return { ok: true };
  if (verifyRet >= 90000 && verifyRet <= 99999) {
    return {
      ok: false,
      code: isFaceCancelled(verifyRet) ? 'FACE_CANCELLED' : 'FACE_NOT_PASSED',
      wechatCode: verifyRet,
    };
  }
  if (verifyRet > 10000) return { ok: false, code: 'FACE_NOT_PASSED', wechatCode: verifyRet };
  return { ok: false, code: 'FACE_RESULT_INVALID', wechatCode: verifyRet };
}
