/**
 * The sandbox configured the way a real environment is: the deploy code (./env-deploy.ts) applies
 * the manifest through the sandbox's management API with `@cloudbase/manager-node`, using the
 * sandbox's own credentials and values. `npm start`, `npm run deploy -- --sandbox` and every test
 * sandbox go through here.
 */
import type { Sandbox } from '../../sandbox';
import { deployValues } from '../../sandbox/secrets';
import { FUNCTIONS_OUT } from '../build';
import { managerApi, type CloudApi } from './cloud-api';
import { applyState, checkState, desiredState, type DeployValues } from './env-deploy';

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
    values: { ...deployValues(target.secrets, target.url), ...options.env },
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
