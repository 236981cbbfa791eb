/**
 * How the PC tools (`npm run roster`, `npm run rotate-keys`) reach the functions: one interface, two
 * ways in.
 *
 * - `gatewayTransport`: a running sandbox's HTTP gateway, as an openid (the seeded demo admin).
 * - `cloudTransport`: a real CloudBase environment through the server SDK (wx-server-sdk, which wraps
 *   @cloudbase/node-sdk: `createNewInstance({ env, secretId, secretKey, sessionToken })` outside the
 *   cloud) with the Tencent Cloud API key. Such a call carries no OPENID, so every event is signed as
 *   an operator call with OPERATOR_KEY (server/core/operator.ts); the functions refuse it otherwise.
 *   `serviceUrl` points the SDK elsewhere than Tencent Cloud (the sandbox's `/admin`, in tests).
 *
 * The tools' logic (reserve, upload, import, run, report) is written once against `FunctionTransport`.
 */
import os from 'os';
import path from 'path';
import type { FunctionName } from '../../miniprogram/shared/contracts';
import { checkerOf, OPERATOR_ID_PATTERN, REQUESTS } from '../../miniprogram/shared/requests';
import { signOperatorCall } from '../../server/core/operator';
import { loadGroup } from '../../server/lib/settings';
import { readEnvFile } from '../deploy';

export interface FunctionTransport {
  /** Calls function `fn` with `event`; answers what the function answered. */
  call(fn: string, event: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Puts `content` at `cloudPath` in the environment's storage; answers its file ID. */
  upload(cloudPath: string, content: Buffer): Promise<string>;
  /** A short-lived link's content (a report, the template). */
  download(url: string): Promise<Buffer>;
  /** Where the calls go, for messages (never a secret). */
  readonly target: string;
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(encodeURI(url));
  if (!res.ok) throw new Error(`download failed: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** A running sandbox's gateway, as `openid` (`headers`: its per-start token, when it wants one). */
export function gatewayTransport(sandbox: string, openid: string, headers: Record<string, string>): FunctionTransport {
  return {
    target: sandbox,
    async call(fn, event) {
      const res = await fetch(`${sandbox}/gateway/functions/${fn}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-WX-OPENID': openid, ...headers },
        body: JSON.stringify(event),
      });
      if (res.status !== 200) throw new Error(`sandbox answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as Record<string, unknown>;
    },
    async upload(cloudPath, content) {
      const res = await fetch(`${sandbox}/sandbox/storage/upload?cloudPath=${encodeURIComponent(cloudPath)}`, {
        method: 'POST',
        headers: { 'X-WX-OPENID': openid, ...headers },
        body: content,
      });
      if (res.status !== 200) throw new Error(`upload failed: ${res.status}`);
      return String(((await res.json()) as { fileID: string }).fileID);
    },
    download,
  };
}

export interface CloudOptions {
  envId: string;
  secretId: string;
  secretKey: string;
  sessionToken?: string;
  /** OPERATOR_KEY, decoded (32 bytes). */
  operatorKey: Buffer;
  /** The operator label the calls are signed and recorded under. */
  operatorId: string;
  /** The TCB endpoint, when not Tencent Cloud's (a sandbox's `<url>/admin`). */
  serviceUrl?: string;
}

/** What of wx-server-sdk an instance made by `createNewInstance` offers (its typings omit the method). */
interface SdkInstance {
  callFunction(param: { name: string; data: unknown }): Promise<{ result?: unknown }>;
  uploadFile(param: { cloudPath: string; fileContent: Buffer }): Promise<{ fileID: string }>;
}

/** An SDK error (`{ errCode, errMsg }`) or any other, as one line without the request's content. */
function sdkError(err: unknown): Error {
  const e = err as { errCode?: unknown; errMsg?: unknown; message?: unknown };
  return new Error(
    `cloud call failed: ${String(e?.errMsg ?? e?.message ?? err)}${e?.errCode ? ` (${String(e.errCode)})` : ''}`,
  );
}

export function cloudTransport(options: CloudOptions): FunctionTransport {
  // Loaded only here: the sandbox path never needs the SDK.
  const sdk = require('wx-server-sdk') as { createNewInstance(config: Record<string, unknown>): SdkInstance };
  const app = sdk.createNewInstance({
    env: options.envId,
    secretId: options.secretId,
    secretKey: options.secretKey,
    ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
    ...(options.serviceUrl ? { serviceUrl: options.serviceUrl } : {}),
    // A roster slice works up to the function's timeout (60 s): the SDK's default 15 s would give up first.
    timeout: 90_000,
  });
  return {
    target: `CloudBase environment ${options.envId}`,
    async call(fn, event) {
      const { action, ...payload } = event;
      // Signed: the request as the function's checker makes it (the same shared checker), which is what
      // the function verifies and runs; a request it refuses is refused before any signature is checked.
      // A function or action the shared contracts do not name has no checker (own properties only,
      // never `toString` and the like): the function refuses the call, unsigned.
      const checks: object = Object.hasOwn(REQUESTS, fn) ? REQUESTS[fn as FunctionName] : {};
      const checker = Object.hasOwn(checks, String(action))
        ? (checkerOf(fn as FunctionName, String(action) as never) as (
            raw: unknown,
          ) => { ok: true; value: unknown } | { ok: false })
        : undefined;
      const checked = checker?.(payload);
      const signed = checked?.ok ? (checked.value as Readonly<Record<string, unknown>>) : payload;
      // Made for this environment only: a proof seen in one environment runs in no other (one OPERATOR_KEY may serve several).
      const operator = signOperatorCall(
        options.operatorKey,
        { env: options.envId, fn, action: String(action) },
        options.operatorId,
        signed,
      );
      let res: { result?: unknown };
      try {
        res = await app.callFunction({ name: fn, data: { ...event, operator } });
      } catch (err) {
        throw sdkError(err);
      }
      const result = res.result;
      if (typeof result !== 'object' || result === null) throw new Error(`${fn} answered no result`);
      return result as Record<string, unknown>;
    },
    async upload(cloudPath, content) {
      try {
        return (await app.uploadFile({ cloudPath, fileContent: content })).fileID;
      } catch (err) {
        throw sdkError(err);
      }
    },
    download,
  };
}

/** Values of `--flag value` options, as the tools read them. */
export type OptionOf = (flag: string) => string | undefined;

/**
 * The cloud transport the options ask for: `--env <envId>` (else CLOUD_ENV), `--operator <name>`
 * (else the OS user name), the API key from TENCENTCLOUD_SECRETID / TENCENTCLOUD_SECRETKEY (and
 * TENCENTCLOUD_SESSIONTOKEN), OPERATOR_KEY from the environment or else the deploy's untracked values
 * file (`--values-file`, default `.env.deploy`), checked as the functions check it. Problems name what is
 * missing, never a value.
 */
export function cloudTransportFrom(option: OptionOf, env: NodeJS.ProcessEnv, root: string): FunctionTransport {
  const text = (name: string) => env[name]?.trim() ?? '';
  const envId = option('--env') ?? text('CLOUD_ENV');
  if (!envId) throw new Error('--cloud needs the environment: --env <envId> (or CLOUD_ENV)');
  const [secretId, secretKey, sessionToken] = [
    text('TENCENTCLOUD_SECRETID'),
    text('TENCENTCLOUD_SECRETKEY'),
    text('TENCENTCLOUD_SESSIONTOKEN'),
  ];
  if (!secretId || !secretKey) {
    throw new Error('--cloud needs a Tencent Cloud API key: set TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY');
  }
  const operatorId = option('--operator') ?? safeUserName();
  if (!OPERATOR_ID_PATTERN.test(operatorId)) {
    throw new Error('--operator <name>: 1-64 characters of letters, digits, . _ @ -');
  }
  const serviceUrl = option('--service-url');
  return cloudTransport({
    envId,
    secretId,
    secretKey,
    operatorKey: operatorKeyOf(option, text('OPERATOR_KEY'), root),
    operatorId,
    ...(sessionToken ? { sessionToken } : {}),
    ...(serviceUrl ? { serviceUrl } : {}),
  });
}

/** OPERATOR_KEY from the environment, else from the deploy's values file; checked as the functions check it. */
function operatorKeyOf(option: OptionOf, fromEnv: string, root: string): Buffer {
  const file = path.resolve(root, option('--values-file') ?? '.env.deploy');
  const raw = fromEnv || readEnvFile(file, false).OPERATOR_KEY?.trim() || '';
  if (!raw) {
    throw new Error(
      `--cloud needs OPERATOR_KEY (the value deployed to the roster and admin functions): set it in the environment or in ${path.relative(root, file) || file}`,
    );
  }
  // Its ConfigError names the variable and the rule, never the value.
  const key = loadGroup('operator', { OPERATOR_KEY: raw }).OPERATOR_KEY;
  if (!key) throw new Error('OPERATOR_KEY is empty');
  return key;
}

function safeUserName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return '';
  }
}
