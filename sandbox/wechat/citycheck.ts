/**
 * The city-service real-name check (城市服务实名信息校验): POST /intp/realname/checkrealnameinfo,
 * and the consent mini-program it follows, which the sandbox stands in for with
 * POST /sandbox/citycheck/authorize.
 *
 * Documented (https://developers.weixin.qq.com/miniprogram/dev/server/API/cityservice/basic/api_checkrealnameinfo):
 * the request `{ openid, real_name, cred_id, cred_type: "1", code }` and the answer
 * `{ errcode, errmsg, verify_openid, verify_real_name }` with V_OP_NA (no real name on WeChat Pay),
 * V_OP_NM_MA / V_OP_NM_UM (user and name match or not) and, after V_OP_NM_MA only, V_NM_ID_MA /
 * V_NM_ID_UM (name and ID match or not). Emulator choices (not documented): a code lives 5 minutes
 * and is not spent by WeChat (the app must refuse a reuse itself); a code that is unknown, expired
 * or another user's answers 80113 (as developers report for invalid codes); a malformed request
 * 47001; cred_type other than "1" 40097.
 */
import { checkIdCard } from '../../miniprogram/shared/idcard';
import { normalizeIdCard, normalizeName } from '../../miniprogram/shared/normalize';
import type { Clock, HttpResult } from './types';
import { badInput, isObject, ok, randomToken, readBody, requireStrings, wxError } from './util';

const CODE_TTL_MS = 300_000;

/** 'ok': the user's WeChat Pay real name is the one given; 'no_realname': the user never gave WeChat Pay one. */
export type CityCheckScenario = 'ok' | 'no_realname';
const SCENARIOS: readonly CityCheckScenario[] = ['ok', 'no_realname'];

interface Consent {
  openid: string;
  /** The real name WeChat Pay holds for the user (absent: none). */
  realname?: { name: string; idCardNumber: string };
  expiresAt: number;
}

export class CityCheckEmulator {
  private readonly codes = new Map<string, Consent>();

  constructor(private readonly clock: Clock) {}

  /** POST /sandbox/citycheck/authorize: the user agreed on the consent page → { code }. */
  authorize(input: unknown): HttpResult {
    if (!isObject(input)) return badInput('a JSON object is expected');
    const { openid, name, idCardNumber, scenario = 'ok' } = input;
    if (typeof openid !== 'string' || openid.trim() === '') return badInput('openid must be a non-empty string');
    if (!SCENARIOS.includes(scenario as CityCheckScenario)) {
      return badInput(`scenario must be one of ${SCENARIOS.join(', ')}`);
    }
    let realname: Consent['realname'];
    if (scenario === 'ok') {
      if (typeof name !== 'string' || normalizeName(name) === '') return badInput('name must be a non-empty string');
      if (typeof idCardNumber !== 'string') return badInput('idCardNumber must be a string');
      const check = checkIdCard(idCardNumber, new Date(this.clock.now()));
      if (!check.ok) return badInput(`idCardNumber is invalid (${check.code})`);
      realname = { name: normalizeName(name), idCardNumber: check.value };
    }
    const code = randomToken(24);
    this.codes.set(code, { openid, ...(realname ? { realname } : {}), expiresAt: this.clock.now() + CODE_TTL_MS });
    return { status: 200, body: { code } };
  }

  /** POST /intp/realname/checkrealnameinfo */
  check(body: unknown): HttpResult {
    const parsed = readBody(body);
    if (!parsed.ok) return parsed.result;
    const fields = requireStrings(parsed.value, ['openid', 'real_name', 'cred_id', 'cred_type', 'code'] as const);
    if (!fields.ok) return fields.result;
    const { openid, real_name: realName, cred_id: credId, cred_type: credType, code } = fields.value;
    if (credType !== '1') return wxError(40097, 'invalid args: cred_type must be "1" (mainland ID card)');
    const consent = this.codes.get(code);
    if (!consent || consent.openid !== openid || this.clock.now() >= consent.expiresAt) {
      return wxError(80113, 'invalid code');
    }
    if (!consent.realname) return ok({ verify_openid: 'V_OP_NA' });
    if (normalizeName(realName) !== consent.realname.name) return ok({ verify_openid: 'V_OP_NM_UM' });
    const idMatches = normalizeIdCard(credId) === consent.realname.idCardNumber;
    return ok({ verify_openid: 'V_OP_NM_MA', verify_real_name: idMatches ? 'V_NM_ID_MA' : 'V_NM_ID_UM' });
  }
}
