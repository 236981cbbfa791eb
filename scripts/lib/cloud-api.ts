/**
 * The management API of a CloudBase environment, behind one small interface of our own: a call is a
 * service (`tcb` or `scf`), an action and its parameters, answered with the action's response or
 * thrown as `CloudApiCallError` (the API's error code and message).
 *
 * - `managerApi`: the real thing, through `@cloudbase/manager-node` (the official management SDK that
 *   @cloudbase/cli uses): it signs each request (TC3-HMAC-SHA256) and sends it. For a sandbox, the
 *   service's `baseUrl` is overridden on that one service object to `<sandbox>/tcloud/<service>`; the
 *   signature, the body and the answers are the same as with Tencent Cloud.
 * - `dryRunApi`: makes no call at all; prints each one (secrets masked) and answers as a fresh, empty
 *   environment would, so a dry run walks the whole "create everything" path without keys or network.
 */
import type CloudBase from '@cloudbase/manager-node';

export type Service = 'tcb' | 'scf';
export type Params = Record<string, unknown>;

export interface CloudApi {
  call(service: Service, action: string, params: Params): Promise<Params>;
}

export class CloudApiCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly action: string,
  ) {
    super(`${action}: ${code}: ${message}`);
    this.name = 'CloudApiCallError';
  }
}

export interface CloudTarget {
  envId: string;
  secretId: string;
  secretKey: string;
  /** A sandbox's management API (`<sandbox>/tcloud`); unset: Tencent Cloud. */
  apiBase?: string;
  region?: string;
}

/** API versions of the services (as manager-node's CommonService uses them). */
const VERSIONS: Record<Service, string> = { tcb: '2018-06-08', scf: '2018-04-16' };

export function managerApi(target: CloudTarget): CloudApi {
  // Loaded on use: the dry run and the unit tests never need it.
  const Manager = require('@cloudbase/manager-node') as typeof CloudBase;
  const manager = new Manager({
    secretId: target.secretId,
    secretKey: target.secretKey,
    envId: target.envId,
    ...(target.region ? { region: target.region } : {}),
  });
  const services = new Map<Service, { call(options: { Action: string; Param: Params }): Promise<Params> }>();
  const serviceFor = (service: Service) => {
    let common = services.get(service);
    if (!common) {
      common = manager.commonService(service, VERSIONS[service]) as unknown as NonNullable<typeof common>;
      if (target.apiBase) {
        // The one service object's endpoint: nothing global changes (see the module comment).
        const inner = (common as unknown as { commonService: object }).commonService;
        Object.defineProperty(inner, 'baseUrl', { value: `${target.apiBase.replace(/\/+$/, '')}/${service}` });
      }
      services.set(service, common);
    }
    return common;
  };
  return {
    async call(service, action, params) {
      try {
        return await serviceFor(service).call({ Action: action, Param: params });
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown };
        throw new CloudApiCallError(String(e.code ?? 'Unknown'), String(e.message ?? err), `${service}.${action}`);
      }
    },
  };
}

/** Actions that only read: `Get…`, `Describe…`, `List…`, and `RunCommands` made only of queries. */
export function isRead(action: string, params: Params): boolean {
  if (/^(Get|Describe|List)/.test(action)) return true;
  if (action !== 'RunCommands') return false;
  const commands = params.MgoCommands;
  return (
    Array.isArray(commands) &&
    commands.length > 0 &&
    commands.every((c) => (c as { CommandType?: unknown } | null)?.CommandType === 'QUERY')
  );
}

/** The same API, refusing (before sending) every action that could change something: what `--check` uses. */
export function readOnlyApi(api: CloudApi): CloudApi {
  return {
    call(service, action, params) {
      if (!isRead(action, params)) {
        return Promise.reject(new Error(`${service}.${action} would change the environment: a check only reads`));
      }
      return api.call(service, action, params);
    },
  };
}

/** One line per call: `scf.CreateFunction { … }`, values of `secretKeys` masked, long blobs summarised. */
export function describeCall(
  service: Service,
  action: string,
  params: Params,
  secretKeys: ReadonlySet<string>,
): string {
  const mask = (value: unknown, key = ''): unknown => {
    if (typeof value === 'string') {
      if (secretKeys.has(key)) return value ? `<secret, ${value.length} characters>` : '<empty>';
      if (value.length > 200) return `<${value.length} characters>`;
      return value;
    }
    if (Array.isArray(value)) {
      // Environment.Variables: [{ Key, Value }]: the Value is masked by its Key.
      return value.map((item) =>
        item && typeof item === 'object' && 'Key' in item && 'Value' in item
          ? { Key: item.Key, Value: mask(item.Value, String(item.Key)) }
          : mask(item),
      );
    }
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v, k)]));
    }
    return value;
  };
  return `${service}.${action} ${JSON.stringify(mask(params))}`;
}

/**
 * A management API that calls nothing: every call is printed and answered as an empty environment
 * would answer it (environment info; nothing found; writes accepted).
 */
export function dryRunApi(
  target: Pick<CloudTarget, 'envId'>,
  print: (line: string) => void,
  secretKeys: ReadonlySet<string>,
): CloudApi {
  /** Functions this dry run "created": reading one back finds it Active, as the deploy waits for. */
  const created = new Set<string>();
  return {
    async call(service, action, params) {
      print(describeCall(service, action, params, secretKeys));
      if (action === 'CreateFunction') created.add(String(params.FunctionName));
      if (action === 'GetFunction' && created.has(String(params.FunctionName))) {
        return { FunctionName: params.FunctionName, Status: 'Active' };
      }
      if (action === 'DescribeEnvInfo') {
        return {
          EnvInfo: {
            EnvBaseInfo: {
              EnvId: target.envId,
              Databases: [{ InstanceId: '<database instance>' }],
              Storages: [{ Bucket: '<bucket>', Region: '<region>' }],
              Functions: [{ Namespace: target.envId }],
            },
          },
        };
      }
      if (/^(Get|Describe)/.test(action)) {
        throw new CloudApiCallError('ResourceNotFound', '(dry run: assumed absent)', `${service}.${action}`);
      }
      return {};
    },
  };
}
