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

/**
 * Why a call yielded no answer of the function: the network, or the platform saying the function
 * failed. A plain object, not an Error subclass (the client's ES5 build does not keep `instanceof`
 * for subclasses of built-ins).
 */
interface TransportFailure {
  code: 'NETWORK' | 'INTERNAL';
  detail: string;
}

const transportFailure = (code: TransportFailure['code'], detail: string): TransportFailure => ({ code, detail });

/**
 * `wx.cloud.callFunction` rejects both when the request does not get through and when the function
 * itself failed (errCode -504002 "functions execute fail" and its neighbours): the latter is the
 * server's failure, not the network's.
 */
function rejectionCode(err: unknown): 'NETWORK' | 'INTERNAL' {
  const errCode = (err as { errCode?: unknown } | null)?.errCode;
  return typeof errCode === 'number' && errCode <= -504001 && errCode >= -504999 ? 'INTERNAL' : 'NETWORK';
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
        // The sandbox answered, the function did not (it crashed or timed out): the platform's failure.
        else reject(transportFailure('INTERNAL', `sandbox gateway answered ${res.statusCode}`));
      },
      fail: (err) => reject(transportFailure('NETWORK', err.errMsg)),
    });
  });
}

async function viaCloud<T>(name: string, event: Record<string, unknown>): Promise<T> {
  ensureCloud();
  try {
    const res = await wx.cloud.callFunction({ name, data: event });
    return res.result as T;
  } catch (err) {
    throw transportFailure(rejectionCode(err), String((err as { errMsg?: unknown } | null)?.errMsg ?? err));
  }
}

/**
 * Calls `action` of cloud function `name`. Never throws: the function's own answer, or a `Failure`
 * when no answer came: `NETWORK` (the request did not get through) or `INTERNAL` (the platform says
 * the function failed). Callers handle one result shape either way.
 */
export async function callCloud<F extends FunctionName, A extends ActionName<F>>(
  name: F,
  action: A,
  request: RequestOf<F, A>,
): Promise<ResponseOf<F, A>> {
  const event = { ...(request as Record<string, unknown>), action };
  try {
    return config.mode === 'sandbox'
      ? await viaGateway<ResponseOf<F, A>>(name, event)
      : await viaCloud<ResponseOf<F, A>>(name, event);
  } catch (err) {
    const { code, detail } = err as TransportFailure;
    console.warn(`[callCloud] ${name}.${action} failed:`, detail);
    return failure(code);
  }
}

export function isSandbox(): boolean {
  return config.mode === 'sandbox';
}
