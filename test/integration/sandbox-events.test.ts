/**
 * Events as the sandbox hands them to a function, as the platform does: a mini-program's call gets
 * `userInfo` { appId, openId } added (a client's own `userInfo` replaced); a server SDK call gets
 * `userInfo` with the appId alone. A function that answers its event shows what it received.
 */
import type { Sandbox } from '../../sandbox';
import { sandboxApi } from '../../scripts/lib/sandbox-deploy';
import { zip } from '../../scripts/lib/zip';
import { freshSandbox, post, sdkFor } from '../helpers/sandbox';

jest.setTimeout(120_000);

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await freshSandbox({ deploy: false });
  const code = zip(new Map([['index.js', Buffer.from('exports.main = async (event) => ({ event });\n')]]));
  await sandboxApi(sandbox).call('scf', 'CreateFunction', {
    FunctionName: 'echo',
    Namespace: sandbox.env,
    Runtime: 'Nodejs16.13',
    Handler: 'index.main',
    Timeout: 20,
    MemorySize: 128,
    InstallDependency: 'FALSE',
    Code: { ZipFile: code.toString('base64') },
  });
});

afterAll(async () => {
  await sandbox.stop();
});

describe('the event a function receives', () => {
  it('from a mini-program (the gateway): the data plus userInfo naming the caller; a client’s userInfo is replaced', async () => {
    const res = await post(
      sandbox,
      '/gateway/functions/echo',
      { action: 'ping', n: 1, userInfo: { openId: 'o_forged', appId: 'wx_forged' } },
      { 'X-WX-OPENID': 'o_echo_user' },
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      event: { action: 'ping', n: 1, userInfo: { appId: sandbox.secrets.appid, openId: 'o_echo_user' } },
    });
  });

  it('from the server SDK: the data plus userInfo with the appId alone (no user)', async () => {
    const cloud = sdkFor(sandbox, 'o_unused');
    const called = (await cloud.callFunction({ name: 'echo', data: { action: 'ping' } })) as { result: unknown };
    expect(called.result).toEqual({ event: { action: 'ping', userInfo: { appId: sandbox.secrets.appid } } });
  });

  it('a gateway body that is not an object is refused before any function runs', async () => {
    const res = await post(sandbox, '/gateway/functions/echo', [1, 2], { 'X-WX-OPENID': 'o_echo_user' });
    expect(res).toMatchObject({ status: 400, body: { error: 'request body must be a JSON object' } });
  });
});
