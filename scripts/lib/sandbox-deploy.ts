/**
 * The sandbox configured the way a real environment is: the deploy code (./env-deploy.ts) applies
 * the manifest through the sandbox's management API with `@cloudbase/manager-node`, using the
 * sandbox's own credentials and values. `npm start`, `npm run deploy -- --sandbox` and every test
 * sandbox go through here.
 *
 * Values from outside the sandbox (an env file, the shell) never replace its secrets or the values
 * it sets itself (`outsideValues`): a production key must not land in its data dir or travel to
 * whatever URL it was reached at, and its WeChat emulator only knows its own appid and keys.
 */
import type { Sandbox } from '../../sandbox';
import { deployValues, SANDBOX_SETTINGS } from '../../sandbox/secrets';
import { FUNCTIONS_OUT } from '../build';
import { managerApi, type CloudApi } from './cloud-api';
import { applyState, checkState, desiredState, SECRET_VARIABLES, type DeployValues } from './env-deploy';

/** Tencent Cloud credentials: a sandbox checks signatures with its own key pair (secrets.json), never these. */
export const CLOUD_CREDENTIALS = ['TENCENTCLOUD_SECRETID', 'TENCENTCLOUD_SECRETKEY', 'TENCENTCLOUD_SESSIONTOKEN'];

/**
 * What a deploy to a sandbox takes of `given` (values from an env file or the shell): settings such
 * as FACE_API_VERSION or ROSTER_ADMIN_OPENIDS, never a secret variable and never one the sandbox
 * gives its own value (`own`: WECHAT_API_BASE, its appid and merchant). `ignored`: the names left
 * out, in the order given (their values are never shown).
 */
export function outsideValues(
  given: DeployValues,
  own: DeployValues,
): { values: Record<string, string>; ignored: string[] } {
  const ignored = Object.keys(given).filter((name) => SECRET_VARIABLES.has(name) || name in own);
  const values = Object.fromEntries(Object.entries(given).filter(([name]) => !ignored.includes(name)));
  return { values, ignored };
}

/** What a deploy needs to know of a sandbox (a running one in this process, or one found by its URL). */
export type SandboxTarget = Pick<Sandbox, 'url' | 'cloudApi' | 'secrets'>;

export interface SandboxDeployOptions {
  /** Values over the sandbox's own (tests: FACE_API_VERSION=v1, a deliberately missing key...). */
  env?: DeployValues;
  /** Timeouts other than the manifest's (seconds). */
  timeouts?: Readonly<Record<string, number>>;
  only?: readonly string[];
  log?: (line: string) => void;
}

export function sandboxApi(target: SandboxTarget): CloudApi {
  return managerApi({
    envId: target.cloudApi.envId,
    secretId: target.cloudApi.secretId,
    secretKey: target.cloudApi.secretKey,
    apiBase: target.cloudApi.url,
    region: target.cloudApi.region,
  });
}

function sandboxState(target: SandboxTarget, options: SandboxDeployOptions) {
  // Values the functions will refuse (a test's missing key) are deployed as given: the functions say
  // NOT_CONFIGURED, which is what such a test is about.
  return desiredState({
    values: { ...SANDBOX_SETTINGS, ...deployValues(target.secrets, target.url), ...options.env },
    functionsDir: FUNCTIONS_OUT,
    only: options.only,
    timeouts: options.timeouts,
  });
}

/** Applies the manifest to the sandbox; answers the problems its values have (see desiredState). */
export async function deploySandbox(target: SandboxTarget, options: SandboxDeployOptions = {}): Promise<string[]> {
  const { state, problems } = sandboxState(target, options);
  await applyState(sandboxApi(target), state, { envId: target.cloudApi.envId, log: options.log ?? (() => undefined) });
  return problems;
}

/** Every drift between the sandbox and the manifest. */
export async function checkSandbox(target: SandboxTarget, options: SandboxDeployOptions = {}): Promise<string[]> {
  const { state } = sandboxState(target, options);
  return checkState(sandboxApi(target), state, target.cloudApi.envId);
}
