/**
 * What WeChat's client and the user do, emulated by the local sandbox (`config.mode === 'sandbox'`
 * only): the face capture screen, the WeChat Pay authorization and the city service's consent page. Pages show the demo identities
 * masked; the full demo records stay in this module.
 */
import { config, sandboxHeaders } from '../config';
import type { FaceStartResponse } from '../shared/contracts';
import { failure, type Result } from '../shared/errors';
import { maskIdCard, maskName } from '../shared/mask';
import { captureFailure, type CaptureOutcome } from './face';

interface DemoIdentity {
  label: string;
  name: string;
  idCardNumber: string;
}

/** A demo identity as a page may show it. */
export interface DemoChoice {
  index: number;
  label: string;
  maskedName: string;
  maskedIdCard: string;
}

export type FaceOutcome = 'pass' | 'fail' | 'cancel';
export type RealnameScenario = 'ok' | 'no_wxpay' | 'no_realname';

/** Why a sandbox request failed: `refused` when the sandbox answered, but not 200. */
interface SandboxError {
  refused: boolean;
  detail: string;
}

let identities: DemoIdentity[] = [];

function sandboxRequest<T>(method: 'GET' | 'POST', route: string, data?: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    wx.request({
      url: `${config.sandboxUrl}${route}`,
      method,
      header: { 'content-type': 'application/json', ...sandboxHeaders() },
      data,
      success: (res) => {
        if (res.statusCode === 200) resolve(res.data as T);
        else reject({ refused: true, detail: `${res.statusCode} ${JSON.stringify(res.data)}` } as SandboxError);
      },
      fail: (err) => reject({ refused: false, detail: err.errMsg } as SandboxError),
    });
  });
}

async function attempt<T>(work: () => Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await work();
  } catch (err) {
    const { refused, detail } = err as SandboxError;
    console.warn('[sandbox]', detail);
    return failure(refused ? 'SANDBOX_REFUSED' : 'SANDBOX_UNREACHABLE');
  }
}

/** The sandbox's made-up people (never real persons), masked for display. */
export function listDemoIdentities(): Promise<Result<{ choices: DemoChoice[] }>> {
  return attempt(async () => {
    const res = await sandboxRequest<{ identities: DemoIdentity[] }>('GET', '/sandbox/identities');
    identities = res.identities;
    const choices = identities.map((identity, index) => ({
      index,
      label: identity.label,
      maskedName: maskName(identity.name),
      maskedIdCard: maskIdCard(identity.idCardNumber),
    }));
    return { ok: true, choices };
  });
}

function identityAt(index: number): DemoIdentity {
  const identity = identities[index];
  if (!identity) throw { refused: true, detail: `no demo identity ${index}: list them first` } as SandboxError;
  return identity;
}

/**
 * The sandbox's face screen: the user passes, fails or cancels; `asIdentity` (a `DemoChoice.index`)
 * makes the face match that person instead of the one entered. Answers like `runFaceCapture`.
 */
export function completeFaceInSandbox(
  started: FaceStartResponse,
  outcome: FaceOutcome,
  asIdentity?: number,
): Promise<Result<{ capture: CaptureOutcome }>> {
  return attempt(async () => {
    const credential = started.mode === 'v2' ? { verifyId: started.verifyId } : { userIdKey: started.userIdKey };
    const face = asIdentity === undefined ? undefined : identityAt(asIdentity);
    const res = await sandboxRequest<{ errCode: number; verifyResult?: string }>('POST', '/sandbox/face/complete', {
      openid: config.sandboxOpenid,
      outcome,
      ...credential,
      ...(face && { name: face.name, idCardNumber: face.idCardNumber }),
    });
    if (res.errCode !== 0) return { ok: true, capture: captureFailure(res.errCode) };
    const proof = started.mode === 'v2' ? { verifyId: started.verifyId } : { verifyResult: String(res.verifyResult) };
    return { ok: true, capture: { ok: true as const, proof } };
  });
}

/** The user confirms WeChat Pay's real-name authorization as a demo identity: the button's `auth_token`. */
export function authorizeRealnameInSandbox(
  index: number,
  scenario: RealnameScenario = 'ok',
): Promise<Result<{ authToken: string }>> {
  return attempt(async () => {
    const { name, idCardNumber } = identityAt(index);
    const res = await sandboxRequest<{ auth_token: string }>('POST', '/sandbox/realname/authorize', {
      openid: config.sandboxOpenid,
      name,
      idCardNumber,
      scenario,
    });
    return { ok: true, authToken: res.auth_token };
  });
}

/**
 * The city service's consent page: the user agrees, and WeChat Pay knows them as the demo identity
 * `index`, or (`index` undefined) as nobody (never gave WeChat Pay a real name). Answers the code the
 * consent mini-program would return.
 */
export function authorizeCityCheckInSandbox(index?: number): Promise<Result<{ code: string }>> {
  return attempt(async () => {
    let known: Record<string, string> = { scenario: 'no_realname' };
    if (index !== undefined) {
      const { name, idCardNumber } = identityAt(index);
      known = { name, idCardNumber };
    }
    const res = await sandboxRequest<{ code: string }>('POST', '/sandbox/citycheck/authorize', {
      openid: config.sandboxOpenid,
      ...known,
    });
    return { ok: true, code: res.code };
  });
}

/** Where the sandbox runs and whom it takes the caller for: shown on the home page in sandbox mode. */
export function sandboxTarget(): { url: string; openid: string } {
  return { url: config.sandboxUrl, openid: config.sandboxOpenid };
}
