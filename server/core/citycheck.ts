/**
 * The verdict on a city-service real-name check (`/intp/realname/checkrealnameinfo`): WeChat says
 * whether the name and ID number the user typed match the real name the user gave WeChat Pay. It
 * answers a verdict, never the identity. Pass only on errcode 0 (present), `verify_openid` containing
 * V_OP_NM_MA and no negative result (several may be joined with ';') and `verify_real_name`
 * V_NM_ID_MA; every
 * other outcome is a refusal with its own code. The answer is untrusted input: anything unexpected
 * fails closed.
 * https://developers.weixin.qq.com/miniprogram/dev/server/API/cityservice/basic/api_checkrealnameinfo
 */
import type { ErrorCode } from '../../miniprogram/shared/errors';

export type CityCheckVerdict = { ok: true } | { ok: false; code: ErrorCode };

export function evaluateCityCheck(answer: unknown): CityCheckVerdict {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
    return { ok: false, code: 'REALNAME_CHECK_INVALID' };
  }
  const body = answer as Record<string, unknown>;
  if (body.errcode !== 0) return { ok: false, code: 'REALNAME_CHECK_INVALID' };
  const openid = typeof body.verify_openid === 'string' ? body.verify_openid.split(';').map((v) => v.trim()) : [];
  // A negative result anywhere in the list outweighs a positive one beside it.
  if (openid.includes('V_OP_NA')) return { ok: false, code: 'REALNAME_CHECK_NO_REALNAME' };
  if (openid.includes('V_OP_NM_UM')) return { ok: false, code: 'REALNAME_CHECK_NAME_MISMATCH' };
  if (!openid.includes('V_OP_NM_MA')) return { ok: false, code: 'REALNAME_CHECK_INVALID' };
  if (body.verify_real_name === 'V_NM_ID_MA') return { ok: true };
  if (body.verify_real_name === 'V_NM_ID_UM') return { ok: false, code: 'REALNAME_CHECK_ID_MISMATCH' };
  return { ok: false, code: 'REALNAME_CHECK_INVALID' };
}
