/**
 * The only module that touches `wx.cloud` (or, in sandbox mode, the sandbox gateway). Everything
 * above it calls typed functions keyed by the shared contracts.
 */
import { config, sandboxHeaders } from '../config';
import type { ActionName, FunctionName, RequestOf, ResponseOf } from '../shared/contracts';
import { failure } from '../shared/errors';
import { clientMode, RELEASE_SANDBOX_MESSAGE } from './mode';

let cloudReady = false;

/** `wx.cloud.init` once per app run (shared with admin/services/storage.ts). */
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

function isTransportFailure(value: unknown): value is TransportFailure {
  const code = (value as TransportFailure | null)?.code;
  return (code === 'NETWORK' || code === 'INTERNAL') && typeof (value as TransportFailure).detail === 'string';
}

/**
 * `wx.cloud.callFunction` rejects both when the request does not get through and when the platform
 * reached the function and it failed: the function's own failures (-504xxx, -404011 "cloud function
 * execution error", the cloud's -501xxx) are the server's, everything else the network's.
 */
function rejectionCode(err: unknown): 'NETWORK' | 'INTERNAL' {
  const { errCode, errMsg } = (err ?? {}) as { errCode?: unknown; errMsg?: unknown };
  const code = typeof errCode === 'number' ? errCode : NaN;
  const serverSide =
    (code <= -504001 && code >= -504999) ||
    (code <= -501001 && code >= -501999) ||
    code === -404011 ||
    /-50[14]\d{3}/.test(String(errMsg ?? ''));
  return serverSide ? 'INTERNAL' : 'NETWORK';
}

function viaGateway<T>(name: string, event: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    wx.request({
      url: `${config.sandboxUrl}/gateway/functions/${name}`,
      method: 'POST',
      header: { 'content-type': 'application/json', 'X-WX-OPENID': config.sandboxOpenid, ...sandboxHeaders() },
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
  try {
    ensureCloud();
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
  const mode = clientMode();
  if (!mode) return failure('NOT_CONFIGURED', RELEASE_SANDBOX_MESSAGE);
  try {
    return mode === 'sandbox'
      ? await viaGateway<ResponseOf<F, A>>(name, event)
      : await viaCloud<ResponseOf<F, A>>(name, event);
  } catch (err) {
    // Anything thrown on the way (a synchronous throw of the platform API included) gets no answer.
    const { code, detail } = isTransportFailure(err) ? err : transportFailure('NETWORK', String(err));
    console.warn(`[callCloud] ${name}.${action} failed:`, detail);
    return failure(code);
  }
}

export function isSandbox(): boolean {
  return clientMode() === 'sandbox';
}
