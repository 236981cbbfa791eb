/**
 * The city-service real-name check's client step, shared by the app (which receives the code when
 * WeChat's consent mini-program returns) and the tests: where to send the user, and how to read the
 * code back. https://developers.weixin.qq.com/miniprogram/dev/platform-capabilities/cityservice/cityservice-checkrealnameinfo.html
 */

/** The consent mini-program WeChat's city service provides, and its consent page. */
export const CITY_CHECK_APPID = 'wx308bd2aeb83d3345';
export const CITY_CHECK_PATH = 'subPages/city/wxpay-auth/main';

/**
 * The code in `referrerInfo` when the consent mini-program returns (App.onShow): developers report it
 * as `extraData.code` (a string) and as `extraData.code.auth_code`; both are accepted, anything else
 * is refused (undefined). Only from the city service's own appid.
 */
export function cityCheckCode(referrer: unknown): string | undefined {
  const info = (referrer || {}) as { appId?: unknown; extraData?: unknown };
  if (info.appId !== CITY_CHECK_APPID) return undefined;
  const extra = info.extraData as { code?: unknown } | undefined;
  const code = extra ? extra.code : undefined;
  const value = typeof code === 'string' ? code : code ? (code as { auth_code?: unknown }).auth_code : undefined;
  return isCityCheckCode(value) ? value : undefined;
}

/** What a code from the consent mini-program looks like: an opaque, bounded token. */
export function isCityCheckCode(value: unknown): value is string {
  return typeof value === 'string' && /^[\w\-+/=.~%]{8,512}$/.test(value);
}
