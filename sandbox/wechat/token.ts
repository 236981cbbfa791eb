/**
 * Access tokens: the two families of https://api.weixin.qq.com.
 *
 * Stable token (POST /cgi-bin/stable_token), per the official page
 * https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-access-token/getStableAccessToken.html
 * (same text: https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken.html):
 * - normal mode: repeated calls within the validity return the same token; in its last 5 minutes a call
 *   returns a new token and "新旧 access_token 都可用" for those 5 minutes (the old one keeps its own expiry);
 * - force_refresh: "会导致上次获取的 access_token 失效" — the previous stable token is invalid at once (40001);
 *   limited to 20 a day and 30 s apart, "否则不会刷新": within 30 s the current token is returned unchanged;
 *   the 21st force refresh of a day answers 45009 (emulator choice of the global quota code);
 * - "与 getAccessToken 获取的调用凭证完全隔离,互不影响": the two families never invalidate each other.
 *
 * Basic token (GET /cgi-bin/token): every call issues a new token and the previous one of that family answers
 * 40001 at once. Emulator choice: WeChat's page mentions a short overlap, but instances that each fetch their
 * own token are reported to hit 40001; the sandbox makes that trap deterministic.
 *
 * Checks on every other API: missing → 41001, malformed → 40014, unknown or invalidated → 40001,
 * expired on the emulated clock → 42001.
 */
import type { Clock, HttpResult } from './types';
import { ok, randomToken, readBody, wxError } from './util';

const TTL_MS = 7200_000;
const OVERLAP_MS = 300_000;
const FORCE_GAP_MS = 30_000;
const FORCE_PER_DAY = 20;
const DAY_MS = 86_400_000;
const CHINA_OFFSET_MS = 8 * 3600_000;
/** What this emulator issues: `<seq>_<base64url>`. Anything else is "malformed" (40014). */
const TOKEN_FORMAT = /^\d+_[A-Za-z0-9_-]{40,500}$/;

type Family = 'stable' | 'basic';
interface TokenRecord {
  family: Family;
  expiresAt: number;
  revoked: boolean;
}

export class TokenStore {
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly current = new Map<Family, string>();
  private seq = 0;
  private lastForceAt = Number.NEGATIVE_INFINITY;
  private forceDay = -1;
  private forceCount = 0;

  constructor(private readonly config: { appid: string; secret: string; clock: Clock }) {}

  /** POST /cgi-bin/stable_token */
  stableToken(body: unknown): HttpResult {
    const parsed = readBody(body);
    if (!parsed.ok) return parsed.result;
    const { grant_type: grantType, appid, secret, force_refresh: force } = parsed.value;
    const refused = this.credentials(grantType, appid, secret);
    if (refused) return refused;
    if (force !== undefined && typeof force !== 'boolean') {
      return wxError(47001, 'data format error: force_refresh must be a boolean');
    }
    const now = this.config.clock.now();
    const live = this.live('stable', now);
    if (force === true) {
      if (live && now - this.lastForceAt < FORCE_GAP_MS) return this.answer(live, now);
      const day = Math.floor((now + CHINA_OFFSET_MS) / DAY_MS);
      if (day !== this.forceDay) [this.forceDay, this.forceCount] = [day, 0];
      if (this.forceCount >= FORCE_PER_DAY) return wxError(45009, 'reach max api daily quota limit');
      this.forceCount += 1;
      this.lastForceAt = now;
      this.revokeCurrent('stable');
      return this.issue('stable', now);
    }
    if (live && this.mustGet(live).expiresAt - now > OVERLAP_MS) return this.answer(live, now);
    return this.issue('stable', now);
  }

  /** GET /cgi-bin/token?grant_type=client_credential&appid=&secret= */
  basicToken(query: URLSearchParams): HttpResult {
    const refused = this.credentials(
      query.get('grant_type') ?? undefined,
      query.get('appid') ?? undefined,
      query.get('secret') ?? undefined,
    );
    if (refused) return refused;
    this.revokeCurrent('basic');
    return this.issue('basic', this.config.clock.now());
  }

  /** The access_token check of every other API; undefined when the token is good. */
  check(query: URLSearchParams): HttpResult | undefined {
    const token = query.get('access_token');
    if (token === null || token === '') return wxError(41001, 'access_token missing');
    if (!TOKEN_FORMAT.test(token)) return wxError(40014, 'invalid access_token');
    const record = this.tokens.get(token);
    if (!record || record.revoked) return wxError(40001, 'invalid credential, access_token is invalid or not latest');
    if (this.config.clock.now() >= record.expiresAt) return wxError(42001, 'access_token expired');
    return undefined;
  }

  private credentials(grantType: unknown, appid: unknown, secret: unknown): HttpResult | undefined {
    if (grantType !== 'client_credential') return wxError(40002, 'invalid grant_type');
    if (typeof appid !== 'string' || appid === '') return wxError(41002, 'appid missing');
    if (appid !== this.config.appid) return wxError(40013, 'invalid appid');
    if (typeof secret !== 'string' || secret === '') return wxError(41004, 'appsecret missing');
    if (secret !== this.config.secret) return wxError(40125, 'invalid appsecret');
    return undefined;
  }

  /** The family's current token if still usable. */
  private live(family: Family, now: number): string | undefined {
    const token = this.current.get(family);
    const record = token === undefined ? undefined : this.tokens.get(token);
    return token !== undefined && record && !record.revoked && record.expiresAt > now ? token : undefined;
  }

  private mustGet(token: string): TokenRecord {
    const record = this.tokens.get(token);
    if (!record) throw new Error('token store: unknown token');
    return record;
  }

  private revokeCurrent(family: Family): void {
    const token = this.current.get(family);
    const record = token === undefined ? undefined : this.tokens.get(token);
    if (record) record.revoked = true;
  }

  private issue(family: Family, now: number): HttpResult {
    this.seq += 1;
    const token = `${this.seq}_${randomToken(96)}`;
    this.tokens.set(token, { family, expiresAt: now + TTL_MS, revoked: false });
    this.current.set(family, token);
    return this.answer(token, now);
  }

  private answer(token: string, now: number): HttpResult {
    const expiresIn = Math.floor((this.mustGet(token).expiresAt - now) / 1000);
    // Real answers carry no errcode on success; the sandbox adds errcode 0 so every answer has one.
    return ok({ access_token: token, expires_in: expiresIn });
  }
}
