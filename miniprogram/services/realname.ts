/** WeChat Pay real-name authorization (微信支付实名信息授权): the two cloud actions. */
import type { ResponseOf } from '../shared/contracts';
import { callCloud } from './cloud';
import { noticeVersion } from '../shared/consent';

/** The mini-program's service categories: the authorization button needs one as `category-id`. */
export function getRealnameCategories(): Promise<ResponseOf<'realname', 'categories'>> {
  return callCloud('realname', 'categories', {});
}

/** Exchanges the button's `auth_token` for the caller's binding (the server decrypts and keeps it). */
export function fetchRealnameInfo(authToken: string): Promise<ResponseOf<'realname', 'fetch'>> {
  return callCloud('realname', 'fetch', { authToken, noticeVersion: noticeVersion('wxpay') });
}
