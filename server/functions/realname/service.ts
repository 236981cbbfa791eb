/**
 * The WeChat real-name paths without a face.
 *
 * `fetch`: WeChat Pay real-name authorization (实名信息授权, the button closed to new mini-programs
 * since 2019): the user confirms with the Pay password, the client gets a one-time auth_token, and
 * this service signs the merchant request (SHA256withRSA), fetches the encrypted name and ID,
 * decrypts them (PKCS#1 v1.5, unpadded by hand: Node ≥ 18.19.1 refuses that padding for private
 * decryption), validates the plaintext and binds it to the caller. Any decryption or validation
 * failure is one generic error: nothing stored, nothing logged of it.
 *
 * `check`: the city-service real-name check (城市服务实名信息校验): the user typed a name and ID
 * number and agreed on WeChat's consent page, which returned a one-time code; WeChat answers whether
 * they match the real name the user gave WeChat Pay (a verdict, never the identity). Bound on a
 * full match only.
 */
import type {
  BodyOf,
  RealnameCategory,
  RealnameCheckRequest,
  RealnameFetchRequest,
  VerificationMethod,
} from '../../../miniprogram/shared/contracts';
import { evaluateCityCheck } from '../../core/citycheck';
import { Refusal } from '../../core/errors';
import { requireMethod } from '../../core/methods';
import { decryptRealnameInfo, signRequest, type MerchantConfig } from '../../core/realname-crypto';
import type { AuditNote, Logger } from '../../core/router';
import { isAccessTokenError, isWechatApiError } from '../../core/wechat-errors';
import { bestEffort } from '../../lib/cleanup';
import { REALNAME_CHECK_PER_CALLER, REALNAME_FETCH_PER_CALLER } from '../../core/limits';
import type { ConsentStore } from '../../lib/consents';
import type { RateLimiter } from '../../lib/rate-limit';
import type { OneTimeTokens } from '../../lib/tokens';
import { idCardHolder, type IdentityStore } from '../../lib/identity';
import type { WechatClient } from '../../lib/wechat';

const CATEGORY_TTL_MS = 3600_000;

export interface RealnameDeps {
  tokens: OneTimeTokens;
  limiter: RateLimiter;
  wechat: WechatClient;
  identities: IdentityStore;
  consents: ConsentStore;
  merchant: () => MerchantConfig;
  /** The methods offered (IDENTITY_METHODS): `fetch` needs wxpay, `check` wxcheck. */
  methods: () => readonly VerificationMethod[];
  logger: Logger;
}

let categoryCache: { at: number; categories: RealnameCategory[] } | undefined;

export class RealnameService {
  constructor(private readonly deps: RealnameDeps) {}

  /** The mini-program's categories for the button's `category-id`, cached per instance for an hour. */
  async categories(): Promise<BodyOf<'realname', 'categories'>> {
    if (!categoryCache || Date.now() - categoryCache.at > CATEGORY_TTL_MS) {
      const answer = await this.deps.wechat.call('GET', '/wxa/get_category');
      const list = Array.isArray(answer.category_list) ? (answer.category_list as Record<string, unknown>[]) : [];
      categoryCache = { at: Date.now(), categories: list.map(toCategory).filter((c): c is RealnameCategory => !!c) };
    }
    return { categories: categoryCache.categories };
  }

  /** `request.authToken` is a bounded string (checked by the router). */
  async fetch(
    openid: string,
    request: RealnameFetchRequest,
    note: AuditNote = {},
  ): Promise<BodyOf<'realname', 'fetch'>> {
    const { authToken } = request;
    requireMethod(this.deps.methods(), 'wxpay');
    const merchant = this.deps.merchant();
    const { tokens, wechat, identities, logger, limiter } = this.deps;
    // Before anything is written or asked: a caller sending junk tokens is stopped after a few.
    await limiter.hit(REALNAME_FETCH_PER_CALLER, 'caller', openid, 'RATE_LIMITED');
    // The WeChat dialog was the consent to share; recorded with the page's notice before anything is fetched.
    await this.deps.consents.record(openid, identities.openidHash(openid), 'wxpay');

    // Each auth_token is used once: reserved before WeChat is called; only a keyed hash is kept.
    if (!(await tokens.reserve('realname', authToken, identities.openidHash(openid)))) {
      throw new Refusal('REALNAME_TOKEN_USED');
    }

    const timestamp = Math.floor(Date.now() / 1000);
    let answer: Record<string, unknown>;
    try {
      answer = await wechat.call('POST', '/cgi-bin/wxopen/getrealnameinfo', {
        auth_token: authToken,
        mch_id: merchant.mchId,
        cert_serialno: merchant.certSerialNo,
        timestamp,
        sign: signRequest(merchant.privateKey, merchant.certSerialNo, timestamp),
      });
    } catch (err) {
      if (retryable(err)) {
        await bestEffort(logger, 'releasing a reserved auth_token', () => tokens.release('realname', authToken));
      }
      throw err;
    }

    // Any failure is the one RealnameDecryptError (REALNAME_DECRYPT_FAILED, logged without detail).
    const identity = decryptRealnameInfo(merchant.privateKey, {
      encryted_real_name: String(answer.encryted_real_name ?? ''),
      encryted_credential_id: String(answer.encryted_credential_id ?? ''),
    });
    note.subject = identities.idIndex(identity.idCard);
    const binding = await identities.bind(openid, 'wxpay', idCardHolder(identity.name, identity.idCard));
    logger.info('real-name authorization bound');
    return { binding };
  }

  /** `request` holds consent, a valid name and ID number and a well-formed code (checked by the router). */
  async check(
    openid: string,
    request: RealnameCheckRequest,
    note: AuditNote = {},
  ): Promise<BodyOf<'realname', 'check'>> {
    const { name, idCardNumber, code } = request;
    const { tokens, wechat, identities, logger, limiter } = this.deps;
    note.subject = identities.idIndex(idCardNumber);
    requireMethod(this.deps.methods(), 'wxcheck');
    await limiter.hit(REALNAME_CHECK_PER_CALLER, 'caller', openid, 'RATE_LIMITED');
    await this.deps.consents.record(openid, identities.openidHash(openid), 'wxcheck');
    // Each code is used once (reserved before WeChat is asked; only a keyed hash is kept).
    if (!(await tokens.reserve('wxcheck', code, identities.openidHash(openid)))) {
      throw new Refusal('REALNAME_CHECK_CODE_USED');
    }
    let answer: Record<string, unknown>;
    try {
      answer = await wechat.call('POST', '/intp/realname/checkrealnameinfo', {
        openid,
        real_name: name,
        cred_id: idCardNumber,
        cred_type: '1',
        code,
      });
    } catch (err) {
      if (retryable(err)) {
        await bestEffort(logger, 'releasing a reserved check code', () => tokens.release('wxcheck', code));
      }
      throw err;
    }
    const verdict = evaluateCityCheck(answer);
    if (!verdict.ok) {
      logger.info('real-name check refused', { code: verdict.code });
      throw new Refusal(verdict.code);
    }
    const binding = await identities.bind(openid, 'wxcheck', idCardHolder(name, idCardNumber));
    logger.info('real-name check bound');
    return { binding };
  }
}

/**
 * WeChat was busy, unreachable, unreadable (-2) or our access token was refused: WeChat did not
 * consume the one-time token or code, so the user may try it again.
 */
function retryable(err: unknown): boolean {
  return !isWechatApiError(err) || err.code === 'WECHAT_BUSY' || err.errcode === -2 || isAccessTokenError(err.errcode);
}

function toCategory(raw: Record<string, unknown>): RealnameCategory | undefined {
  const { first_class, second_class, third_class, first_id, second_id, third_id } = raw;
  if (typeof first_id !== 'number' || typeof second_id !== 'number') return undefined;
  return {
    firstClass: String(first_class ?? ''),
    secondClass: String(second_class ?? ''),
    ...(typeof third_class === 'string' ? { thirdClass: third_class } : {}),
    firstId: first_id,
    secondId: second_id,
    ...(typeof third_id === 'number' ? { thirdId: third_id } : {}),
  };
}
