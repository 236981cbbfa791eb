/**
 * WeChat open-API errcodes → our stable error codes, and the error thrown for a failed call.
 * The error keeps only `errcode`, `errmsg` and the API path: never the request body (it may hold
 * names, ID numbers or tokens) and never the query string (it holds the access_token).
 */
import type { ErrorCode } from '../../miniprogram/shared/errors';
import { AppError } from './errors';

const MAP: Readonly<Record<number, ErrorCode>> = {
  [-1]: 'WECHAT_BUSY',
  // access_token problems: by the time they reach here the caller has already refreshed and retried.
  40001: 'WECHAT_ERROR',
  40014: 'WECHAT_ERROR',
  41001: 'WECHAT_ERROR',
  42001: 'WECHAT_ERROR',
  // face verification results
  84001: 'FACE_RESULT_INVALID',
  84002: 'FACE_RESULT_EXPIRED',
  84003: 'FACE_RESULT_INVALID',
  // WeChat Pay real-name authorization
  94001: 'REALNAME_MERCHANT_CONFIG',
  94002: 'REALNAME_NO_WXPAY',
  94003: 'REALNAME_MERCHANT_CONFIG',
  94004: 'REALNAME_NO_INFO',
  94005: 'REALNAME_TOKEN_INVALID',
  94006: 'REALNAME_NOT_AUTHORIZED',
  94007: 'REALNAME_NOT_AUTHORIZED',
  94008: 'REALNAME_MERCHANT_CONFIG',
  94009: 'REALNAME_MERCHANT_CONFIG',
  94010: 'REALNAME_MERCHANT_CONFIG',
};

/** Codes whose meaning depends on the API that answered them. */
const BY_PATH: Readonly<Record<string, Readonly<Record<number, ErrorCode>>>> = {
  // The city-service check: 48001 is WeChat's "api unauthorized" (the capability was not granted to
  // this mini-program); 80113, developers report, answers a code that is invalid, expired or another
  // user's (assumed: not in the API's page).
  '/intp/realname/checkrealnameinfo': { 48001: 'REALNAME_CHECK_NOT_AUTHORIZED', 80113: 'REALNAME_CHECK_CODE_INVALID' },
};

/** API-frequency limits (45009: daily quota, 45011: per-minute). */
const RATE_LIMITS = new Set([45009, 45011]);

/** access_token rejected or expired: drop the cached token, fetch again, retry once. */
export function isAccessTokenError(errcode: number): boolean {
  return errcode === 40001 || errcode === 40014 || errcode === 41001 || errcode === 42001;
}

/** System busy: worth a bounded retry with backoff. */
export function isBusyError(errcode: number): boolean {
  return errcode === -1;
}

/**
 * Our code for a non-zero errcode. `path` picks the rate-limit code: `FACE_RATE_LIMITED` for the
 * face APIs (the user can act on it), `WECHAT_BUSY` elsewhere. Unknown codes → `WECHAT_ERROR`.
 */
export function wechatErrorCode(errcode: number, path = ''): ErrorCode {
  if (RATE_LIMITS.has(errcode)) return path.includes('/cityservice/face/') ? 'FACE_RATE_LIMITED' : 'WECHAT_BUSY';
  const specific = BY_PATH[path]?.[errcode];
  if (specific) return specific;
  return Object.prototype.hasOwnProperty.call(MAP, errcode) ? (MAP[errcode] ?? 'WECHAT_ERROR') : 'WECHAT_ERROR';
}

/** The path without its query string (which carries the access_token). */
function sanitizePath(path: string): string {
  return String(path).split(/[?#]/)[0] ?? '';
}

/** A WeChat API answered with a non-zero errcode; `code` is ours for it (see `wechatErrorCode`). */
export class WechatApiError extends AppError {
  override name = 'WechatApiError' as const;
  readonly errcode: number;
  readonly errmsg: string;
  readonly path: string;

  constructor(path: string, errcode: number, errmsg = '') {
    const safePath = sanitizePath(path);
    const safeMsg = String(errmsg).slice(0, 200);
    super(wechatErrorCode(errcode, safePath), {
      detail: `WeChat API ${safePath} failed: errcode ${errcode} ${safeMsg}`.trim(),
      logged: true,
    });
    this.path = safePath;
    this.errcode = errcode;
    this.errmsg = safeMsg;
  }
}

export function isWechatApiError(value: unknown): value is WechatApiError {
  return value instanceof WechatApiError;
}

/** The errcode of a WeChat JSON answer: a number, or `undefined` when absent (success without errcode). */
export function errcodeOf(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const errcode = (body as { errcode?: unknown }).errcode;
  return typeof errcode === 'number' ? errcode : undefined;
}

/**
 * Throws `WechatApiError` when `body` carries a non-zero errcode. A body that is not an object is
 * treated as a failure too (errcode `-2`, our marker for "unreadable answer").
 */
export function assertWechatOk(path: string, body: unknown): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new WechatApiError(path, -2, 'unreadable response');
  }
  const errcode = errcodeOf(body);
  if (errcode !== undefined && errcode !== 0) {
    const errmsg = (body as { errmsg?: unknown }).errmsg;
    throw new WechatApiError(path, errcode, typeof errmsg === 'string' ? errmsg : '');
  }
}
