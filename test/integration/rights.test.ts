/**
 * The person's rights and the organisation's record, through the gateway with the real functions:
 * consent records and withdrawal (`identity.mine` / `identity.withdraw`), the audit trail of every
 * verification attempt and admin action, the admin views (`admin.lookup` / `coverage` / `audit` /
 * `export`), the retention timer, and `requireVerified` in the example `profile` function.
 */
import nodeXlsx from 'node-xlsx';
import type { Sandbox } from '../../sandbox';
import { noticeVersion } from '../../miniprogram/shared/consent';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { maskIdCard } from '../../miniprogram/shared/mask';
import { FaceService } from '../../server/functions/face/service';
import { ReviewService } from '../../server/functions/review/service';
import { typedDb } from '../../server/lib/cloud-db';
import { ConsentStore } from '../../server/lib/consents';
import { IdentityStore } from '../../server/lib/identity';
import { RateLimiter } from '../../server/lib/rate-limit';
import { loadSettings, methodsOf, piiKeysOf, wechatConfig } from '../../server/lib/settings';
import { WechatClient } from '../../server/lib/wechat';
import {
  callFunction,
  cityCheck as checkByCity,
  faceStart,
  faceVerify as verifyByFace,
  freshSandbox,
  importRoster,
  keyedHashOf,
  openidHashOf,
  post,
  sdkFor,
  stopExpectingNoPlaintext,
  uploadFile,
} from '../helpers/sandbox';

jest.setTimeout(180_000);

const ADMIN = 'o_rights_admin';
const PEOPLE = {
  lin: { name: '林小雨', idCardNumber: makeIdCard('330106', '19950412', '128') },
  zhou: { name: '周大海', idCardNumber: makeIdCard('510104', '19780930', '215') },
  wu: { name: '吴静', idCardNumber: makeIdCard('440106', '19880808', '044') },
};

let sandbox: Sandbox;
/** Every verification attempt this file makes (face start/confirm, realname check, review submit). */
let attempts = 0;

beforeAll(async () => {
  sandbox = await freshSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN } });
});
// Nothing the sandbox persisted (database journal, storage, function logs) holds a name or number.
afterAll(() => stopExpectingNoPlaintext(sandbox, Object.values(PEOPLE)));

const call = (fn: string, openid: string, event: Record<string, unknown>) => callFunction(sandbox, fn, openid, event);
const audit = () => sandbox.db.dump('audit_log');
const idIndex = (id: string) => keyedHashOf(sandbox, 'idCard', id);

/** The helpers' flows, counted as the attempts they are (face: start and confirm). */
function faceVerify(openid: string, person: { name: string; idCardNumber: string }) {
  attempts += 2;
  return verifyByFace(sandbox, openid, person);
}
function cityCheck(openid: string, person: { name: string; idCardNumber: string }) {
  attempts += 1;
  return checkByCity(sandbox, openid, person);
}

describe('consent records and withdrawal', () => {
  it('records what was agreed to before anything is collected; a page showing an old notice is refused', async () => {
    expect(await faceVerify('o_rights_lin', PEOPLE.lin)).toMatchObject({ ok: true });
    expect(await cityCheck('o_rights_lin', PEOPLE.lin)).toMatchObject({ ok: true });
    const mine = await call('identity', 'o_rights_lin', { action: 'mine' });
    expect(mine).toMatchObject({ ok: true });
    // Both, masked, newest first (the two were written within the same second: the order is the
    // milliseconds', see test/unit/sandbox/db-dates.test.ts).
    expect(mine.bindings).toEqual(
      ['wxcheck', 'face'].map((method) =>
        expect.objectContaining({ method, maskedIdCard: maskIdCard(PEOPLE.lin.idCardNumber) }),
      ),
    );
    expect(mine.consents).toEqual(
      (['wxcheck', 'face'] as const).map((method) =>
        expect.objectContaining({ method, purpose: expect.any(String), version: noticeVersion(method) }),
      ),
    );
    expect(JSON.stringify(mine)).not.toContain(PEOPLE.lin.idCardNumber);

    attempts += 1;
    expect(
      await call('face', 'o_rights_lin', {
        action: 'start',
        ...PEOPLE.lin,
        consent: true,
        noticeVersion: '0'.repeat(16),
      }),
    ).toMatchObject({ ok: false, code: 'CONSENT_OUTDATED' });
    expect(
      sandbox.db.dump('consents').filter((c) => c.openidHash === openidHashOf(sandbox, 'o_rights_lin')),
    ).toHaveLength(2);
  });

  it('withdrawing one method deletes its binding, sessions and consents, keeps the others, and is audited', async () => {
    const hash = openidHashOf(sandbox, 'o_rights_lin');
    const answer = await call('identity', 'o_rights_lin', { action: 'withdraw', method: 'face' });
    expect(answer).toMatchObject({ ok: true, methods: ['face'], removed: { bindings: 1, consents: 1 } });
    expect((answer.removed as { sessions: number }).sessions).toBeGreaterThanOrEqual(1);
    expect(await call('face', 'o_rights_lin', { action: 'status' })).toMatchObject({
      bindings: [{ method: 'wxcheck' }],
    });
    expect((await call('identity', 'o_rights_lin', { action: 'mine' })).consents).toEqual([
      expect.objectContaining({ method: 'wxcheck' }),
    ]);
    // Nothing of that person and method is left in the database…
    expect(sandbox.db.dump('bindings').filter((b) => b.openidHash === hash && b.method === 'face')).toEqual([]);
    expect(sandbox.db.dump('face_sessions').filter((s) => s.openidHash === hash)).toEqual([]);
    expect(sandbox.db.dump('consents').filter((c) => c.openidHash === hash && c.method === 'face')).toEqual([]);
    // …but the trail of the withdrawal, under keyed hashes.
    expect(audit().filter((e) => e.action === 'identity.withdraw')).toEqual([
      expect.objectContaining({
        kind: 'withdraw',
        method: 'face',
        outcome: 'ok',
        actorHash: hash,
        subjectIndex: idIndex(PEOPLE.lin.idCardNumber),
      }),
    ]);

    // Everything else, and a review request too.
    attempts += 1;
    expect(
      await call('review', 'o_rights_lin', {
        action: 'submit',
        name: 'LIN XIAOYU',
        docType: 'passport',
        docNumber: 'E12345678',
        consent: true,
        noticeVersion: noticeVersion('manual'),
      }),
    ).toMatchObject({ ok: true });
    const all = await call('identity', 'o_rights_lin', { action: 'withdraw' });
    expect(all).toMatchObject({ ok: true, removed: { bindings: 1, reviewRequests: 1, consents: 2 } });
    expect(all.methods).toEqual(expect.arrayContaining(['face', 'wxpay', 'wxcheck', 'manual']));
    for (const collection of ['bindings', 'face_sessions', 'review_requests', 'consents']) {
      expect(sandbox.db.dump(collection).filter((d) => d.openidHash === hash)).toEqual([]);
    }
    expect(await call('identity', 'o_rights_lin', { action: 'withdraw', method: 'sms' })).toMatchObject({
      ok: false,
      code: 'INVALID_REQUEST',
    });
  });
});

describe('requireVerified (the example profile function)', () => {
  it('refuses an unverified caller and answers a verified one, masked', async () => {
    expect(await call('profile', 'o_rights_zhou', { action: 'get' })).toMatchObject({
      ok: false,
      code: 'VERIFICATION_REQUIRED',
    });
    expect(await cityCheck('o_rights_zhou', PEOPLE.zhou)).toMatchObject({ ok: true });
    expect(await call('profile', 'o_rights_zhou', { action: 'get' })).toEqual({
      ok: true,
      binding: expect.objectContaining({ method: 'wxcheck', maskedIdCard: maskIdCard(PEOPLE.zhou.idCardNumber) }),
    });
  });
});

describe('admin views', () => {
  beforeAll(async () => {
    // A roster of lin, zhou and wu; wu verifies by face; zhou (above) by the city-service check.
    const file = Buffer.from(
      nodeXlsx.build([
        {
          name: '名单',
          data: [['姓名', '身份证号'], ...Object.values(PEOPLE).map((p) => [p.name, p.idCardNumber])],
          options: {},
        },
      ]),
    );
    const fileID = await uploadFile(sandbox, ADMIN, 'roster-uploads/rights.xlsx', file);
    expect(await importRoster(sandbox, ADMIN, fileID)).toMatchObject({ state: 'done', inserted: 3 });
    expect(await faceVerify('o_rights_wu', PEOPLE.wu)).toMatchObject({ ok: true });
    // Someone verified who is not in the roster.
    expect(
      await cityCheck('o_outsider', { name: '郑一', idCardNumber: makeIdCard('110101', '20000101', '011') }),
    ).toMatchObject({ ok: true });
  });

  it('lookup answers masked bindings and roster membership, and is audited; others are refused (and audited)', async () => {
    const before = audit().length;
    const found = await call('admin', ADMIN, { action: 'lookup', idCardNumber: PEOPLE.wu.idCardNumber });
    expect(found).toEqual({
      ok: true,
      inRoster: true,
      bindings: [expect.objectContaining({ method: 'face', maskedName: '吴*' })],
    });
    expect(JSON.stringify(found)).not.toContain(PEOPLE.wu.idCardNumber);
    expect(
      await call('admin', 'o_rights_wu', { action: 'lookup', idCardNumber: PEOPLE.wu.idCardNumber }),
    ).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    expect(await call('admin', ADMIN, { action: 'lookup', idCardNumber: '123' })).toMatchObject({
      ok: false,
      code: 'ID_FORMAT',
    });
    const entries = audit().slice(before);
    expect(entries.map((e) => [e.action, e.outcome])).toEqual([
      ['admin.lookup', 'ok'],
      ['admin.lookup', 'FORBIDDEN'],
      ['admin.lookup', 'ID_FORMAT'],
    ]);
    expect(entries[0]).toMatchObject({
      actorHash: openidHashOf(sandbox, ADMIN),
      subjectIndex: idIndex(PEOPLE.wu.idCardNumber),
    });
  });

  it('coverage counts roster people verified, by method; export is a masked workbook', async () => {
    expect(await call('admin', ADMIN, { action: 'coverage' })).toEqual({
      ok: true,
      rosterTotal: 3,
      verified: 2,
      byMethod: { face: 1, wxcheck: 1, wxpay: 0, manual: 0 },
      outsideRoster: 1,
    });
    const exported = await call('admin', ADMIN, { action: 'export' });
    expect(exported).toMatchObject({ ok: true, fileID: expect.stringContaining('admin-exports/') });
    const content = Buffer.from(await (await fetch(encodeURI(String(exported.tempFileURL)))).arrayBuffer());
    const rows = nodeXlsx.parse(content)[0]!.data as string[][];
    expect(rows[0]).toEqual(['姓名', '身份证号', '已认证', '认证方式']);
    expect(rows.slice(1)).toHaveLength(3);
    expect(rows.slice(1)).toContainEqual(['吴*', maskIdCard(PEOPLE.wu.idCardNumber), '是', 'face']);
    expect(rows.slice(1)).toContainEqual(['林**', maskIdCard(PEOPLE.lin.idCardNumber), '否', '']);
    expect(JSON.stringify(rows)).not.toContain(PEOPLE.wu.idCardNumber);
  });

  it('audit answers entries by person or period, keyed hashes only; the query is itself audited', async () => {
    const byPerson = await call('admin', ADMIN, { action: 'audit', idCardNumber: PEOPLE.wu.idCardNumber });
    expect(byPerson.ok).toBe(true);
    const actions = (byPerson.entries as { action: string }[]).map((e) => e.action);
    // The whole trail, newest first.
    const all = await call('admin', ADMIN, { action: 'audit' });
    expect(all.ok).toBe(true);
    const times = (all.entries as { at: string }[]).map((e) => Date.parse(e.at));
    expect(times.length).toBeGreaterThan(3);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(actions).toEqual(expect.arrayContaining(['face.start', 'face.confirm', 'admin.lookup']));
    expect(
      (byPerson.entries as { subject?: string }[]).every(
        (e: { subject?: string }) => e.subject === idIndex(PEOPLE.wu.idCardNumber).slice(0, 12),
      ),
    ).toBe(true);
    const future = await call('admin', ADMIN, {
      action: 'audit',
      from: '2099-01-01T00:00:00Z',
      to: '2099-01-02T00:00:00Z',
    });
    expect(future).toEqual({ ok: true, entries: [], truncated: false });
    expect(await call('admin', ADMIN, { action: 'audit', from: '2026-01-01', to: '2025-01-01' })).toMatchObject({
      ok: false,
      code: 'AUDIT_RANGE_INVALID',
    });
    expect(audit().filter((e) => e.action === 'admin.audit').length).toBeGreaterThanOrEqual(3);
  });

  it('every verification attempt left exactly one entry with its outcome; no entry holds a name or number', () => {
    const verify = audit().filter((e) => e.kind === 'verify');
    expect(verify).toHaveLength(attempts);
    expect(verify.every((e) => typeof e.outcome === 'string' && typeof e.actorHash === 'string')).toBe(true);
    const text = JSON.stringify(audit());
    for (const person of Object.values(PEOPLE)) {
      expect(text).not.toContain(person.name);
      expect(text).not.toContain(person.idCardNumber);
    }
  });
});

describe('the audit trail, further', () => {
  it('pages through any number of entries by cursor, entries of one millisecond neither repeated nor skipped, and filters by kind', async () => {
    const t = Date.now() - 60_000;
    const planted = Array.from({ length: 430 }, (_, i) => ({
      _id: i.toString(16).padStart(32, '0'),
      at: new Date(t - (i % 3)),
      // Three milliseconds, 143 or so entries each: every page boundary falls inside one.
      t: t - (i % 3),
      kind: 'review',
      action: 'review.decide',
      outcome: 'ok',
      actorHash: 'a'.repeat(64),
    }));
    sandbox.db.insert('audit_log', planted);
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = await call('admin', ADMIN, { action: 'audit', kind: 'review', ...(after ? { after } : {}) });
      expect(page).toMatchObject({ ok: true });
      const entries = page.entries as { at: string; kind: string }[];
      expect(entries.every((e) => e.kind === 'review')).toBe(true);
      seen.push(...entries.map((e) => e.at));
      after = page.next as string | undefined;
      expect(page.truncated).toBe(after !== undefined);
      pages += 1;
    } while (after && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(planted.length);
    // Newest first across pages.
    expect([...seen].sort().reverse()).toEqual(seen);
    // Other kinds are not in it; a bad kind or cursor is refused.
    const admins = await call('admin', ADMIN, { action: 'audit', kind: 'admin' });
    expect((admins.entries as { kind: string }[]).every((e) => e.kind === 'admin')).toBe(true);
    expect((admins.entries as unknown[]).length).toBeGreaterThan(0);
    expect(await call('admin', ADMIN, { action: 'audit', kind: 'gossip' })).toMatchObject({
      ok: false,
      code: 'INVALID_REQUEST',
    });
    expect(await call('admin', ADMIN, { action: 'audit', after: '1.x' })).toMatchObject({
      ok: false,
      code: 'INVALID_REQUEST',
    });
    sandbox.db.remove('audit_log', { kind: 'review', action: 'review.decide', actorHash: 'a'.repeat(64) }, true);
  });

  it('a confirm WeChat cannot answer yet (the user has not finished) is not an attempt: only the one that ends it is recorded', async () => {
    const openid = 'o_rights_poll';
    const person = { name: '钱多多', idCardNumber: makeIdCard('320102', '19900101', '013') };
    const started = await faceStart(sandbox, openid, person);
    expect(started).toMatchObject({ ok: true });
    const confirm = () => call('face', openid, { action: 'confirm', verifyId: started.verifyId });
    expect(await confirm()).toMatchObject({ ok: false });
    expect(await confirm()).toMatchObject({ ok: false });
    await post(sandbox, '/sandbox/face/complete', { openid, verifyId: started.verifyId, outcome: 'pass' });
    expect(await confirm()).toMatchObject({ ok: true });
    attempts += 2;
    const mine = audit().filter((e) => e.actorHash === openidHashOf(sandbox, openid));
    expect(mine.map((e) => [e.action, e.outcome])).toEqual([
      ['face.start', 'ok'],
      ['face.confirm', 'ok'],
    ]);
  });

  it('a withdrawal of bindings naming different numbers names every one of them: a query by either finds it', async () => {
    const openid = 'o_rights_two';
    const first = { name: '孙一', idCardNumber: makeIdCard('210102', '19850505', '031') };
    const second = { name: '孙二', idCardNumber: makeIdCard('210102', '19860606', '052') };
    expect(await faceVerify(openid, first)).toMatchObject({ ok: true });
    expect(await cityCheck(openid, second)).toMatchObject({ ok: true });
    expect(await call('identity', openid, { action: 'withdraw' })).toMatchObject({ ok: true });
    const [entry] = audit().filter(
      (e) => e.action === 'identity.withdraw' && e.actorHash === openidHashOf(sandbox, openid),
    );
    expect(entry).toBeDefined();
    expect([...(entry!.subjectIndex as string[])].sort()).toEqual(
      [idIndex(first.idCardNumber), idIndex(second.idCardNumber)].sort(),
    );
    for (const person of [first, second]) {
      const found = await call('admin', ADMIN, {
        action: 'audit',
        idCardNumber: person.idCardNumber,
        kind: 'withdraw',
      });
      expect(found.entries).toEqual([expect.objectContaining({ action: 'identity.withdraw', outcome: 'ok' })]);
      expect(String((found.entries as { subject: string }[])[0]!.subject).split(',')).toHaveLength(2);
    }
  });
});

describe('withdrawal racing a verification in flight', () => {
  /** The face and review services in this process, on the real SDK against the sandbox, as the functions build them. */
  function services() {
    const cloud = sdkFor(sandbox, 'o_race_runner');
    const settings = loadSettings('face');
    const db = typedDb(cloud.database());
    const keys = piiKeysOf(settings.group('pii'));
    const silent = { info: () => undefined, error: () => undefined };
    const common = {
      db,
      keys,
      limiter: new RateLimiter(db, keys),
      consents: new ConsentStore(db, keys),
      methods: () => methodsOf(settings.group('methods')),
      logger: silent,
    };
    const wechat = new WechatClient(wechatConfig(settings.group('app'), settings.group('wechat')), db, keys);
    return { settings, common, wechat, identities: new IdentityStore(db, keys) };
  }
  const bindingsOf = (openid: string) =>
    sandbox.db.dump('bindings').filter((b) => b.openidHash === openidHashOf(sandbox, openid));

  it('face: the holder withdraws while WeChat answers the confirm; the binding it would make is not kept', async () => {
    const openid = 'o_race_face';
    const person = { name: '赵飞', idCardNumber: makeIdCard('120101', '19930303', '076') };
    const started = await faceStart(sandbox, openid, person);
    expect(started).toMatchObject({ ok: true });
    attempts += 1;
    await post(sandbox, '/sandbox/face/complete', { openid, verifyId: started.verifyId, outcome: 'pass' });
    const { settings, common, wechat, identities } = services();
    // WeChat answers only after the withdrawal went through.
    const slow = {
      call: async (...args: Parameters<WechatClient['call']>) => {
        expect(await call('identity', openid, { action: 'withdraw' })).toMatchObject({ ok: true });
        return wechat.call(...args);
      },
    } as unknown as WechatClient;
    const face = new FaceService({
      ...common,
      wechat: slow,
      identities,
      mode: 'v2',
      ttlSeconds: settings.group('face').FACE_SESSION_TTL_SECONDS,
    });
    await expect(face.confirm(openid, { verifyId: String(started.verifyId) })).rejects.toMatchObject({
      code: 'WITHDRAWN',
    });
    expect(bindingsOf(openid)).toEqual([]);
  });

  it('review: the holder withdraws while a reviewer approves; the binding the approval makes is not kept', async () => {
    const openid = 'o_race_review';
    const submitted = await call('review', openid, {
      action: 'submit',
      name: 'RACE TEST',
      docType: 'passport',
      docNumber: 'E87654321',
      consent: true,
      noticeVersion: noticeVersion('manual'),
    });
    expect(submitted).toMatchObject({ ok: true });
    attempts += 1;
    const { common, identities } = services();
    // The withdrawal lands between the approval's claim and its binding.
    class SlowStore extends IdentityStore {
      override async bindHash(...args: Parameters<IdentityStore['bindHash']>) {
        expect(await call('identity', openid, { action: 'withdraw' })).toMatchObject({ ok: true });
        return super.bindHash(...args);
      }
    }
    const review = new ReviewService({
      ...common,
      identities: new SlowStore(common.db, common.keys),
    });
    const requestId = String(submitted.requestId);
    await expect(
      review.decide('o_race_reviewer', { requestId, approve: true, docNumber: 'E87654321' }),
    ).rejects.toMatchObject({ code: 'WITHDRAWN' });
    expect(bindingsOf(openid)).toEqual([]);
    expect(await identities.list(openid)).toEqual([]);
  });
});

describe('retention', () => {
  it('the admin timer purges audit entries and ended face sessions past their periods, and records the purge', async () => {
    const entries = audit().length;
    expect(entries).toBeGreaterThan(0);
    const purge = async () => {
      const res = await sandbox.invoke('admin', { Type: 'Timer', TriggerName: 'purge-retention' }, '');
      if (!res.ok) throw new Error(res.error);
      return res.result as { ok: boolean; audit: number; sessions: number; files: number };
    };
    const exports = () => sandbox.storage.list().filter((f) => f.startsWith('admin-exports/'));
    expect(exports()).toHaveLength(1);
    // Within the periods: nothing goes (the export's hour has not passed either).
    expect(await purge()).toMatchObject({ ok: true, audit: 0, sessions: 0, files: 0 });
    expect(exports()).toHaveLength(1);
    await post(sandbox, '/sandbox/clock', { offsetSeconds: 366 * 86_400 });
    try {
      const purged = await purge();
      expect(purged.audit).toBe(entries + 1);
      expect(purged.sessions).toBeGreaterThan(0);
      expect(purged).toMatchObject({ files: 1, filesPending: 0 });
      expect(exports()).toEqual([]);
      expect(sandbox.db.dump('pending_cleanup')).toEqual([]);
      expect(sandbox.db.dump('face_sessions')).toEqual([]);
      expect(audit()).toEqual([expect.objectContaining({ kind: 'retention', action: 'admin.purge' })]);
    } finally {
      await post(sandbox, '/sandbox/clock', { offsetSeconds: 0 });
    }
  });
});
