/**
 * Face verification end to end, both generations: the real `face` function, run by the sandbox with
 * the real wx-server-sdk, against the emulated WeChat APIs; the user's side is simulated through
 * /sandbox/face/complete exactly as the client's sandbox screen does it.
 */
import { noticeVersion } from '../../miniprogram/shared/consent';
import type { Sandbox } from '../../sandbox';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { freshSandbox, openidHashOf, persistedText, post, until } from '../helpers/sandbox';

jest.setTimeout(120_000);

const PEOPLE = {
  alice: { name: '欧阳娜娜', idCardNumber: makeIdCard('440106', '19900307', '123') },
  bob: { name: '买买提·吐尔逊', idCardNumber: makeIdCard('650102', '19851120', '457') },
  carol: { name: '𠮷野家', idCardNumber: makeIdCard('110105', '19491231', '002') },
};

describe.each(['v2', 'v1'] as const)('face verification (%s)', (mode) => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await freshSandbox({
      functionEnv: { FACE_API_VERSION: mode, FACE_SESSION_TTL_SECONDS: '120', WECHAT_TIMEOUT_MS: '1000' },
    });
  });
  afterAll(async () => {
    const text = persistedText(sandbox);
    await sandbox.stop();
    // Nothing the sandbox persisted (database journal, storage, function logs) holds a test name or ID.
    for (const person of [...Object.values(PEOPLE), ...strangers.values()]) {
      expect(text).not.toContain(person.idCardNumber);
      expect(text).not.toContain(person.idCardNumber.slice(0, 14));
      expect(text).not.toContain(person.name);
    }
  });

  const face = (openid: string, event: Record<string, unknown>) =>
    post(sandbox, '/gateway/functions/face', event, { 'X-WX-OPENID': openid }).then((r) => r.body);

  /**
   * Someone of one's own per caller: one ID number may be started by 5 callers an hour
   * (FACE_START_CALLERS_PER_ID), and most tests here are about something else.
   */
  const strangers = new Map<string, { name: string; idCardNumber: string }>();
  function someoneFor(openid: string) {
    if (!strangers.has(openid)) {
      const seq = String(100 + strangers.size).padStart(3, '0');
      strangers.set(openid, { name: '林小雨', idCardNumber: makeIdCard('110101', '19900101', seq) });
    }
    return strangers.get(openid)!;
  }

  async function start(openid: string, person = someoneFor(openid)) {
    const res = await face(openid, { action: 'start', ...person, consent: true, noticeVersion: noticeVersion('face') });
    expect(res).toMatchObject({ ok: true, mode });
    return res as { verifyId?: string; userIdKey?: string };
  }

  /** The user's side: WeChat's face screen, simulated. Returns what the client sends to confirm. */
  async function complete(
    openid: string,
    started: { verifyId?: string; userIdKey?: string },
    outcome: 'pass' | 'fail' | 'cancel',
    matched?: { name: string; idCardNumber: string },
  ): Promise<Record<string, string>> {
    const res = await post(sandbox, '/sandbox/face/complete', { openid, ...started, outcome, ...matched });
    expect(res.status).toBe(200);
    if (mode === 'v2') return { verifyId: started.verifyId! };
    return { verifyResult: String(res.body.verifyResult) };
  }

  it('passes, binds the caller to the verified identity (masked), and reports it in status', async () => {
    const started = await start('o_alice', PEOPLE.alice);
    expect(mode === 'v2' ? started.verifyId : started.userIdKey).toBeTruthy();
    const proof = await complete('o_alice', started, 'pass');
    const res = await face('o_alice', { action: 'confirm', ...proof });
    expect(res).toEqual({
      ok: true,
      binding: {
        method: 'face',
        docType: 'id_card',
        maskedName: '欧***',
        maskedIdCard: `4401**********${PEOPLE.alice.idCardNumber.slice(-4)}`,
        verifiedAt: expect.any(String),
        inRoster: false,
      },
    });
    const status = await face('o_alice', { action: 'status' });
    expect(status).toMatchObject({ ok: true, mode, bindings: [{ method: 'face', maskedName: '欧***' }] });
    expect(await face('o_nobody', { action: 'status' })).toEqual({ ok: true, mode, bindings: [] });
  });

  it('refuses a replayed credential: each verification is single use', async () => {
    const started = await start('o_replay', PEOPLE.bob);
    const proof = await complete('o_replay', started, 'pass');
    expect(await face('o_replay', { action: 'confirm', ...proof })).toMatchObject({ ok: true });
    expect(await face('o_replay', { action: 'confirm', ...proof })).toMatchObject({
      ok: false,
      code: 'FACE_SESSION_USED',
    });
  });

  it('refuses concurrent replays: exactly one confirm wins', async () => {
    const started = await start('o_race', PEOPLE.carol);
    const proof = await complete('o_race', started, 'pass');
    const results = await Promise.all([1, 2, 3].map(() => face('o_race', { action: 'confirm', ...proof })));
    expect(results.filter((r) => r.ok === true)).toHaveLength(1);
    expect(results.filter((r) => r.code === 'FACE_SESSION_USED')).toHaveLength(2);
  });

  it('fails a failed or cancelled verification, and binds nothing', async () => {
    const failed = await start('o_fail');
    const failedProof = await complete('o_fail', failed, 'fail');
    expect(await face('o_fail', { action: 'confirm', ...failedProof })).toMatchObject({
      ok: false,
      code: 'FACE_NOT_PASSED',
    });

    const cancelled = await start('o_fail');
    const cancelledProof = await complete('o_fail', cancelled, 'cancel');
    expect(await face('o_fail', { action: 'confirm', ...cancelledProof })).toMatchObject({
      ok: false,
      code: 'FACE_CANCELLED',
    });
    expect(await face('o_fail', { action: 'status' })).toMatchObject({ bindings: [] });
  });

  it("refuses a confirm by someone else than the session's owner", async () => {
    const started = await start('o_owner');
    const proof = await complete('o_owner', started, 'pass');
    expect(await face('o_thief', { action: 'confirm', ...proof })).toMatchObject({ ok: false, code: 'FACE_NOT_OWNER' });
    // The owner can still finish it.
    expect(await face('o_owner', { action: 'confirm', ...proof })).toMatchObject({ ok: true });
  });

  it('refuses an identity swap: the face matched someone else', async () => {
    const started = await start('o_swap', PEOPLE.alice);
    const proof = await complete('o_swap', started, 'pass', PEOPLE.bob);
    const res = await face('o_swap', { action: 'confirm', ...proof });
    expect(res.ok).toBe(false);
    expect(res.code).toBe(mode === 'v1' ? 'FACE_IDENTITY_MISMATCH' : 'FACE_NOT_PASSED');
    expect(await face('o_swap', { action: 'status' })).toMatchObject({ bindings: [] });
  });

  it('refuses an expired session (sandbox clock moved past the TTL)', async () => {
    const started = await start('o_slow');
    const proof = await complete('o_slow', started, 'pass');
    await post(sandbox, '/sandbox/clock', { offsetSeconds: 200 });
    try {
      expect(await face('o_slow', { action: 'confirm', ...proof })).toMatchObject({
        ok: false,
        code: 'FACE_SESSION_EXPIRED',
      });
    } finally {
      await post(sandbox, '/sandbox/clock', { offsetSeconds: 0 });
    }
  });

  it('strips name and ID from sessions left behind once they expire (timer trigger)', async () => {
    await start('o_walked_away'); // cancelled on the device: confirm never comes
    const pending = () => sandbox.db.dump('face_sessions').filter((s) => s.state === 'pending' && s.nameEnc);
    expect(pending().length).toBeGreaterThan(0);
    await post(sandbox, '/sandbox/clock', { offsetSeconds: 200 });
    try {
      const swept = await sandbox.invoke('face', { Type: 'Timer', TriggerName: 'sweep-expired-sessions' }, '');
      expect(swept.ok).toBe(true);
      expect((swept as { result: { expired: number } }).result.expired).toBeGreaterThan(0);
      expect(sandbox.db.dump('face_sessions').filter((s) => s.nameEnc || s.idEnc)).toEqual([]);
    } finally {
      await post(sandbox, '/sandbox/clock', { offsetSeconds: 0 });
    }
  });

  it('validates input before calling WeChat and requires consent', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...PEOPLE.alice, consent: false }, 'CONSENT_REQUIRED'],
      [{ ...PEOPLE.alice }, 'CONSENT_REQUIRED'],
      [
        { ...PEOPLE.alice, idCardNumber: '440106900307123', consent: true, noticeVersion: noticeVersion('face') },
        'ID_15_DIGIT',
      ],
      [
        {
          ...PEOPLE.alice,
          idCardNumber: PEOPLE.alice.idCardNumber.slice(0, 17) + 'Y',
          consent: true,
          noticeVersion: noticeVersion('face'),
        },
        'ID_FORMAT',
      ],
      [
        {
          ...PEOPLE.alice,
          idCardNumber: PEOPLE.alice.idCardNumber.slice(0, 17) + (PEOPLE.alice.idCardNumber.endsWith('1') ? '2' : '1'),
          consent: true,
          noticeVersion: noticeVersion('face'),
        },
        'ID_CHECKSUM',
      ],
      [{ ...PEOPLE.alice, name: '', consent: true, noticeVersion: noticeVersion('face') }, 'NAME_REQUIRED'],
      [{ ...PEOPLE.alice, name: 'x1', consent: true, noticeVersion: noticeVersion('face') }, 'NAME_INVALID'],
    ];
    const before = sandbox.wechat.stats();
    for (const [event, code] of cases) {
      expect(await face('o_input', { action: 'start', ...event })).toMatchObject({ ok: false, code });
    }
    const after = sandbox.wechat.stats();
    const path = mode === 'v2' ? '/cityservice/face/identify/getverifyid' : '/cityservice/face/identify/getuseridkey';
    expect(after[path] ?? 0).toBe(before[path] ?? 0);
    expect(await face('o_input', { action: 'confirm' })).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
    expect(await face('o_input', { action: 'nope' })).toMatchObject({ ok: false, code: 'UNKNOWN_ACTION' });
  });

  it('limits how often one user may start (5 per 10 minutes)', async () => {
    for (let i = 0; i < 5; i += 1) await start('o_rate');
    expect(
      await face('o_rate', { action: 'start', ...PEOPLE.alice, consent: true, noticeVersion: noticeVersion('face') }),
    ).toMatchObject({
      ok: false,
      code: 'FACE_RATE_LIMITED',
    });
    // Someone else is not affected.
    await start('o_rate_other');
    // Concurrent starts cannot all slip under the limit either.
    const burst = await Promise.all(
      Array.from({ length: 8 }, () =>
        face('o_rate_burst', { action: 'start', ...PEOPLE.bob, consent: true, noticeVersion: noticeVersion('face') }),
      ),
    );
    expect(burst.filter((r) => r.ok).length).toBeLessThanOrEqual(5);
    expect(burst.filter((r) => r.code === 'FACE_RATE_LIMITED').length).toBeGreaterThanOrEqual(3);
    // Refused starts leave no session (and no encrypted identity) behind.
    expect(sandbox.db.dump('face_sessions').filter((s) => s.state === 'starting')).toEqual([]);
  });

  it('retries WeChat -1 with backoff, and answers WECHAT_BUSY when it persists', async () => {
    const path = mode === 'v2' ? '/cityservice/face/identify/getverifyid' : '/cityservice/face/identify/getuseridkey';
    await post(sandbox, '/sandbox/faults', { path, errcode: -1, times: 2 });
    await start('o_busy');
    // One call and two retries: three answers of -1 exhaust the backoff.
    await post(sandbox, '/sandbox/faults', { path, errcode: -1, times: 3 });
    expect(
      await face('o_busy2', {
        action: 'start',
        ...someoneFor('o_busy2'),
        consent: true,
        noticeVersion: noticeVersion('face'),
      }),
    ).toMatchObject({
      ok: false,
      code: 'WECHAT_BUSY',
    });
    // No fault left over: the next call goes through.
    await start('o_busy3');
  });

  it('gives up on a WeChat request that hangs (timeout) and answers WECHAT_BUSY', async () => {
    const path = mode === 'v2' ? '/cityservice/face/identify/getverifyid' : '/cityservice/face/identify/getuseridkey';
    // The answer hangs 60 s (the emulator's longest), three times face's deployed timeout (20 s): a
    // function that waited for it would be killed by the platform and the gateway would answer that,
    // not WECHAT_BUSY. So the answer alone shows it gave up by itself (WECHAT_TIMEOUT_MS is 1000
    // here), with no bound on how long the call took on this machine.
    await post(sandbox, '/sandbox/faults', { path, latencyMs: 60_000, times: 1 });
    expect(
      await face('o_hang', {
        action: 'start',
        ...someoneFor('o_hang'),
        consent: true,
        noticeVersion: noticeVersion('face'),
      }),
    ).toMatchObject({
      ok: false,
      code: 'WECHAT_BUSY',
    });
  });

  it('refetches the access token once on 40001 and retries', async () => {
    const path = mode === 'v2' ? '/cityservice/face/identify/getverifyid' : '/cityservice/face/identify/getuseridkey';
    const tokenCalls = () => sandbox.wechat.stats()['/cgi-bin/stable_token'] ?? 0;
    const before = tokenCalls();
    await post(sandbox, '/sandbox/faults', { path, errcode: 40001, times: 1 });
    await start('o_token');
    expect(tokenCalls()).toBe(before + 1);
  });

  it('counts every confirm per caller: asking again and again makes at most 10 WeChat calls', async () => {
    const started = await start('o_confirm_loop', PEOPLE.bob);
    const path = mode === 'v2' ? '/cityservice/face/identify/queryverifyinfo' : '/cityservice/face/identify/getinfo';
    const before = sandbox.wechat.stats()[path] ?? 0;
    // v2: the user never finishes (WeChat answers 84003 and the session stays pending); v1: junk results.
    const answers = [];
    for (let i = 0; i < 25; i += 1) {
      const proof = mode === 'v2' ? { verifyId: started.verifyId } : { verifyResult: `junk-verify-result-${i}-0000` };
      answers.push(await face('o_confirm_loop', { action: 'confirm', ...proof }));
    }
    expect((sandbox.wechat.stats()[path] ?? 0) - before).toBe(10);
    expect(answers.slice(10).every((a) => a.code === 'FACE_RATE_LIMITED')).toBe(true);
  });

  if (mode === 'v1') {
    it('counts face_identify pushes per user: junk pushes for one’s own session cannot burn getinfo', async () => {
      await start('o_push_spam', PEOPLE.bob);
      const session = sandbox.db
        .dump('face_sessions')
        .find((s) => s.state === 'pending' && s.openidHash === openidHashOf(sandbox, 'o_push_spam'))!;
      const path = '/cityservice/face/identify/getinfo';
      const before = sandbox.wechat.stats()[path] ?? 0;
      for (let i = 0; i < 25; i += 1) {
        const event = {
          MsgType: 'event',
          Event: 'face_identify',
          openid: 'o_push_spam',
          out_seq_no: session._id,
          verify_result: `junk-verify-result-${i}-0000`,
        };
        expect(await sandbox.invoke('face', event, 'o_push_spam')).toMatchObject({ ok: true, result: 'success' });
      }
      expect((sandbox.wechat.stats()[path] ?? 0) - before).toBe(10);
      expect(sandbox.db.dump('face_sessions').find((s) => s._id === session._id)).not.toHaveProperty('push');
    });

    it('handles the face_identify push idempotently as a second signal, and ignores forged ones', async () => {
      const started = await start('o_push', PEOPLE.carol);
      const proof = await complete('o_push', started, 'pass');
      // The emulator pushes the event to the function (out_seq_no was given), asynchronously.
      const pushed = () => sandbox.db.dump('face_sessions').find((s) => s.state === 'pending' && s.push);
      await until(() => pushed() !== undefined);
      const session = pushed()!;
      expect(session).toBeDefined();
      const recorded = JSON.stringify(session.push);

      const push = (fields: Record<string, string | undefined>) =>
        sandbox.invoke('face', { MsgType: 'event', Event: 'face_identify', openid: 'o_push', ...fields }, 'o_push');
      // Repeated (WeChat retries), forged for an unknown session, forged result for this session,
      // someone else's openid: all acknowledged, none changes anything.
      for (const fields of [
        { out_seq_no: session._id, verify_result: proof.verifyResult! },
        { out_seq_no: 'f'.repeat(32), verify_result: proof.verifyResult! },
        { out_seq_no: session._id, verify_result: 'forged-verify-result-0001' },
        { out_seq_no: session._id, verify_result: proof.verifyResult!, openid: 'o_other' },
      ]) {
        expect(await push(fields)).toMatchObject({ ok: true, result: 'success' });
      }
      const after = sandbox.db.dump('face_sessions').find((s) => s._id === session._id)!;
      expect(JSON.stringify(after.push)).toBe(recorded);
      expect(after.state).toBe('pending');

      expect(await face('o_push', { action: 'confirm', ...proof })).toMatchObject({ ok: true });
    });
  }
});
