/**
 * Function configuration as code: every cloud function, its runtime settings, triggers and the
 * environment variables it needs. `npm run build` writes `cloudfunctions/<name>/` from this, the
 * deploy script applies it, the sandbox starts functions with it, and the README lists it.
 */

export interface EnvVarSpec {
  name: string;
  /** Secrets are never committed, never sent to the client; the deploy script refuses to print them. */
  secret: boolean;
  required: boolean;
  description: string;
}

export interface FunctionSpec {
  name: string;
  description: string;
  /** Seconds (the mini-program console allows at most 60). */
  timeout: number;
  /** MB. */
  memory: number;
  env: EnvVarSpec[];
  triggers: { name: string; type: 'timer'; config: string }[];
}

export const FUNCTIONS: FunctionSpec[] = [
  {
    name: 'ping',
    description: 'Health check: answers the caller OPENID from getWXContext.',
    timeout: 3,
    memory: 128,
    env: [],
    triggers: [],
  },
];

export const SDK_VERSION = '4.0.2';
