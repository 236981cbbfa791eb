/**
 * services/cloud.ts without a network: what `callCloud` answers when no answer of the function came.
 * The platform's rejections are doubled on `wx.cloud` (cloud mode) and `wx.request` (sandbox mode).
 */
import { config } from '../../miniprogram/config';
import { callCloud } from '../../miniprogram/services/cloud';
import '../helpers/simulate';

const device = wx as unknown as Record<string, unknown>;
const saved = { cloud: device.cloud, request: device.request };
let warn: jest.SpyInstance;

beforeEach(() => {
  warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
});
afterEach(() => {
  warn.mockRestore();
  device.cloud = saved.cloud;
  device.request = saved.request;
  config.mode = 'sandbox';
});

function cloudRejecting(rejection: unknown, init: () => void = () => undefined) {
  config.mode = 'cloud';
  device.cloud = { init, callFunction: jest.fn(() => Promise.reject(rejection)) };
}

// First: `wx.cloud.init` runs once per app run, on the first cloud call.
it('a platform API that throws (wx.cloud.init) is a NETWORK failure with a message, never a bare { ok: false }', async () => {
  cloudRejecting(undefined, () => {
    throw new Error('cloud not enabled');
  });
  await expect(callCloud('ping', 'ping', {})).resolves.toEqual({
    ok: false,
    code: 'NETWORK',
    message: '网络异常，请检查网络后重试',
  });
  expect(warn).toHaveBeenCalledWith('[callCloud] ping.ping failed:', 'Error: cloud not enabled');
});

it.each([
  [{ errCode: -504002, errMsg: 'cloud.callFunction:fail -504002 functions execute fail' }, 'INTERNAL'],
  [{ errCode: -404011, errMsg: 'cloud.callFunction:fail -404011 cloud function execution error' }, 'INTERNAL'],
  [{ errCode: -501000, errMsg: 'cloud.callFunction:fail -501000 FunctionName not found' }, 'INTERNAL'],
  [{ errCode: -1, errMsg: 'cloud.callFunction:fail Error: errCode: -504002 functions execute fail' }, 'INTERNAL'],
  [{ errCode: -1, errMsg: 'cloud.callFunction:fail request:fail timeout' }, 'NETWORK'],
  [{ errMsg: 'cloud.callFunction:fail request:fail' }, 'NETWORK'],
  [new Error('offline'), 'NETWORK'],
])('a rejection %p is %s', async (rejection, code) => {
  cloudRejecting(rejection);
  const res = await callCloud('ping', 'ping', {});
  expect(res).toMatchObject({ ok: false, code });
  expect(!res.ok && res.message).toMatch(/[\u4e00-\u9fa5]/);
});

it('in sandbox mode: a non-200 from the gateway is INTERNAL, a failed request NETWORK, a throw NETWORK', async () => {
  config.mode = 'sandbox';
  type Options = { success: (res: unknown) => void; fail: (err: unknown) => void };
  device.request = jest.fn((o: Options) => o.success({ statusCode: 502, data: { error: 'function exited' } }));
  await expect(callCloud('ping', 'ping', {})).resolves.toMatchObject({ code: 'INTERNAL' });
  device.request = jest.fn((o: Options) => o.fail({ errMsg: 'request:fail timeout' }));
  await expect(callCloud('ping', 'ping', {})).resolves.toMatchObject({ code: 'NETWORK' });
  device.request = jest.fn(() => {
    throw new TypeError('request is not a function');
  });
  await expect(callCloud('ping', 'ping', {})).resolves.toMatchObject({ code: 'NETWORK' });
});

it('a release build never talks to the sandbox, whatever the config says: a clear refusal instead', async () => {
  config.mode = 'sandbox';
  const request = jest.fn();
  device.request = request;
  const account = device.getAccountInfoSync;
  device.getAccountInfoSync = () => ({ miniProgram: { envVersion: 'release', appId: 'wx1234567890abcdef' } });
  try {
    const res = await callCloud('ping', 'ping', {});
    expect(res).toMatchObject({ ok: false, code: 'NOT_CONFIGURED' });
    expect(!res.ok && res.message).toContain('正式版不能连接本地沙箱');
    expect(request).not.toHaveBeenCalled();
    // 体验版 and 开发版 may.
    device.getAccountInfoSync = () => ({ miniProgram: { envVersion: 'trial', appId: 'wx1234567890abcdef' } });
    type Options = { success: (res: unknown) => void };
    device.request = jest.fn((o: Options) => o.success({ statusCode: 200, data: { ok: true, openid: 'o' } }));
    await expect(callCloud('ping', 'ping', {})).resolves.toMatchObject({ ok: true });
    // A version it cannot tell counts as release: refused rather than risked.
    request.mockClear();
    device.request = request;
    device.getAccountInfoSync = () => {
      throw new TypeError('getAccountInfoSync is not a function');
    };
    await expect(callCloud('ping', 'ping', {})).resolves.toMatchObject({ ok: false, code: 'NOT_CONFIGURED' });
    device.getAccountInfoSync = () => ({ miniProgram: { appId: 'wx1234567890abcdef' } });
    await expect(callCloud('ping', 'ping', {})).resolves.toMatchObject({ ok: false, code: 'NOT_CONFIGURED' });
    expect(request).not.toHaveBeenCalled();
  } finally {
    device.getAccountInfoSync = account;
  }
});
