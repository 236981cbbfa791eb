/**
 * The client finds the sandbox `npm start` started: miniprogram/sandbox-session.js (untracked) gives
 * its address and per-start token, and every sandbox request carries the token.
 */
import path from 'path';

const SESSION = path.resolve(__dirname, '../../miniprogram/sandbox-session.js');

type ConfigModule = typeof import('../../miniprogram/config');
type CloudModule = typeof import('../../miniprogram/services/cloud');

function load(session: unknown): { config: ConfigModule; cloud: CloudModule } {
  let loaded: { config: ConfigModule; cloud: CloudModule } | undefined;
  jest.isolateModules(() => {
    if (session === undefined)
      jest.doMock(
        SESSION,
        () => {
          throw new Error('Cannot find module');
        },
        { virtual: true },
      );
    else jest.doMock(SESSION, () => session, { virtual: true });
    loaded = {
      config: require('../../miniprogram/config') as ConfigModule,
      cloud: require('../../miniprogram/services/cloud') as CloudModule,
    };
  });
  return loaded!;
}

afterEach(() => jest.dontMock(SESSION));

it('uses the address and token npm start wrote, and sends the token with every gateway call', async () => {
  const { config, cloud } = load({ url: 'http://192.168.1.20:8787', token: 'tok-123' });
  expect(config.config.sandboxUrl).toBe('http://192.168.1.20:8787');
  expect(config.config.sandboxToken).toBe('tok-123');
  expect(config.sandboxHeaders()).toEqual({ 'X-Sandbox-Token': 'tok-123' });

  const request = jest.fn((o: { url: string; header: Record<string, string>; success: (r: unknown) => void }) =>
    o.success({ statusCode: 200, data: { ok: true, openid: 'o_demo_admin' } }),
  );
  const device = globalThis as unknown as { wx: Record<string, unknown> };
  device.wx = {
    request,
    getAccountInfoSync: () => ({ miniProgram: { envVersion: 'develop', appId: 'wx1234567890abcdef' } }),
  };
  await expect(cloud.callCloud('ping', 'ping', {})).resolves.toMatchObject({ ok: true });
  expect(request.mock.calls[0]![0].url).toBe('http://192.168.1.20:8787/gateway/functions/ping');
  expect(request.mock.calls[0]![0].header).toMatchObject({
    'X-Sandbox-Token': 'tok-123',
    'X-WX-OPENID': 'o_demo_admin',
  });
});

it('without the file (a clean clone): the default address, no token header', () => {
  const { config } = load(undefined);
  expect(config.config.sandboxUrl).toBe('http://127.0.0.1:8787');
  expect(config.config.sandboxToken).toBe('');
  expect(config.sandboxHeaders()).toEqual({});
});

it('ignores a file that does not hold strings', () => {
  const { config } = load({ url: 42, token: null });
  expect(config.config.sandboxUrl).toBe('http://127.0.0.1:8787');
  expect(config.sandboxHeaders()).toEqual({});
});
