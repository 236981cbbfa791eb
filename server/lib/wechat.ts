/**
 * WeChat open-API client shared by every function: the access_token from `stable_token`, cached in
 * the database for all instances (the old `/cgi-bin/token` invalidates other instances' tokens);
 * 40001/42001 → drop the cache, fetch again and retry once; -1 (busy) → bounded backoff; a hard
 * timeout on every request. AppID and AppSecret come from the environment only.
 *
 * The cache is a collection a client could read, or write to, under the platform's default rules:
 * the token is stored encrypted (AES-256-GCM under the PII key, bound to the document), a keyed
 * hash identifies it for removal, and a document a client wrote (`_openid`) is never used.
 */
import { blindIndex, decryptField, encryptField, fieldAad, keyVersion, type PiiKeys } from '../core/pii';
import { assertWechatOk, isAccessTokenError, isBusyError, WechatApiError } from '../core/wechat-errors';
import { COLLECTION } from '../manifest';
import { removeClientWritten, serverWritten, type CloudDb } from './cloud-db';
import { requestJson } from './http';

/** The `wechat` settings group as the client uses it (see settings.ts `wechatConfig`). */
export interface WechatConfig {
  base: string;
  appid: string;
  secret: string;
  /** Deadline of each request (WECHAT_TIMEOUT_MS). */
  timeoutMs: number;
}

export interface WechatClientOptions {
  /** Retries after -1 (system busy). */
  busyRetries?: number;
  backoffMs?: number;
  /** Refresh a cached token this long before WeChat's expiry. */
  marginSeconds?: number;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** The cache document: nothing in it is usable without the server's keys. */
interface CacheDoc {
  tokenEnc: string;
  /** Keyed hash of the token: a rejected token is removed only if it is still the cached one. */
  tokenHash: string;
  expiresAt: number;
  /** `keyVersion` of the keys it was written under (core/pii.ts). */
  kv: string;
}

const TOKENS = COLLECTION.accessTokens;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class WechatClient {
  private memo: CachedToken | undefined;
  private readonly timeoutMs: number;
  private readonly busyRetries: number;
  private readonly backoffMs: number;
  private readonly marginSeconds: number;

  constructor(
    private readonly config: WechatConfig,
    private readonly db: CloudDb,
    private readonly keys: PiiKeys,
    options: WechatClientOptions = {},
  ) {
    this.timeoutMs = config.timeoutMs;
    this.busyRetries = options.busyRetries ?? 2;
    this.backoffMs = options.backoffMs ?? 300;
    this.marginSeconds = options.marginSeconds ?? 300;
  }

  /** Calls an access_token API; throws WechatApiError for a non-zero errcode after the retries. */
  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
    let token = await this.accessToken();
    for (let attempt = 0; ; attempt += 1) {
      const answer = await this.withBusyRetry(path, () =>
        requestJson(`${this.config.base}${path}?access_token=${encodeURIComponent(token)}`, {
          method,
          body,
          timeoutMs: this.timeoutMs,
        }),
      );
      const errcode = (answer as { errcode?: unknown }).errcode;
      if (typeof errcode === 'number' && isAccessTokenError(errcode) && attempt === 0) {
        await this.dropToken(token);
        token = await this.accessToken();
        continue;
      }
      assertWechatOk(path, answer);
      return answer as Record<string, unknown>;
    }
  }

  private async withBusyRetry(path: string, send: () => Promise<unknown>): Promise<unknown> {
    for (let attempt = 0; ; attempt += 1) {
      const answer = await send();
      const errcode = (answer as { errcode?: unknown } | null)?.errcode;
      if (typeof errcode === 'number' && isBusyError(errcode) && attempt < this.busyRetries) {
        await sleep(this.backoffMs * 2 ** attempt);
        continue;
      }
      if (typeof errcode === 'number' && isBusyError(errcode)) throw new WechatApiError(path, errcode, 'system busy');
      return answer;
    }
  }

  /** The shared token: this instance's memo, else the database cache, else a new stable_token. */
  async accessToken(): Promise<string> {
    const now = Date.now();
    const fresh = (t: CachedToken | undefined) => t && t.expiresAt - this.marginSeconds * 1000 > now;
    if (fresh(this.memo)) return this.memo!.token;
    const cached = await this.readCache();
    if (fresh(cached)) {
      this.memo = cached;
      return cached!.token;
    }
    const path = '/cgi-bin/stable_token';
    const answer = await this.withBusyRetry(path, () =>
      requestJson(`${this.config.base}${path}`, {
        method: 'POST',
        body: {
          grant_type: 'client_credential',
          appid: this.config.appid,
          secret: this.config.secret,
          force_refresh: false,
        },
        timeoutMs: this.timeoutMs,
      }),
    );
    assertWechatOk(path, answer);
    const { access_token, expires_in } = answer as { access_token?: unknown; expires_in?: unknown };
    if (typeof access_token !== 'string' || typeof expires_in !== 'number') {
      throw new WechatApiError(path, -2, 'no access_token in answer');
    }
    this.memo = { token: access_token, expiresAt: now + expires_in * 1000 };
    const doc: CacheDoc = {
      tokenEnc: encryptField(this.keys, access_token, this.aad()),
      tokenHash: this.tokenHash(access_token),
      expiresAt: this.memo.expiresAt,
      // The keys it was written under, like every document holding a ciphertext: a key rotation
      // skips it when current.
      kv: keyVersion(this.keys),
    };
    await removeClientWritten(this.db, TOKENS, this.config.appid);
    await this.db.collection(TOKENS).doc(this.config.appid).set({ data: doc });
    return access_token;
  }

  private aad(): string {
    return fieldAad(TOKENS, this.config.appid, 'token');
  }

  private tokenHash(token: string): string {
    return blindIndex(this.keys, 'accessToken', token);
  }

  /** The cached token, if the server wrote it and it decrypts (a key rotation simply refetches). */
  private async readCache(): Promise<CachedToken | undefined> {
    const res = await this.db
      .collection(TOKENS)
      .where(serverWritten(this.db, { _id: this.config.appid }))
      .limit(1)
      .get();
    const doc = res.data[0] as Partial<CacheDoc> | undefined;
    if (typeof doc?.tokenEnc !== 'string' || typeof doc.expiresAt !== 'number') return undefined;
    try {
      return { token: decryptField(this.keys, doc.tokenEnc, this.aad()), expiresAt: doc.expiresAt };
    } catch {
      return undefined;
    }
  }

  /** Forgets a rejected token, here and in the shared cache (unless another instance replaced it already). */
  private async dropToken(token: string): Promise<void> {
    this.memo = undefined;
    await this.db
      .collection(TOKENS)
      .where({ _id: this.config.appid, tokenHash: this.tokenHash(token) })
      .remove();
  }
}
