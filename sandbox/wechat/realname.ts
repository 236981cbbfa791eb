/**
 * WeChat Pay real-name authorization (seed 001): GET /wxa/get_category and POST /cgi-bin/wxopen/getrealnameinfo.
 *
 * Documented by the seed: the errcodes 94001-94010 and their meanings; the signed string
 * `cert_serialno=<SERIAL>&timestamp=<TIMESTAMP>` (the seed's "×tamp" is `&times` eaten by HTML) signed
 * SHA256withRSA and base64; the answer fields `encryted_real_name` / `encryted_credential_id` (WeChat's spelling),
 * RSA_PKCS1_PADDING under the merchant public key, the name in GBK. Emulator choices: the ±300 s timestamp window
 * ("必须获取当前时间" gives no number), GB18030 for the name (a GBK superset, so rare characters survive), the check
 * order, auth tokens living 5 minutes and reusable within them (the app must refuse reuse), 94006/94007 only
 * through injected faults.
 */
import { constants, createPublicKey, generateKeyPairSync, type KeyObject, publicEncrypt, verify } from 'node:crypto';
import * as iconv from 'iconv-lite';
import { checkIdCard } from '../../miniprogram/shared/idcard';
import { normalizeName } from '../../miniprogram/shared/normalize';
import type { Category, Clock, HttpResult, Merchant } from './types';
import { badInput, isObject, type JsonObject, ok, randomToken, readBody, wxError } from './util';

const AUTH_TOKEN_TTL_MS = 300_000;
const TIMESTAMP_WINDOW_S = 300;
const SERIAL_FORMAT = /^[0-9A-F]{40}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * 'ok' and the two documented refusals, plus faults for the app's fail-closed decryption path:
 * 'garbled' (ciphertext bytes damaged in transit), 'foreign_key' (encrypted under another
 * merchant's key), 'bad_id' (decrypts to an ID number that fails GB 11643).
 */
export type Scenario = 'ok' | 'no_wxpay' | 'no_realname' | 'garbled' | 'foreign_key' | 'bad_id';
const SCENARIOS: readonly Scenario[] = ['ok', 'no_wxpay', 'no_realname', 'garbled', 'foreign_key', 'bad_id'];
const SCENARIO_ERRORS: Partial<Record<Scenario, [number, string]>> = {
  no_wxpay: [94002, 'user has not registered wechat pay'],
  no_realname: [94004, 'user has no realname info'],
};

/** Illustrative categories of a 政务民生 / 医疗 mini-program ([99, 904] is the seed's own example). */
export const DEFAULT_CATEGORIES: Category[] = [
  { first_class: '政务民生', second_class: '政务服务', first_id: 99, second_id: 904 },
  { first_class: '政务民生', second_class: '民生服务', first_id: 99, second_id: 906 },
  { first_class: '医疗', second_class: '公立医疗机构', first_id: 150, second_id: 1221 },
  { first_class: '医疗', second_class: '互联网医院', first_id: 150, second_id: 1223 },
  {
    first_class: '医疗服务',
    second_class: '私立医疗机构',
    third_class: '三级医院',
    first_id: 304,
    second_id: 3041,
    third_id: 30411,
  },
];

interface Authorization {
  name: string;
  idCardNumber: string;
  scenario: Scenario;
  expiresAt: number;
}

export class RealnameEmulator {
  private readonly tokens = new Map<string, Authorization>();
  private readonly publicKey: KeyObject;

  constructor(
    private readonly clock: Clock,
    private readonly merchant: Merchant,
    private readonly categories: Category[] = DEFAULT_CATEGORIES,
  ) {
    this.publicKey = createPublicKey(merchant.publicKeyPem);
  }

  /** GET /wxa/get_category */
  getCategory(): HttpResult {
    return ok({ category_list: this.categories.map((category) => ({ ...category })) });
  }

  /** POST /sandbox/realname/authorize: the user confirmed with the Pay password. */
  authorize(input: unknown): HttpResult {
    if (!isObject(input)) return badInput('a JSON object is expected');
    const { openid, name, idCardNumber, scenario = 'ok' } = input;
    if (typeof openid !== 'string' || openid.trim() === '') return badInput('openid must be a non-empty string');
    if (typeof name !== 'string' || normalizeName(name) === '') return badInput('name must be a non-empty string');
    if (typeof idCardNumber !== 'string') return badInput('idCardNumber must be a string');
    const check = checkIdCard(idCardNumber, new Date(this.clock.now()));
    if (!check.ok) return badInput(`idCardNumber is invalid (${check.code})`);
    if (!SCENARIOS.includes(scenario as Scenario)) return badInput(`scenario must be one of ${SCENARIOS.join(', ')}`);
    const authToken = randomToken(32);
    this.tokens.set(authToken, {
      name: normalizeName(name),
      idCardNumber: check.value,
      scenario: scenario as Scenario,
      expiresAt: this.clock.now() + AUTH_TOKEN_TTL_MS,
    });
    return { status: 200, body: { auth_token: authToken } };
  }

  /** POST /cgi-bin/wxopen/getrealnameinfo */
  getRealnameInfo(body: unknown): HttpResult {
    const parsed = readBody(body);
    if (!parsed.ok) return parsed.result;
    const refused = this.checkSignedRequest(parsed.value);
    if (refused) return refused;
    const authToken = parsed.value.auth_token;
    const auth = typeof authToken === 'string' ? this.tokens.get(authToken) : undefined;
    if (!auth || this.clock.now() >= auth.expiresAt) return wxError(94005, 'invalid auth_token');
    const refusal = SCENARIO_ERRORS[auth.scenario];
    if (refusal) return wxError(refusal[0], refusal[1]);
    const key =
      auth.scenario === 'foreign_key' ? generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey : this.publicKey;
    const id = auth.scenario === 'bad_id' ? `${auth.idCardNumber.slice(0, 17)}Y` : auth.idCardNumber;
    const name = this.encrypt(iconv.encode(auth.name, 'gb18030'), key);
    return ok({
      encryted_real_name: auth.scenario === 'garbled' ? garble(name) : name,
      encryted_credential_id: this.encrypt(Buffer.from(id, 'ascii'), key),
    });
  }

  /** The merchant's part of the request, in this order: 94001, 94009, 94010, 94008, 94003. */
  private checkSignedRequest(request: JsonObject): HttpResult | undefined {
    const { mch_id: mchId, cert_serialno: serial, timestamp, sign } = request;
    if (serial === undefined || serial === '') return wxError(94001, 'missing cert_serialno');
    if (typeof serial !== 'string' || !SERIAL_FORMAT.test(serial) || serial !== this.merchant.serialNo) {
      return wxError(94009, 'invalid cert_serialno, it must be 40 upper-case characters');
    }
    if (mchId !== this.merchant.mchId) return wxError(94010, 'invalid mch_id');
    const seconds = typeof timestamp === 'string' && /^\d{1,10}$/.test(timestamp) ? Number(timestamp) : timestamp;
    const fresh =
      typeof seconds === 'number' &&
      Number.isInteger(seconds) &&
      Math.abs(seconds - this.clock.now() / 1000) <= TIMESTAMP_WINDOW_S;
    if (!fresh) return wxError(94008, 'invalid timestamp');
    if (!this.signatureOk(`cert_serialno=${serial}&timestamp=${String(timestamp)}`, sign)) {
      return wxError(94003, 'invalid sign');
    }
    return undefined;
  }

  private signatureOk(message: string, sign: unknown): boolean {
    if (typeof sign !== 'string' || sign === '' || !BASE64.test(sign)) return false;
    try {
      const key = { key: this.publicKey, padding: constants.RSA_PKCS1_PADDING };
      return verify('sha256', Buffer.from(message, 'utf8'), key, Buffer.from(sign, 'base64'));
    } catch {
      return false;
    }
  }

  private encrypt(plain: Buffer, key: KeyObject = this.publicKey): string {
    return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, plain).toString('base64');
  }
}

/** Flips bits in the middle of a base64 ciphertext (still valid base64, same length). */
function garble(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  for (let i = 8; i < 24; i += 1) bytes[i] = (bytes[i] ?? 0) ^ 0x5a;
  return bytes.toString('base64');
}
