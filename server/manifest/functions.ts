/**
 * Function configuration as code: every cloud function, its runtime settings, triggers and the
 * variable groups it reads (./variables.ts). `npm run build` writes `cloudfunctions/<name>/` from
 * this, the deploy scripts apply and check it, the sandbox starts functions with it, and the README
 * lists it.
 */
import type { FunctionName } from '../../miniprogram/shared/contracts';
import { isRequired, VARIABLES, variablesOf, type GroupName } from './variables';

/** One variable as a function needs it (what the deploy scripts report). */
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
  /** The runtime a deploy creates the function with (it can only be chosen at creation). */
  runtime: string;
  /** Seconds (the mini-program console allows at most 60). */
  timeout: number;
  /** MB. */
  memory: number;
  env: EnvVarSpec[];
  triggers: { name: string; type: 'timer'; config: string }[];
}

/** The variable groups each function loads at instance start (its typed settings, see lib/settings.ts). */
export const FUNCTION_GROUPS = {
  ping: [],
  face: ['app', 'wechat', 'pii', 'methods', 'face'],
  realname: ['app', 'wechat', 'pii', 'methods', 'merchant'],
  roster: ['app', 'pii', 'admins', 'roster', 'operator'],
  review: ['app', 'pii', 'methods', 'admins'],
  identity: ['app', 'pii', 'methods', 'admins'],
  admin: ['app', 'pii', 'admins', 'retention', 'operator'],
  profile: ['app', 'pii'],
} as const satisfies { readonly [F in FunctionName]: readonly GroupName[] };

export type GroupsOf<F extends FunctionName> = (typeof FUNCTION_GROUPS)[F][number];

function envOf(name: FunctionName): EnvVarSpec[] {
  return (FUNCTION_GROUPS[name] as readonly GroupName[]).flatMap((group) =>
    variablesOf(group).map((variable) => {
      const spec = VARIABLES[variable];
      return { name: variable, secret: spec.secret, required: isRequired(spec), description: spec.description };
    }),
  );
}

/**
 * The cloud runtime: Node.js 20, what `npm test` runs the functions on (manager-node's own default
 * for new functions). The bundles target Node 16 and `npm run test:node-matrix` runs them on 16, 18
 * and 22 too; a function found on a runtime older than MIN_RUNTIME_MAJOR is drift.
 */
export const RUNTIME = 'Nodejs20.19';
export const MIN_RUNTIME_MAJOR = 16;

export const FUNCTIONS: FunctionSpec[] = [
  {
    name: 'ping',
    description: 'Health check: answers the caller OPENID from getWXContext.',
    runtime: RUNTIME,
    timeout: 3,
    memory: 128,
    env: envOf('ping'),
    triggers: [],
  },
  {
    name: 'face',
    description: 'Face verification (人脸核身): start, server-side confirm, status; v2 by default, v1 legacy.',
    runtime: RUNTIME,
    timeout: 20,
    memory: 256,
    env: envOf('face'),
    triggers: [{ name: 'sweep-expired-sessions', type: 'timer', config: '0 */30 * * * * *' }],
  },
  {
    name: 'realname',
    description:
      'WeChat real-name paths without a face: Pay authorization (fetch + decrypt + bind) and the city-service check.',
    runtime: RUNTIME,
    timeout: 20,
    memory: 256,
    env: envOf('realname'),
    triggers: [{ name: 'sweep-expired-records', type: 'timer', config: '0 30 * * * * *' }],
  },
  {
    name: 'roster',
    description: 'Roster import (Excel → database): validated, idempotent, batched, resumable, admin-only.',
    runtime: RUNTIME,
    timeout: 60,
    memory: 256,
    env: envOf('roster'),
    triggers: [{ name: 'sweep-abandoned-jobs', type: 'timer', config: '0 0 * * * * *' }],
  },
  {
    name: 'review',
    description: 'Staff verification (人工核验) of identity documents: submit, queue, decide.',
    runtime: RUNTIME,
    timeout: 20,
    memory: 256,
    env: envOf('review'),
    triggers: [],
  },
  {
    name: 'identity',
    description: "The caller's identity: the methods offered, their own bindings and consents, withdrawal.",
    runtime: RUNTIME,
    timeout: 20,
    memory: 256,
    env: envOf('identity'),
    triggers: [],
  },
  {
    name: 'admin',
    description: 'Admin views: person lookup, roster coverage, audit trail, masked export; the retention timer.',
    runtime: RUNTIME,
    timeout: 60,
    memory: 256,
    env: envOf('admin'),
    triggers: [{ name: 'purge-retention', type: 'timer', config: '0 0 3 * * * *' }],
  },
  {
    name: 'profile',
    description: "An example of a team's own function: requires a verified caller (requireVerified).",
    runtime: RUNTIME,
    timeout: 10,
    memory: 128,
    env: envOf('profile'),
    triggers: [],
  },
];

export const SDK_VERSION = '4.0.2';

/** The manifest's entry for `name` (every function name of the contracts has one). */
export function functionSpec(name: string): FunctionSpec | undefined {
  return FUNCTIONS.find((f) => f.name === name);
}
