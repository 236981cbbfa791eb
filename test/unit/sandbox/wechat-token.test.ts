import { APPID, Harness, SECRET } from './wechat-fixtures';

const CATEGORY = '/wxa/get_category';

async function categoryWith(h: Harness, token: string): Promise<unknown> {
  return (await h.raw('GET', CATEGORY, { access_token: token })).body.errcode;
}

describe('POST /cgi-bin/stable_token', () => {
  it('returns the same still-valid token with the remaining lifetime on normal calls', async () => {
    const h = new Harness();
    const first = await h.stableToken();
    expect(first).toEqual({
      status: 200,
      body: { errcode: 0, errmsg: 'ok', access_token: expect.any(String), expires_in: 7200 },
    });
    h.clock.advance(1000);
    const second = await h.stableToken({ force_refresh: false });
    expect(second.body).toMatchObject({ access_token: first.body.access_token, expires_in: 6200 });
    expect(await categoryWith(h, String(first.body.access_token))).toBe(0);
  });

  it('issues a new token in the last 5 minutes and keeps the old one valid until its own expiry', async () => {
    const h = new Harness();
    const old = String((await h.stableToken()).body.access_token);
    h.clock.advance(7200 - 200);
    const fresh = await h.stableToken();
    expect(fresh.body.access_token).not.toBe(old);
    expect(fresh.body.expires_in).toBe(7200);
    expect(await categoryWith(h, old)).toBe(0);
    h.clock.advance(200);
    expect(await categoryWith(h, old)).toBe(42001);
    expect(await categoryWith(h, String(fresh.body.access_token))).toBe(0);
  });

  it('force_refresh invalidates the previous token at once (40001)', async () => {
    const h = new Harness();
    const old = String((await h.stableToken()).body.access_token);
    const forced = await h.stableToken({ force_refresh: true });
    expect(forced.body).toMatchObject({ errcode: 0, expires_in: 7200 });
    expect(forced.body.access_token).not.toBe(old);
    expect(await categoryWith(h, old)).toBe(40001);
    expect(await categoryWith(h, String(forced.body.access_token))).toBe(0);
  });

  it('does not refresh again within 30 s and allows 20 force refreshes a day', async () => {
    const h = new Harness();
    const first = String((await h.stableToken({ force_refresh: true })).body.access_token);
    h.clock.advance(10);
    expect((await h.stableToken({ force_refresh: true })).body.access_token).toBe(first);
    for (let i = 2; i <= 20; i += 1) {
      h.clock.advance(31);
      expect((await h.stableToken({ force_refresh: true })).body.errcode).toBe(0);
    }
    h.clock.advance(31);
    expect((await h.stableToken({ force_refresh: true })).body).toEqual({
      errcode: 45009,
      errmsg: 'reach max api daily quota limit',
    });
    h.clock.advance(86_400);
    expect((await h.stableToken({ force_refresh: true })).body.errcode).toBe(0);
  });

  it.each([
    ['a wrong appid', { appid: 'wx0000000000000000' }, 40013],
    ['a wrong secret', { secret: 'wrong-secret' }, 40125],
    ['a wrong grant_type', { grant_type: 'password' }, 40002],
    ['an empty appid', { appid: '' }, 41002],
    ['no secret', { secret: undefined }, 41004],
    ['a non-boolean force_refresh', { force_refresh: 'yes' }, 47001],
  ])('refuses %s', async (_label, override, errcode) => {
    const h = new Harness();
    expect((await h.stableToken(override)).body.errcode).toBe(errcode);
  });

  it('refuses an empty body (44002) and GET (43002)', async () => {
    const h = new Harness();
    expect((await h.raw('POST', '/cgi-bin/stable_token', {}, undefined)).body.errcode).toBe(44002);
    expect((await h.raw('GET', '/cgi-bin/stable_token', {})).body.errcode).toBe(43002);
  });
});

describe('GET /cgi-bin/token', () => {
  const query = { grant_type: 'client_credential', appid: APPID, secret: SECRET };

  it('invalidates the previous token of its family on every call, leaving stable tokens alone', async () => {
    const h = new Harness();
    const stable = String((await h.stableToken()).body.access_token);
    const a = await h.raw('GET', '/cgi-bin/token', query);
    expect(a.body).toMatchObject({ errcode: 0, expires_in: 7200 });
    const b = await h.raw('GET', '/cgi-bin/token', query);
    expect(b.body.access_token).not.toBe(a.body.access_token);
    expect(await categoryWith(h, String(a.body.access_token))).toBe(40001);
    expect(await categoryWith(h, String(b.body.access_token))).toBe(0);
    expect(await categoryWith(h, stable)).toBe(0);
    // And the other way round: a forced stable refresh does not touch the basic token.
    await h.stableToken({ force_refresh: true });
    expect(await categoryWith(h, String(b.body.access_token))).toBe(0);
  });

  it.each([
    ['a wrong appid', { ...query, appid: 'wx0000000000000000' }, 40013],
    ['a wrong secret', { ...query, secret: 'nope' }, 40125],
    ['a wrong grant_type', { ...query, grant_type: 'authorization_code' }, 40002],
  ])('refuses %s', async (_label, q, errcode) => {
    expect((await new Harness().raw('GET', '/cgi-bin/token', q)).body.errcode).toBe(errcode);
  });

  it('requires GET (43001)', async () => {
    expect((await new Harness().raw('POST', '/cgi-bin/token', query, {})).body.errcode).toBe(43001);
  });
});

describe('access_token checks on the other APIs', () => {
  it('answers 41001 missing, 40014 malformed, 40001 unknown, 42001 expired', async () => {
    const h = new Harness();
    expect((await h.raw('GET', CATEGORY, {})).body).toEqual({ errcode: 41001, errmsg: 'access_token missing' });
    expect(await categoryWith(h, 'not a token')).toBe(40014);
    expect(await categoryWith(h, `1_${'A'.repeat(128)}`)).toBe(40001);
    const token = String((await h.stableToken()).body.access_token);
    h.clock.advance(7199);
    expect(await categoryWith(h, token)).toBe(0);
    h.clock.advance(1);
    expect((await h.raw('GET', CATEGORY, { access_token: token })).body).toEqual({
      errcode: 42001,
      errmsg: 'access_token expired',
    });
  });

  it('checks the token on every face and real-name endpoint', async () => {
    const h = new Harness();
    for (const path of [
      '/cityservice/face/identify/getverifyid',
      '/cityservice/face/identify/queryverifyinfo',
      '/cityservice/face/identify/getuseridkey',
      '/cityservice/face/identify/getinfo',
      '/cgi-bin/wxopen/getrealnameinfo',
    ]) {
      expect((await h.raw('POST', path, {}, {})).body.errcode).toBe(41001);
    }
  });
});

describe('routing and stats', () => {
  it('answers 404 for a path it does not emulate', async () => {
    const h = new Harness();
    expect(await h.raw('POST', '/wxa/msg_sec_check', {}, {})).toEqual({
      status: 404,
      body: { errcode: 404, errmsg: 'not emulated: /wxa/msg_sec_check' },
    });
  });

  it('counts calls per path, including failed ones and sandbox inputs', async () => {
    const h = new Harness();
    await h.stableToken();
    await h.stableToken({ secret: 'bad' });
    await h.get(CATEGORY);
    await h.raw('GET', '/nope', {});
    h.emulator.injectFault({ path: CATEGORY, errcode: -1 });
    expect(h.emulator.stats()).toEqual({
      '/cgi-bin/stable_token': 3,
      [CATEGORY]: 1,
      '/nope': 1,
      '/sandbox/faults': 1,
    });
  });
});
