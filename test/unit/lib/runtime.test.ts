/**
 * The caller as the adapter reads it (server/lib/runtime.ts `callerContext`): the environment an
 * operator proof is checked against comes from the platform, also when the invocation carries no
 * context keys (a call through the server SDK, a timer), and is empty only when the platform says
 * nothing (then no operator proof verifies: server/core/operator.ts).
 */
import { callerContext } from '../../../server/lib/runtime';

const NAMES = ['WX_CONTEXT_KEYS', 'WX_OPENID', 'WX_APPID', 'TCB_ENV', 'SCF_NAMESPACE'] as const;
let saved: Record<string, string | undefined>;

beforeEach(() => {
  saved = Object.fromEntries(NAMES.map((n) => [n, process.env[n]]));
  for (const n of NAMES) delete process.env[n];
});

afterEach(() => {
  for (const n of NAMES) {
    if (saved[n] === undefined) delete process.env[n];
    else process.env[n] = saved[n];
  }
});

describe('callerContext', () => {
  it('reads the openid, appid and environment the platform gives a mini-program call', () => {
    Object.assign(process.env, {
      WX_CONTEXT_KEYS: 'WX_OPENID,WX_APPID',
      WX_OPENID: 'o_user',
      WX_APPID: 'wx123',
      TCB_ENV: 'prod-1a2b',
    });
    expect(callerContext()).toEqual({ openid: 'o_user', appid: 'wx123', env: 'prod-1a2b' });
  });

  it('takes the environment from the runtime without context keys (an SDK call, a timer)', () => {
    process.env.TCB_ENV = 'prod-1a2b';
    expect(callerContext()).toEqual({ openid: '', appid: '', env: 'prod-1a2b' });
    delete process.env.TCB_ENV;
    process.env.SCF_NAMESPACE = 'prod-3c4d';
    expect(callerContext()).toEqual({ openid: '', appid: '', env: 'prod-3c4d' });
  });

  it('is empty when the platform names no environment', () => {
    expect(callerContext().env).toBe('');
  });
});
