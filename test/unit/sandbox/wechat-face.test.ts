import { createHash } from 'node:crypto';
import { makeIdCard } from '../../../miniprogram/shared/idcard';
import { certHash, type FaceIdentifyEvent } from '../../../sandbox/wechat';
import { Harness } from './wechat-fixtures';

const GET_VERIFY_ID = '/cityservice/face/identify/getverifyid';
const QUERY = '/cityservice/face/identify/queryverifyinfo';
const GET_KEY = '/cityservice/face/identify/getuseridkey';
const GET_INFO = '/cityservice/face/identify/getinfo';

const OPENID = 'oRRn15NUibB0sandboxUser0001';
const OTHER_OPENID = 'oRRn15NUibB0sandboxUser0002';
const NAME = '张三';
const ID = makeIdCard('440106', '19900101', '123');
const OTHER_NAME = '李四';
const OTHER_ID = makeIdCard('110101', '19851212', '456');
/** The standard's own example, ending in X. */
const ID_X = '11010519491231002X';

const md5 = (value: string): string => createHash('md5').update(value, 'utf8').digest('hex');
let seq = 0;
const nextSeqNo = (): string => `seq_${Date.now()}_${(seq += 1)}`;

describe('cert_hash', () => {
  it('matches the worked example of the official docs', () => {
    expect(certHash('IDENTITY_CARD', '张三', '310101199801011234')).toBe(
      '3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b',
    );
  });
});

describe('face verification, second generation', () => {
  async function start(h: Harness, name = NAME, certNo = ID) {
    const outSeqNo = nextSeqNo();
    const res = await h.post(GET_VERIFY_ID, {
      out_seq_no: outSeqNo,
      cert_info: { cert_type: 'IDENTITY_CARD', cert_name: name, cert_no: certNo },
      openid: OPENID,
    });
    expect(res.body).toMatchObject({ errcode: 0, errmsg: 'ok', expires_in: 3600 });
    const verifyId = String(res.body.verify_id);
    const query = {
      verify_id: verifyId,
      out_seq_no: outSeqNo,
      cert_hash: certHash('IDENTITY_CARD', name, certNo),
      openid: OPENID,
    };
    return { verifyId, outSeqNo, query };
  }

  it('passes after a completed pass, and answers the same on replay (no single use)', async () => {
    const h = new Harness();
    const { verifyId, query } = await start(h);
    expect(h.emulator.completeFace({ openid: OPENID, verifyId, outcome: 'pass' })).toEqual({
      status: 200,
      body: { verifyId, errCode: 0 },
    });
    expect((await h.post(QUERY, query)).body).toEqual({ errcode: 0, errmsg: 'ok', verify_ret: 10000 });
    expect((await h.post(QUERY, query)).body).toEqual({ errcode: 0, errmsg: 'ok', verify_ret: 10000 });
  });

  it('answers 84003 (not finished) before completion', async () => {
    const h = new Harness();
    const { query } = await start(h);
    expect((await h.post(QUERY, query)).body.errcode).toBe(84003);
  });

  it.each([
    ['fail', 10004, 10004],
    ['cancel', 90100, 90100],
  ] as const)('reports outcome %s as verify_ret %i', async (outcome, verifyRet, errCode) => {
    const h = new Harness();
    const { verifyId, query } = await start(h);
    expect(h.emulator.completeFace({ openid: OPENID, verifyId, outcome }).body).toEqual({ verifyId, errCode });
    expect((await h.post(QUERY, query)).body).toEqual({ errcode: 0, errmsg: 'ok', verify_ret: verifyRet });
  });

  it('never passes when the face matched someone else', async () => {
    const h = new Harness();
    const { verifyId, query } = await start(h);
    h.emulator.completeFace({ openid: OPENID, verifyId, outcome: 'pass', name: OTHER_NAME, idCardNumber: OTHER_ID });
    const res = await h.post(QUERY, query);
    expect(res.body.errcode).toBe(0);
    expect(res.body.verify_ret).not.toBe(10000);
    // Asking with the other identity's hash is a tampered cert_info: an errcode, never a verify_ret.
    const swapped = await h.post(QUERY, { ...query, cert_hash: certHash('IDENTITY_CARD', OTHER_NAME, OTHER_ID) });
    expect(swapped.body.errcode).toBe(40097);
    expect(swapped.body).not.toHaveProperty('verify_ret');
  });

  it('treats the same identity typed differently (lower-case x) as a match', async () => {
    const h = new Harness();
    const { verifyId, query } = await start(h, NAME, ID_X);
    h.emulator.completeFace({
      openid: OPENID,
      verifyId,
      outcome: 'pass',
      name: NAME,
      idCardNumber: ID_X.toLowerCase(),
    });
    expect((await h.post(QUERY, query)).body.verify_ret).toBe(10000);
  });

  it('refuses a query whose openid, out_seq_no or verify_id does not match the session', async () => {
    const h = new Harness();
    const { verifyId, query } = await start(h);
    h.emulator.completeFace({ openid: OPENID, verifyId, outcome: 'pass' });
    expect((await h.post(QUERY, { ...query, openid: OTHER_OPENID })).body.errcode).toBe(40097);
    expect((await h.post(QUERY, { ...query, out_seq_no: 'another_seq' })).body.errcode).toBe(40097);
    expect((await h.post(QUERY, { ...query, verify_id: 'unknown-verify-id' })).body.errcode).toBe(84001);
    expect((await h.post(QUERY, { ...query, cert_hash: undefined })).body.errcode).toBe(47001);
  });

  it('refuses completion by another user (400)', async () => {
    const h = new Harness();
    const { verifyId, query } = await start(h);
    expect(h.emulator.completeFace({ openid: OTHER_OPENID, verifyId, outcome: 'pass' })).toEqual({
      status: 400,
      body: { error: 'openid does not match the verifyId session' },
    });
    expect((await h.post(QUERY, query)).body.errcode).toBe(84003);
  });

  it('expires an uncompleted verify_id after 3600 s', async () => {
    const h = new Harness();
    const { verifyId, query } = await start(h);
    h.clock.advance(3600);
    expect(h.emulator.completeFace({ openid: OPENID, verifyId, outcome: 'pass' })).toEqual({
      status: 400,
      body: { error: 'verifyId expired' },
    });
    expect((await h.post(QUERY, query)).body.errcode).toBe(84002);
  });

  it('keeps a completed result queryable for an hour after completion', async () => {
    const h = new Harness();
    const { verifyId, query } = await start(h);
    h.clock.advance(3000);
    h.emulator.completeFace({ openid: OPENID, verifyId, outcome: 'pass' });
    h.clock.advance(3599);
    expect((await h.post(QUERY, query)).body.verify_ret).toBe(10000);
    h.clock.advance(1);
    expect((await h.post(QUERY, query)).body).toEqual({ errcode: 84002, errmsg: 'verify result expired' });
  });

  it('lets a verify_id be completed once', async () => {
    const h = new Harness();
    const { verifyId } = await start(h);
    expect(h.emulator.completeFace({ openid: OPENID, verifyId, outcome: 'cancel' }).status).toBe(200);
    expect(h.emulator.completeFace({ openid: OPENID, verifyId, outcome: 'pass' })).toEqual({
      status: 400,
      body: { error: 'verifyId already completed' },
    });
  });

  it.each([
    ['an empty body', undefined, 44002],
    ['a body that is not an object', [1, 2], 47001],
    ['no cert_info', { out_seq_no: 'seq_00001', openid: OPENID }, 47001],
    [
      'no cert_name',
      { out_seq_no: 'seq_00001', openid: OPENID, cert_info: { cert_type: 'IDENTITY_CARD', cert_no: ID } },
      47001,
    ],
    [
      'a malformed openid',
      {
        out_seq_no: 'seq_00001',
        openid: 'o!',
        cert_info: { cert_type: 'IDENTITY_CARD', cert_name: NAME, cert_no: ID },
      },
      40003,
    ],
    [
      'a short out_seq_no',
      { out_seq_no: 'ab', openid: OPENID, cert_info: { cert_type: 'IDENTITY_CARD', cert_name: NAME, cert_no: ID } },
      40097,
    ],
    [
      'another cert_type',
      { out_seq_no: 'seq_00001', openid: OPENID, cert_info: { cert_type: 'PASSPORT', cert_name: NAME, cert_no: ID } },
      40097,
    ],
    [
      'a bad checksum',
      {
        out_seq_no: 'seq_00001',
        openid: OPENID,
        cert_info: {
          cert_type: 'IDENTITY_CARD',
          cert_name: NAME,
          cert_no: `${ID.slice(0, 17)}${ID.endsWith('0') ? '1' : '0'}`,
        },
      },
      40097,
    ],
  ])('getverifyid refuses %s', async (_label, body, errcode) => {
    expect((await new Harness().post(GET_VERIFY_ID, body)).body.errcode).toBe(errcode);
  });

  it('getverifyid refuses a reused out_seq_no', async () => {
    const h = new Harness();
    const body = {
      out_seq_no: 'seq_reused',
      openid: OPENID,
      cert_info: { cert_type: 'IDENTITY_CARD', cert_name: NAME, cert_no: ID },
    };
    expect((await h.post(GET_VERIFY_ID, body)).body.errcode).toBe(0);
    expect((await h.post(GET_VERIFY_ID, body)).body).toEqual({
      errcode: 40097,
      errmsg: 'invalid args: out_seq_no already used',
    });
  });
});

describe('completeFace input validation', () => {
  it.each([
    ['not an object', 'x', 'a JSON object is expected'],
    ['no openid', { outcome: 'pass', verifyId: 'v' }, 'openid must be 6-64 characters of [A-Za-z0-9_-]'],
    ['a bad outcome', { openid: OPENID, outcome: 'ok', verifyId: 'v' }, "outcome must be 'pass', 'fail' or 'cancel'"],
    ['an unknown verifyId', { openid: OPENID, outcome: 'pass', verifyId: 'nope' }, 'unknown verifyId'],
    ['an unknown userIdKey', { openid: OPENID, outcome: 'pass', userIdKey: 'nope' }, 'unknown userIdKey'],
    [
      'both session kinds',
      { openid: OPENID, outcome: 'pass', verifyId: 'a', userIdKey: 'b' },
      'give verifyId or userIdKey, not both',
    ],
    ['nothing to verify', { openid: OPENID, outcome: 'pass' }, 'give verifyId, userIdKey, or name and idCardNumber'],
    ['a name without ID', { openid: OPENID, outcome: 'pass', name: NAME }, 'give name and idCardNumber together'],
    ['an empty verifyId', { openid: OPENID, outcome: 'pass', verifyId: '' }, 'verifyId must be a non-empty string'],
    [
      'an invalid ID',
      { openid: OPENID, outcome: 'pass', name: NAME, idCardNumber: '123' },
      'idCardNumber is invalid (ID_FORMAT)',
    ],
  ])('answers 400 for %s', (_label, input, error) => {
    const h = new Harness();
    expect(h.emulator.completeFace(input as never)).toEqual({ status: 400, body: { error } });
  });
});

describe('face verification, first generation', () => {
  async function key(h: Harness, body: Record<string, unknown> = { name: NAME, id_card_number: ID }): Promise<string> {
    const res = await h.post(GET_KEY, body);
    expect(res.body).toMatchObject({ errcode: 0, errmsg: 'ok', expires_in: 3600 });
    return String(res.body.user_id_key);
  }

  it('returns the result with md5s of the matched identity, the same on replay', async () => {
    const h = new Harness();
    const userIdKey = await key(h, { name: NAME, id_card_number: ID_X.toLowerCase() });
    const done = h.emulator.completeFace({ openid: OPENID, userIdKey, outcome: 'pass' });
    expect(done).toEqual({ status: 200, body: { verifyResult: expect.any(String), errCode: 0 } });
    const verifyResult = (done.body as { verifyResult: string }).verifyResult;
    const expected = {
      errcode: 0,
      errmsg: 'ok',
      identify_ret: 0,
      identify_time: Math.floor(h.clock.now() / 1000),
      validate_data: expect.stringMatching(/^\d{4}$/),
      openid: OPENID,
      user_id_key: userIdKey,
      finish_time: Math.floor(h.clock.now() / 1000),
      id_card_number_md5: md5(ID_X),
      name_utf8_md5: md5(NAME),
    };
    expect((await h.post(GET_INFO, { verify_result: verifyResult })).body).toEqual(expected);
    h.clock.advance(60);
    expect((await h.post(GET_INFO, { verify_result: verifyResult })).body).toEqual(expected);
  });

  it('supports the client-side path (name and ID from the page, no key)', async () => {
    const h = new Harness();
    const done = h.emulator.completeFace({ openid: OPENID, name: NAME, idCardNumber: ID, outcome: 'pass' });
    const info = await h.post(GET_INFO, { verify_result: (done.body as { verifyResult: string }).verifyResult });
    expect(info.body).toMatchObject({
      identify_ret: 0,
      user_id_key: '',
      id_card_number_md5: md5(ID),
      name_utf8_md5: md5(NAME),
    });
  });

  it('reports the identity the face actually matched', async () => {
    const h = new Harness();
    const userIdKey = await key(h);
    const done = h.emulator.completeFace({
      openid: OTHER_OPENID,
      userIdKey,
      outcome: 'pass',
      name: OTHER_NAME,
      idCardNumber: OTHER_ID,
    });
    const info = await h.post(GET_INFO, { verify_result: (done.body as { verifyResult: string }).verifyResult });
    expect(info.body).toMatchObject({
      openid: OTHER_OPENID,
      id_card_number_md5: md5(OTHER_ID),
      name_utf8_md5: md5(OTHER_NAME),
    });
    expect(info.body.id_card_number_md5).not.toBe(md5(ID));
  });

  it.each([
    ['fail', 10004],
    ['cancel', 90100],
  ] as const)('reports outcome %s as identify_ret %i', async (outcome, ret) => {
    const h = new Harness();
    const done = h.emulator.completeFace({ openid: OPENID, userIdKey: await key(h), outcome });
    expect(done.body).toMatchObject({ errCode: ret });
    const info = await h.post(GET_INFO, { verify_result: (done.body as { verifyResult: string }).verifyResult });
    expect(info.body).toMatchObject({ errcode: 0, identify_ret: ret });
  });

  it('answers 84001 invalid, 84003 unknown, 84002 after 5 minutes', async () => {
    const h = new Harness();
    const done = h.emulator.completeFace({ openid: OPENID, userIdKey: await key(h), outcome: 'pass' });
    const verifyResult = (done.body as { verifyResult: string }).verifyResult;
    expect((await h.post(GET_INFO, { verify_result: 'short!' })).body.errcode).toBe(84001);
    expect((await h.post(GET_INFO, { verify_result: 'A'.repeat(128) })).body.errcode).toBe(84003);
    expect((await h.post(GET_INFO, {})).body.errcode).toBe(47001);
    h.clock.advance(299);
    expect((await h.post(GET_INFO, { verify_result: verifyResult })).body.errcode).toBe(0);
    h.clock.advance(1);
    expect((await h.post(GET_INFO, { verify_result: verifyResult })).body).toEqual({
      errcode: 84002,
      errmsg: 'user info expired',
    });
  });

  it('refuses getuseridkey without name or ID (84006) or with an invalid ID (40097), and expires keys', async () => {
    const h = new Harness();
    expect((await h.post(GET_KEY, { name: NAME })).body.errcode).toBe(84006);
    expect((await h.post(GET_KEY, { name: NAME, id_card_number: '440106199001011234' })).body.errcode).toBe(40097);
    expect((await h.post(GET_KEY, { name: NAME, id_card_number: ID, out_seq_no: 42 })).body.errcode).toBe(47001);
    const userIdKey = await key(h);
    h.clock.advance(3600);
    expect(h.emulator.completeFace({ openid: OPENID, userIdKey, outcome: 'pass' })).toEqual({
      status: 400,
      body: { error: 'userIdKey expired' },
    });
  });
});

describe('face_identify push', () => {
  afterEach(() => jest.useRealTimers());

  it('is delivered after completion when out_seq_no was given, retrying failures', async () => {
    const attempts: FaceIdentifyEvent[] = [];
    let delivered!: (event: FaceIdentifyEvent) => void;
    const done = new Promise<FaceIdentifyEvent>((resolve) => (delivered = resolve));
    const h = new Harness({
      pushFaceEvent: async (event) => {
        attempts.push(event);
        if (attempts.length === 1) return false;
        if (attempts.length === 2) throw new Error('receiver down');
        delivered(event);
        return true;
      },
    });
    const res = await h.post(GET_KEY, { name: NAME, id_card_number: ID, out_seq_no: 'order_0001' });
    const completed = h.emulator.completeFace({
      openid: OPENID,
      userIdKey: String(res.body.user_id_key),
      outcome: 'pass',
    });
    const event = await done;
    expect(attempts).toHaveLength(3);
    expect(event).toEqual({
      ToUserName: expect.stringMatching(/^gh_[0-9a-f]{12}$/),
      FromUserName: OPENID,
      CreateTime: Math.floor(h.clock.now() / 1000),
      MsgType: 'event',
      Event: 'face_identify',
      openid: OPENID,
      out_seq_no: 'order_0001',
      verify_result: (completed.body as { verifyResult: string }).verifyResult,
    });
    h.emulator.close();
  });

  it('gives up after about 5 s, and close() cancels pending retries', async () => {
    jest.useFakeTimers();
    let calls = 0;
    const h = new Harness({ pushFaceEvent: () => Promise.resolve(((calls += 1), false)) });
    const res = await h.post(GET_KEY, { name: NAME, id_card_number: ID, out_seq_no: 'order_0002' });
    h.emulator.completeFace({ openid: OPENID, userIdKey: String(res.body.user_id_key), outcome: 'pass' });
    await jest.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(8);

    calls = 0;
    const again = await h.post(GET_KEY, { name: NAME, id_card_number: ID, out_seq_no: 'order_0003' });
    h.emulator.completeFace({ openid: OPENID, userIdKey: String(again.body.user_id_key), outcome: 'pass' });
    await jest.advanceTimersByTimeAsync(150);
    expect(calls).toBe(2);
    h.emulator.close();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(2);
  });

  it('is not sent without out_seq_no', async () => {
    const push = jest.fn(() => Promise.resolve(true));
    const h = new Harness({ pushFaceEvent: push });
    const res = await h.post(GET_KEY, { name: NAME, id_card_number: ID });
    h.emulator.completeFace({ openid: OPENID, userIdKey: String(res.body.user_id_key), outcome: 'pass' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(push).not.toHaveBeenCalled();
  });
});
