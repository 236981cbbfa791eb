import { makeIdCard } from '../../../miniprogram/shared/idcard';
import { certHash } from '../../../sandbox/wechat';
import { Harness } from './wechat-fixtures';

const CATEGORY = '/wxa/get_category';
const GET_VERIFY_ID = '/cityservice/face/identify/getverifyid';

describe('injected faults', () => {
  it('answers -1 system error for the next `times` calls, then recovers (retryable)', async () => {
    const h = new Harness();
    expect(h.emulator.injectFault({ path: CATEGORY, errcode: -1, times: 2 })).toEqual({
      status: 200,
      body: { path: CATEGORY, times: 2 },
    });
    expect((await h.get(CATEGORY)).body).toEqual({ errcode: -1, errmsg: 'system error' });
    expect((await h.get(CATEGORY)).body).toEqual({ errcode: -1, errmsg: 'system error' });
    expect((await h.get(CATEGORY)).body.errcode).toBe(0);
  });

  it('applies before the access_token check and only to its own path', async () => {
    const h = new Harness();
    h.emulator.injectFault({ path: CATEGORY, errcode: -1 });
    expect((await h.raw('POST', GET_VERIFY_ID, {}, {})).body.errcode).toBe(41001);
    expect((await h.raw('GET', CATEGORY, {})).body.errcode).toBe(-1);
    expect((await h.raw('GET', CATEGORY, {})).body.errcode).toBe(41001);
  });

  it('a 40001 fault forces a refetch without invalidating the real token', async () => {
    const h = new Harness();
    h.emulator.injectFault({ path: GET_VERIFY_ID, errcode: 40001 });
    const body = {
      out_seq_no: 'seq_fault_1',
      openid: 'oRRn15NUibB0sandboxUser0001',
      cert_info: { cert_type: 'IDENTITY_CARD', cert_name: '张三', cert_no: makeIdCard('440106', '19900101', '123') },
    };
    expect((await h.post(GET_VERIFY_ID, body)).body).toEqual({
      errcode: 40001,
      errmsg: 'invalid credential, access_token is invalid or not latest',
    });
    const again = await h.post(GET_VERIFY_ID, body);
    expect(again.body).toMatchObject({ errcode: 0, expires_in: 3600 });
    expect(certHash('IDENTITY_CARD', '张三', body.cert_info.cert_no)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('can break the token endpoints themselves', async () => {
    const h = new Harness();
    h.emulator.injectFault({ path: '/cgi-bin/stable_token', errcode: -1 });
    expect((await h.stableToken()).body.errcode).toBe(-1);
    expect((await h.stableToken()).body.errcode).toBe(0);
  });

  it('queues rules on one path in order', async () => {
    const h = new Harness();
    h.emulator.injectFault({ path: CATEGORY, errcode: 45011 });
    h.emulator.injectFault({ path: CATEGORY, errcode: 12345 });
    expect((await h.get(CATEGORY)).body).toEqual({ errcode: 45011, errmsg: 'api minute-quota reach limit' });
    expect((await h.get(CATEGORY)).body).toEqual({ errcode: 12345, errmsg: 'injected fault 12345' });
  });

  it('delays answers by latencyMs, alone or with an errcode', async () => {
    const h = new Harness();
    await h.get(CATEGORY);
    // Timers are the test's: "delayed" and "not delayed" are told apart by events, not by how fast
    // the machine is.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const settled = (answer: Promise<unknown>) => {
        const state = { done: false };
        void answer.then(() => (state.done = true));
        return state;
      };
      h.emulator.injectFault({ path: CATEGORY, latencyMs: 150 });
      let pending = h.get(CATEGORY);
      let state = settled(pending);
      await jest.advanceTimersByTimeAsync(149);
      expect(state.done).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect((await pending).body.errcode).toBe(0);

      h.emulator.injectFault({ path: CATEGORY, latencyMs: 1000, errcode: -1 });
      pending = h.get(CATEGORY);
      state = settled(pending);
      await jest.advanceTimersByTimeAsync(999);
      expect(state.done).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect((await pending).body.errcode).toBe(-1);

      // The fault was used up: the next answer comes with no time advanced.
      pending = h.get(CATEGORY);
      state = settled(pending);
      await jest.advanceTimersByTimeAsync(0);
      expect(state.done).toBe(true);
      expect((await pending).body.errcode).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('close() wakes requests waiting on latency', async () => {
    const h = new Harness();
    await h.get(CATEGORY);
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      h.emulator.injectFault({ path: CATEGORY, latencyMs: 60_000 });
      const pending = h.get(CATEGORY);
      await jest.advanceTimersByTimeAsync(10);
      expect(jest.getTimerCount()).toBe(1);
      // Woken by close(), with no timer advanced: not by the 60 s running out.
      h.emulator.close();
      await pending;
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it.each([
    ['not an object', null, 'a JSON object is expected'],
    ['no path', { errcode: -1 }, 'path must start with "/"'],
    ['a relative path', { path: 'wxa/get_category', errcode: -1 }, 'path must start with "/"'],
    ['errcode 0', { path: CATEGORY, errcode: 0 }, 'errcode must be a non-zero integer'],
    ['a string errcode', { path: CATEGORY, errcode: '-1' }, 'errcode must be a non-zero integer'],
    ['times 0', { path: CATEGORY, errcode: -1, times: 0 }, 'times must be an integer from 1 to 10000'],
    ['negative latency', { path: CATEGORY, latencyMs: -5 }, 'latencyMs must be an integer from 0 to 60000'],
    ['neither errcode nor latency', { path: CATEGORY, times: 3 }, 'give errcode, latencyMs or both'],
  ])('answers 400 for %s', (_label, input, error) => {
    expect(new Harness().emulator.injectFault(input as never)).toEqual({ status: 400, body: { error } });
  });
});

describe('privacy', () => {
  it('writes nothing to the console or stdout/stderr during a full flow', async () => {
    const spies = [
      ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => jest.spyOn(console, m)),
      jest.spyOn(process.stdout, 'write'),
      jest.spyOn(process.stderr, 'write'),
    ];
    try {
      const h = new Harness({ pushFaceEvent: () => Promise.resolve(false) });
      const id = makeIdCard('440106', '19900101', '123');
      const key = await h.post('/cityservice/face/identify/getuseridkey', {
        name: '张三',
        id_card_number: id,
        out_seq_no: 'seq_p1',
      });
      h.emulator.completeFace({
        openid: 'oRRn15NUibB0sandboxUser0001',
        userIdKey: String(key.body.user_id_key),
        outcome: 'pass',
      });
      h.emulator.completeFace({
        openid: 'oRRn15NUibB0sandboxUser0001',
        name: '张三',
        idCardNumber: 'bad',
        outcome: 'pass',
      });
      h.emulator.authorizeRealname({ openid: 'o1', name: '张三', idCardNumber: id });
      await h.post('/cgi-bin/wxopen/getrealnameinfo', { auth_token: 'x' });
      await new Promise((resolve) => setTimeout(resolve, 150));
      h.emulator.close();
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});
