/**
 * The only module that touches `wx.cloud` (or, in sandbox mode, the sandbox gateway). Everything
 * above it calls typed functions keyed by the shared contracts.
 */
import { config } from '../config';
import type { ActionName, FunctionName, RequestOf, ResponseOf } from '../shared/contracts';
import { failure } from '../shared/errors';

let cloudReady = false;

/** `wx.cloud.init` once per app run (shared with services/storage.ts). */
export function ensureCloud(): void {
  if (cloudReady) return;
  wx.cloud.init({ env: config.envId, traceUser: true });
  cloudReady = true;
}

function viaGateway<T>(name: string, event: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    wx.request({
      url: `${config.sandboxUrl}/gateway/functions/${name}`,
      method: 'POST',
      header: { 'content-type': 'application/json', 'X-WX-OPENID': config.sandboxOpenid },
      data: event,
      success: (res) => {
        if (res.statusCode === 200) resolve(res.data as T);
        else reject(new Error(`sandbox gateway answered ${res.statusCode}`));
      },
      fail: (err) => reject(new Error(err.errMsg)),
    });
  });
}

/** Calls `action` of cloud function `name`. Network and platform failures become `WECHAT_ERROR`-style failures, never throws. */
export async function callCloud<F extends FunctionName, A extends ActionName<F>>(
  name: F,
  action: A,
  request: RequestOf<F, A>,
): Promise<ResponseOf<F, A>> {
  const event = { ...(request as Record<string, unknown>), action };
  try {
    if (config.mode === 'sandbox') return await viaGateway<ResponseOf<F, A>>(name, event);
    ensureCloud();
    const res = await wx.cloud.callFunction({ name, data: event });
    return res.result as ResponseOf<F, A>;
  } catch (err) {
    console.warn(`[callCloud] ${name}.${action} failed:`, (err as Error).message);
    return failure('INTERNAL', '网络异常，请检查网络后重试');
  }
}

export function isSandbox(): boolean {
  return config.mode === 'sandbox';
}
