/**
 * The city-service real-name check (城市服务实名信息校验): the page sends the user to WeChat's
 * consent mini-program; when the user agrees, WeChat returns to this mini-program with a one-time
 * code in `referrerInfo.extraData`, which App.onShow hands to `receiveReferrer`. The page takes the
 * code when it shows again and sends it with the typed name and ID number to `realname.check`.
 */
import type { RealnameCheckRequest, ResponseOf } from '../shared/contracts';
import { noticeVersion } from '../shared/consent';
import { CITY_CHECK_APPID, CITY_CHECK_PATH, cityCheckCode } from '../shared/citycheck';
import { failure, type Result } from '../shared/errors';
import { callCloud } from './cloud';

/**
 * One attempt at a time: a code is accepted only while an attempt waits for one, at most one per
 * attempt, and never a code already taken (WeChat may show the same `referrerInfo` again on a later
 * App.onShow; resending a spent code would only fail).
 */
let awaiting = false;
let received: string | undefined;
const spent = new Set<string>();

/** App.onShow: keeps the code when the consent mini-program sent one for the attempt under way. */
export function receiveReferrer(options: { referrerInfo?: unknown } | undefined): void {
  const code = cityCheckCode(options ? options.referrerInfo : undefined);
  if (!code || !awaiting || spent.has(code)) return;
  received = code;
  awaiting = false;
}

/** The code the consent mini-program returned for this attempt, once (undefined when none came back). */
export function takeCityCheckCode(): string | undefined {
  const code = received;
  received = undefined;
  if (code) spent.add(code);
  return code;
}

/** Opens WeChat's consent page; answers once WeChat has left for it (`CANCELLED` when the user declined to go). */
export function openCityCheck(): Promise<Result> {
  received = undefined;
  // Waiting before WeChat leaves: on some clients App.onShow of the return comes before `success`.
  awaiting = true;
  return new Promise((resolve) => {
    wx.navigateToMiniProgram({
      appId: CITY_CHECK_APPID,
      path: CITY_CHECK_PATH,
      success: () => resolve({ ok: true }),
      fail: (err) => {
        awaiting = false;
        resolve(
          /cancel/.test(err.errMsg)
            ? failure('CANCELLED', '您取消了打开微信授权页面，可以再试一次')
            : failure('WECHAT_ERROR', '无法打开微信实名授权页面，请稍后重试'),
        );
      },
    });
  });
}

export function checkRealname(
  request: Omit<RealnameCheckRequest, 'noticeVersion'>,
): Promise<ResponseOf<'realname', 'check'>> {
  // The version of the notice the page shows (shared/consent.ts): the server records it with the consent.
  return callCloud('realname', 'check', { ...request, noticeVersion: noticeVersion('wxcheck') });
}
