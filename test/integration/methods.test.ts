/**
 * The identity methods a new team can obtain, through the gateway with the real functions: the
 * city-service real-name check (`realname.check`, method wxcheck) against the emulated
 * checkrealnameinfo and consent page, staff verification of other documents (`review`, method
 * manual), and the server-side list of methods offered (`identity.methods`, IDENTITY_METHODS).
 */
import { noticeVersion } from '../../miniprogram/shared/consent';
import type { Sandbox } from '../../sandbox';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { maskDocNumber, maskIdCard } from '../../miniprogram/shared/mask';
import { deploySandbox } from '../../scripts/lib/sandbox-deploy';
import { callFunction, citycheckCode, freshSandbox, persistedText, post } from '../helpers/sandbox';

jest.setTimeout(180_000);

const REVIEWER = 'o_methods_reviewer';
const ADMIN = 'o_methods_admin';
const PEOPLE = {
  lin: { name: '林小雨', idCardNumber: makeIdCard('330106', '19950412', '128') },
  zhou: { name: '周大海', idCardNumber: makeIdCard('510104', '19780930', '215') },
};
/** A Hong Kong resident's residence permit, and the other document types. */
const DOCS = {
  residence: { name: '陈嘉欣', docType: 'residence_permit', docNumber: makeIdCard('810000', '19920315', '046') },
  hkmo: { name: '何家俊', docType: 'hk_mo_permit', docNumber: 'H12345678' },
  tw: { name: '林志明', docType: 'tw_permit', docNumber: '12345678' },
  foreign: {
    name: 'MARIA GARCIA LOPEZ',
    docType: 'foreign_permanent',
    docNumber: makeIdCard('915840', '19850101', '003'),
  },
  passport: { name: 'JOHN SMITH', docType: 'passport', docNumber: 'E98765432' },
} as const;

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await freshSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN, REVIEWER_OPENIDS: REVIEWER } });
});
afterAll(async () => {
  const text = persistedText(sandbox);
  await sandbox.stop();
  // Nothing the sandbox persisted (database journal, storage, function logs) holds a name or number.
  for (const person of Object.values(PEOPLE)) {
    expect(text).not.toContain(person.name);
    expect(text).not.toContain(person.idCardNumber);
  }
  for (const doc of Object.values(DOCS)) {
    expect(text).not.toContain(doc.name);
    expect(text).not.toContain(doc.docNumber);
  }
});

const call = (fn: string, openid: string, event: Record<string, unknown>) => callFunction(sandbox, fn, openid, event);

/** The consent page: WeChat Pay knows `openid` as `known` (or as nobody), and hands back a code. */
const consent = (openid: string, known?: { name: string; idCardNumber: string }) =>
  citycheckCode(sandbox, openid, known);

function submit(openid: string, doc: Record<string, unknown>) {
  return call('review', openid, { action: 'submit', ...doc, consent: true, noticeVersion: noticeVersion('manual') });
}
/** Approves, with the number as the reviewer reads it off the original. */
function decide(requestId: string, docNumber: string, reviewer = REVIEWER) {
  return call('review', reviewer, { action: 'decide', requestId, approve: true, docNumber });
}

describe('identity.methods', () => {
  it('lists what the deployment offers, and whether the caller reviews', async () => {
    expect(await call('identity', 'o_someone', { action: 'methods' })).toEqual({
      ok: true,
      methods: ['wxcheck', 'face', 'manual', 'wxpay'],
      reviewer: false,
    });
    expect(await call('identity', REVIEWER, { action: 'methods' })).toMatchObject({ reviewer: true });
    // REVIEWER_OPENIDS is set: a roster admin is not a reviewer by that alone.
    expect(await call('identity', ADMIN, { action: 'methods' })).toMatchObject({ reviewer: false });
  });
});

describe('realname.check (city-service real-name check)', () => {
  const check = (openid: string, person: { name: string; idCardNumber: string }, code: string) =>
    call('realname', openid, {
      action: 'check',
      ...person,
      code,
      consent: true,
      noticeVersion: noticeVersion('wxcheck'),
    });
  const bindings = () => sandbox.db.dump('bindings').filter((b) => b.method === 'wxcheck');

  it('binds on a matching identity: method wxcheck, an ID card, masked', async () => {
    const code = await consent('o_lin', PEOPLE.lin);
    const answer = await check('o_lin', PEOPLE.lin, code);
    expect(answer).toEqual({
      ok: true,
      binding: {
        method: 'wxcheck',
        docType: 'id_card',
        maskedName: '林**',
        maskedIdCard: maskIdCard(PEOPLE.lin.idCardNumber),
        verifiedAt: expect.any(String),
        inRoster: false,
      },
    });
    expect(await call('face', 'o_lin', { action: 'status' })).toMatchObject({
      bindings: [expect.objectContaining({ method: 'wxcheck' })],
    });
  });

  it('refuses each wrong outcome with its own code, and stores nothing', async () => {
    const before = bindings().length;
    // A wrong name: WeChat Pay knows the user under another.
    expect(
      await check('o_zhou', { ...PEOPLE.zhou, name: '周小海' }, await consent('o_zhou', PEOPLE.zhou)),
    ).toMatchObject({ ok: false, code: 'REALNAME_CHECK_NAME_MISMATCH' });
    // The right name with someone else's ID number.
    expect(
      await check(
        'o_zhou',
        { ...PEOPLE.zhou, idCardNumber: PEOPLE.lin.idCardNumber },
        await consent('o_zhou', PEOPLE.zhou),
      ),
    ).toMatchObject({ ok: false, code: 'REALNAME_CHECK_ID_MISMATCH' });
    // A user who never gave WeChat Pay a real name.
    expect(await check('o_nopay', PEOPLE.zhou, await consent('o_nopay'))).toMatchObject({
      ok: false,
      code: 'REALNAME_CHECK_NO_REALNAME',
    });
    // A code issued for another user.
    expect(await check('o_thief', PEOPLE.zhou, await consent('o_zhou2', PEOPLE.zhou))).toMatchObject({
      ok: false,
      code: 'REALNAME_CHECK_CODE_INVALID',
    });
    expect(bindings()).toHaveLength(before);
  });

  it('uses a code once: a replay is refused without asking WeChat', async () => {
    const code = await consent('o_replay', PEOPLE.zhou);
    expect(await check('o_replay', PEOPLE.zhou, code)).toMatchObject({ ok: true });
    const path = '/intp/realname/checkrealnameinfo';
    const calls = sandbox.wechat.stats()[path] ?? 0;
    expect(await check('o_replay', PEOPLE.zhou, code)).toMatchObject({ ok: false, code: 'REALNAME_CHECK_CODE_USED' });
    expect(sandbox.wechat.stats()[path] ?? 0).toBe(calls);
  });

  it('checks input before anything else: consent, name, ID, code', async () => {
    const code = await consent('o_input', PEOPLE.lin);
    for (const [event, expected] of [
      [{ ...PEOPLE.lin, code }, 'CONSENT_REQUIRED'],
      [
        {
          ...PEOPLE.lin,
          idCardNumber: `${PEOPLE.lin.idCardNumber.slice(0, 17)}Y`,
          code,
          consent: true,
          noticeVersion: noticeVersion('wxcheck'),
        },
        'ID_FORMAT',
      ],
      [{ ...PEOPLE.lin, name: '', code, consent: true, noticeVersion: noticeVersion('wxcheck') }, 'NAME_REQUIRED'],
      [
        { ...PEOPLE.lin, code: 'short', consent: true, noticeVersion: noticeVersion('wxcheck') },
        'REALNAME_CHECK_CODE_INVALID',
      ],
      [
        { ...PEOPLE.lin, code: { auth_code: code }, consent: true, noticeVersion: noticeVersion('wxcheck') },
        'REALNAME_CHECK_CODE_INVALID',
      ],
    ] as const) {
      expect(await call('realname', 'o_input', { action: 'check', ...event })).toMatchObject({
        ok: false,
        code: expected,
      });
    }
    // The code was never spent: it still works.
    expect(await check('o_input', PEOPLE.lin, code)).toMatchObject({ ok: true });
  });

  it('maps WeChat refusing the capability to its own code, and leaves the code usable when WeChat was busy', async () => {
    const path = '/intp/realname/checkrealnameinfo';
    await post(sandbox, '/sandbox/faults', { path, errcode: 48001, times: 1 });
    expect(await check('o_unauth', PEOPLE.lin, await consent('o_unauth', PEOPLE.lin))).toMatchObject({
      ok: false,
      code: 'REALNAME_CHECK_NOT_AUTHORIZED',
    });
    const code = await consent('o_busy', PEOPLE.lin);
    await post(sandbox, '/sandbox/faults', { path, errcode: -1, times: 3 });
    expect(await check('o_busy', PEOPLE.lin, code)).toMatchObject({ ok: false, code: 'WECHAT_BUSY' });
    expect(await check('o_busy', PEOPLE.lin, code)).toMatchObject({ ok: true });
  });
});

describe('review (staff verification)', () => {
  it('a Hong Kong resident submits a residence permit, a reviewer approves it, status shows a masked manual binding', async () => {
    const submitted = await submit('o_hk', DOCS.residence);
    expect(submitted).toEqual({ ok: true, requestId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    const { requestId } = submitted as { requestId: string };
    expect(await call('review', 'o_hk', { action: 'mine' })).toEqual({
      ok: true,
      requests: [
        {
          requestId,
          docType: 'residence_permit',
          maskedName: '陈**',
          maskedNumber: maskDocNumber(DOCS.residence.docNumber),
          state: 'pending',
          submittedAt: expect.any(String),
        },
      ],
    });
    const queue = await call('review', REVIEWER, { action: 'queue' });
    expect(queue).toMatchObject({ ok: true, requests: [expect.objectContaining({ requestId, state: 'pending' })] });
    expect(JSON.stringify(queue)).not.toContain(DOCS.residence.docNumber);

    // Approving takes the whole number read off the original: missing or different, nothing happens.
    expect(await call('review', REVIEWER, { action: 'decide', requestId, approve: true })).toMatchObject({
      ok: false,
      code: 'REVIEW_NUMBER_REQUIRED',
    });
    const other = makeIdCard('810000', '19920315', '047');
    expect(await decide(requestId, other)).toMatchObject({ ok: false, code: 'REVIEW_NUMBER_MISMATCH' });
    expect(await call('face', 'o_hk', { action: 'status' })).toMatchObject({ bindings: [] });
    // Typed as people type: lower case, spaces.
    const typed = `${DOCS.residence.docNumber.slice(0, 6)} ${DOCS.residence.docNumber.slice(6).toLowerCase()}`;
    const decided = await decide(requestId, typed);
    expect(decided).toMatchObject({
      ok: true,
      request: { requestId, state: 'approved', decidedAt: expect.any(String) },
    });
    expect(await call('face', 'o_hk', { action: 'status' })).toMatchObject({
      bindings: [
        {
          method: 'manual',
          docType: 'residence_permit',
          maskedName: '陈**',
          maskedIdCard: maskDocNumber(DOCS.residence.docNumber),
          inRoster: false,
        },
      ],
    });
    // Decided once: a second decision is refused; the queue no longer holds it.
    expect(
      await call('review', REVIEWER, { action: 'decide', requestId, approve: false, reason: '重复' }),
    ).toMatchObject({
      ok: false,
      code: 'REVIEW_ALREADY_DECIDED',
    });
    expect((await call('review', REVIEWER, { action: 'queue' })).requests).toEqual([]);
  });

  it('a rejected request shows its reason to its holder; one pending request at a time', async () => {
    const { requestId } = (await submit('o_tw', DOCS.tw)) as { requestId: string };
    expect(await submit('o_tw', DOCS.tw)).toMatchObject({ ok: false, code: 'REVIEW_PENDING_EXISTS' });
    expect(await call('review', REVIEWER, { action: 'decide', requestId, approve: false })).toMatchObject({
      ok: false,
      code: 'REVIEW_REASON_REQUIRED',
    });
    const reason = '证件照片不清晰，请携带原件到窗口办理';
    expect(await call('review', REVIEWER, { action: 'decide', requestId, approve: false, reason })).toMatchObject({
      ok: true,
      request: { state: 'rejected', reason },
    });
    expect(await call('review', 'o_tw', { action: 'mine' })).toMatchObject({
      requests: [expect.objectContaining({ requestId, state: 'rejected', reason })],
    });
    expect(await call('face', 'o_tw', { action: 'status' })).toMatchObject({ bindings: [] });
    // Decided: the holder may submit again.
    expect(await submit('o_tw', DOCS.tw)).toMatchObject({ ok: true });
    // The reason is stored encrypted.
    expect(JSON.stringify(sandbox.db.dump('review_requests'))).not.toContain('不清晰');
  });

  it('refuses a non-reviewer, and a reviewer deciding their own request', async () => {
    const { requestId } = (await submit('o_foreign', DOCS.foreign)) as { requestId: string };
    for (const openid of ['o_foreign', 'o_stranger', ADMIN]) {
      expect(await call('review', openid, { action: 'queue' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
      expect(await decide(requestId, DOCS.foreign.docNumber, openid)).toMatchObject({
        ok: false,
        code: 'FORBIDDEN',
      });
    }
    const own = (await submit(REVIEWER, DOCS.passport)) as { requestId: string };
    const queue = (await call('review', REVIEWER, { action: 'queue' })) as { requests: { requestId: string }[] };
    expect(queue.requests.find((r) => r.requestId === own.requestId)).toMatchObject({ own: true });
    expect(queue.requests.find((r) => r.requestId === requestId)).not.toHaveProperty('own');
    expect(await decide(own.requestId, DOCS.passport.docNumber)).toMatchObject({
      ok: false,
      code: 'REVIEW_OWN_REQUEST',
    });
    expect(await decide('f'.repeat(32), DOCS.passport.docNumber)).toMatchObject({
      ok: false,
      code: 'REVIEW_NOT_FOUND',
    });
    expect(sandbox.db.dump('bindings').filter((b) => b.method === 'manual')).toHaveLength(1);
  });

  it('documents a client plants under the default rules neither show in the queue nor block a decision', async () => {
    await post(sandbox, '/sandbox/rules/reset', {});
    const { requestId } = (await submit('o_planted', DOCS.hkmo)) as { requestId: string };
    const plant = (data: Record<string, unknown>) =>
      post(
        sandbox,
        '/sandbox/client/database',
        { collection: 'review_requests', action: 'add', data },
        {
          'X-WX-OPENID': 'o_planter',
        },
      ).then((r) => r.body);
    // A guess at the decided key, a pending look-alike, and a copy under another id: all accepted by the default rule.
    for (const pendingKey of [`decided_${requestId}`, 'decided_0', 'x']) {
      expect(
        await plant({ pendingKey, state: 'pending', openidHash: 'x', submittedAt: new Date().toISOString() }),
      ).toMatchObject({ ok: true });
    }
    const queue = (await call('review', REVIEWER, { action: 'queue' })) as { requests: { requestId: string }[] };
    expect(queue.requests.map((r) => r.requestId)).toContain(requestId);
    const planted = sandbox.db.dump('review_requests').filter((d) => '_openid' in d);
    expect(planted).toHaveLength(3);
    for (const doc of planted) expect(queue.requests.map((r) => r.requestId)).not.toContain(doc._id);
    expect(await decide(requestId, DOCS.hkmo.docNumber)).toMatchObject({
      ok: true,
      request: { state: 'approved' },
    });
    await deploySandbox(sandbox, { env: { ROSTER_ADMIN_OPENIDS: ADMIN, REVIEWER_OPENIDS: REVIEWER } });
  });

  it('refuses invalid numbers for each type, with the type’s own message', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...DOCS.hkmo, docNumber: 'X12345678' }, 'DOC_HK_MO_FORMAT'],
      [{ ...DOCS.tw, docNumber: '1234567' }, 'DOC_TW_FORMAT'],
      [{ ...DOCS.residence, docNumber: makeIdCard('440106', '19920315', '046') }, 'DOC_RESIDENCE_REGION'],
      [
        {
          ...DOCS.residence,
          docNumber: `${DOCS.residence.docNumber.slice(0, 17)}${DOCS.residence.docNumber.endsWith('1') ? '2' : '1'}`,
        },
        'DOC_CHECKSUM',
      ],
      [{ ...DOCS.residence, docNumber: '81000019921399046X' }, 'DOC_RESIDENCE_FORMAT'],
      [{ ...DOCS.foreign, docNumber: '812345678901234567' }, 'DOC_FOREIGN_FORMAT'],
      [{ ...DOCS.passport, docNumber: 'E1' }, 'DOC_PASSPORT_FORMAT'],
      [{ ...DOCS.passport, docNumber: '' }, 'DOC_REQUIRED'],
      [{ ...DOCS.passport, docType: 'driving_licence' }, 'DOC_TYPE_INVALID'],
      [{ ...DOCS.passport, docType: 'id_card' }, 'ID_FORMAT'],
      [{ ...DOCS.foreign, docNumber: makeIdCard('915840', '20991231', '003') }, 'DOC_FOREIGN_FORMAT'],
      [{ ...DOCS.residence, docNumber: makeIdCard('810000', '20991231', '046') }, 'DOC_RESIDENCE_FORMAT'],
      [{ ...DOCS.passport, name: 'J' }, 'DOC_NAME_INVALID'],
    ];
    for (const [doc, code] of cases) {
      expect(await submit('o_invalid', doc)).toMatchObject({ ok: false, code });
    }
    expect(await call('review', 'o_invalid', { action: 'submit', ...DOCS.passport })).toMatchObject({
      ok: false,
      code: 'CONSENT_REQUIRED',
    });
    // Old and new formats are accepted.
    expect(await submit('o_valid_1', { ...DOCS.hkmo, docNumber: 'm1234567801' })).toMatchObject({ ok: true });
    expect(await submit('o_valid_2', { ...DOCS.foreign, docNumber: 'USA123456789012' })).toMatchObject({ ok: true });
    for (const openid of ['o_valid_1', 'o_valid_2']) {
      expect(await call('review', openid, { action: 'mine' })).toMatchObject({
        requests: [expect.objectContaining({ state: 'pending' })],
      });
    }
    expect(await call('review', 'o_invalid', { action: 'mine' })).toMatchObject({ requests: [] });
  });

  it('a mainland ID holder without WeChat Pay is verified by staff: an ID card binding that meets the roster', async () => {
    const person = { name: '王秀英', docType: 'id_card', docNumber: makeIdCard('110105', '19480101', '026') };
    const { requestId } = (await submit('o_no_wxpay', person)) as { requestId: string };
    expect(await decide(requestId, person.docNumber)).toMatchObject({ ok: true, request: { state: 'approved' } });
    expect(await call('face', 'o_no_wxpay', { action: 'status' })).toMatchObject({
      bindings: [{ method: 'manual', docType: 'id_card', maskedIdCard: maskIdCard(person.docNumber) }],
    });
    // The binding is indexed like every ID card (the roster's key), not apart like other documents.
    const wxcheck = await call('realname', 'o_no_wxpay_2', {
      action: 'check',
      name: person.name,
      idCardNumber: person.docNumber,
      code: await consent('o_no_wxpay_2', { name: person.name, idCardNumber: person.docNumber }),
      consent: true,
      noticeVersion: noticeVersion('wxcheck'),
    });
    expect(wxcheck).toMatchObject({ ok: true });
    const bindings = sandbox.db.dump('bindings');
    const manual = bindings.filter((b) => b.method === 'manual' && b.docType === 'id_card');
    expect(manual).toHaveLength(1);
    expect(bindings.filter((b) => b.method === 'wxcheck' && b.idIndex === manual[0]!.idIndex)).toHaveLength(1);
    expect(JSON.stringify(sandbox.db.dump('bindings'))).not.toContain(person.docNumber);
  });

  it('a binding that fails returns the request to pending; an interrupted approval is finished by approving again', async () => {
    const { requestId } = (await submit('o_interrupted', DOCS.passport)) as { requestId: string };
    await post(sandbox, '/sandbox/db/faults', {
      action: 'database.modifyDocument',
      collection: 'bindings',
      message: 'injected',
      times: 1,
    });
    expect(await decide(requestId, DOCS.passport.docNumber)).toMatchObject({ ok: false, code: 'INTERNAL' });
    expect(await call('review', 'o_interrupted', { action: 'mine' })).toMatchObject({
      requests: [expect.objectContaining({ requestId, state: 'pending' })],
    });
    // While open (pending or approving) the holder cannot submit another.
    expect(await submit('o_interrupted', DOCS.passport)).toMatchObject({ ok: false, code: 'REVIEW_PENDING_EXISTS' });

    // A function killed between its claim and the binding leaves the request approving.
    sandbox.db.modify(
      'review_requests',
      { _id: requestId },
      { $set: { state: 'approving' } },
      { multi: false, merge: true, upsert: false },
    );
    const queue = (await call('review', REVIEWER, { action: 'queue' })) as { requests: Record<string, unknown>[] };
    expect(queue.requests.find((r) => r.requestId === requestId)).toMatchObject({ state: 'approving' });
    expect(
      await call('review', REVIEWER, { action: 'decide', requestId, approve: false, reason: '不行' }),
    ).toMatchObject({ ok: false, code: 'REVIEW_ALREADY_DECIDED' });
    expect(await decide(requestId, DOCS.passport.docNumber)).toMatchObject({
      ok: true,
      request: { state: 'approved' },
    });
    expect(await call('face', 'o_interrupted', { action: 'status' })).toMatchObject({
      bindings: [{ method: 'manual', docType: 'passport' }],
    });
    expect(await submit('o_interrupted', DOCS.passport)).toMatchObject({ ok: true });
  });
});

describe('IDENTITY_METHODS', () => {
  afterAll(() => deploySandbox(sandbox, { env: { ROSTER_ADMIN_OPENIDS: ADMIN, REVIEWER_OPENIDS: REVIEWER } }));

  it('a method not offered is refused before anything happens', async () => {
    await deploySandbox(sandbox, {
      env: { ROSTER_ADMIN_OPENIDS: ADMIN, REVIEWER_OPENIDS: REVIEWER, IDENTITY_METHODS: 'wxcheck' },
    });
    expect(await call('identity', 'o_x', { action: 'methods' })).toMatchObject({ methods: ['wxcheck'] });
    const calls = sandbox.wechat.stats()['/cityservice/face/identify/getverifyid'] ?? 0;
    expect(
      await call('face', 'o_x', {
        action: 'start',
        ...PEOPLE.lin,
        consent: true,
        noticeVersion: noticeVersion('face'),
      }),
    ).toMatchObject({
      ok: false,
      code: 'METHOD_DISABLED',
    });
    expect(sandbox.wechat.stats()['/cityservice/face/identify/getverifyid'] ?? 0).toBe(calls);
    expect(await submit('o_x', DOCS.passport)).toMatchObject({ ok: false, code: 'METHOD_DISABLED' });
    expect(
      await call('realname', 'o_x', {
        action: 'fetch',
        noticeVersion: noticeVersion('wxpay'),
        authToken: 'some-auth-token',
      }),
    ).toMatchObject({
      ok: false,
      code: 'METHOD_DISABLED',
    });
  });

  it('face alone is a configuration error the functions name', async () => {
    const problems = await deploySandbox(sandbox, {
      env: { ROSTER_ADMIN_OPENIDS: ADMIN, IDENTITY_METHODS: 'face' },
    });
    expect(problems.join('\n')).toMatch(/IDENTITY_METHODS.*face alone/);
    expect(await call('identity', 'o_x', { action: 'methods' })).toMatchObject({
      ok: false,
      code: 'NOT_CONFIGURED',
    });
  });
});
