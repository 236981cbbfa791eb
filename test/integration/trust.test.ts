/**
 * Trust and secrecy that do not depend on configuration. With the rules left at the platform's
 * default for collections created by code (/sandbox/rules/reset: all users read, creators write
 * their own), a user of the mini-program can add documents to any collection and read every one;
 * the functions must grant nothing on the strength of a client's document, and nothing a client
 * reads may be a usable credential or identify a person. With the manifest's rules applied, the
 * client cannot even try. Also: uniquely indexed fields never share a placeholder, and junk calls
 * cannot burn WeChat's quota.
 */
import { noticeVersion } from '../../miniprogram/shared/consent';
import crypto from 'crypto';
import type { Sandbox } from '../../sandbox';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { maskIdCard, maskName } from '../../miniprogram/shared/mask';
import { blindIndex, decryptField } from '../../server/core/pii';
import { COLLECTIONS } from '../../server/manifest';
import { deploySandbox } from '../../scripts/lib/sandbox-deploy';
import {
  callFunction,
  freshSandbox,
  openidHashOf,
  piiKeysOf,
  post,
  stopExpectingNoPlaintext,
  uploadFile,
} from '../helpers/sandbox';

jest.setTimeout(180_000);

const ADMIN = 'o_trust_admin';
const ATTACKER = 'o_attacker';
const PEOPLE = {
  alice: { name: '欧阳娜娜', idCardNumber: makeIdCard('440106', '19900307', '042') },
  bob: { name: '司马相如', idCardNumber: makeIdCard('110105', '19850612', '113') },
  mallory: { name: '王小明', idCardNumber: makeIdCard('310101', '19920101', '777') },
};

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await freshSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN } });
});
// Nothing the sandbox persisted (database journal, storage, function logs) holds a name or number.
afterAll(() => stopExpectingNoPlaintext(sandbox, Object.values(PEOPLE)));

const call = (fn: string, openid: string, event: Record<string, unknown>) => callFunction(sandbox, fn, openid, event);
/** What `wx.cloud.database()` does for a signed-in user, under the environment's rules. */
const client = (openid: string, body: Record<string, unknown>) =>
  post(sandbox, '/sandbox/client/database', body, { 'X-WX-OPENID': openid }).then((r) => r.body);
const resetRules = () => post(sandbox, '/sandbox/rules/reset', {});

async function faceVerify(openid: string, person: { name: string; idCardNumber: string }) {
  const started = await call('face', openid, {
    action: 'start',
    ...person,
    consent: true,
    noticeVersion: noticeVersion('face'),
  });
  expect(started).toMatchObject({ ok: true, mode: 'v2' });
  await post(sandbox, '/sandbox/face/complete', { openid, verifyId: started.verifyId, outcome: 'pass' });
  return call('face', openid, { action: 'confirm', verifyId: started.verifyId });
}

describe('with the rules at the platform default (a team that skipped the rules step)', () => {
  beforeAll(async () => {
    await resetRules();
  });

  it('a user who adds themselves to admins is still no admin', async () => {
    expect(await client(ATTACKER, { collection: 'admins', action: 'add', data: { _id: ATTACKER } })).toMatchObject({
      ok: true,
      _id: ATTACKER,
    });
    expect(sandbox.db.dump('admins')).toEqual([expect.objectContaining({ _id: ATTACKER, _openid: ATTACKER })]);
    expect(await call('roster', ATTACKER, { action: 'access' })).toEqual({ ok: true, admin: false });
    expect(await call('roster', ATTACKER, { action: 'template' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    // A client can neither forge nor drop the owner mark.
    expect(
      await client(ATTACKER, { collection: 'admins', action: 'update', docId: ATTACKER, data: { _openid: 'x' } }),
    ).toMatchObject({ ok: false, code: 'INVALID_PARAM' });
    expect(
      await client(ATTACKER, { collection: 'admins', action: 'add', data: { _id: 'o_other', _openid: 'o_other' } }),
    ).toMatchObject({ ok: true });
    expect(sandbox.db.dump('admins').find((d) => d._id === 'o_other')).toMatchObject({ _openid: ATTACKER });
    // Not through an operator either: renaming a field onto the owner mark, or setting it inside one.
    for (const data of [
      { $rename: { note: '_openid' } },
      { $rename: { _openid: 'note' } },
      { $set: { '_openid.x': 1 } },
      { $unset: { _openid: '' } },
    ]) {
      expect(await client(ATTACKER, { collection: 'admins', action: 'update', docId: ATTACKER, data })).toMatchObject({
        ok: false,
        code: 'INVALID_PARAM',
      });
    }
    expect(sandbox.db.dump('admins').find((d) => d._id === ATTACKER)).toMatchObject({ _openid: ATTACKER });
  });

  it('field paths through __proto__ are refused: a client cannot pollute the sandbox process', async () => {
    for (const data of [
      { $set: { '__proto__.sandboxPolluted': 'yes' } },
      { $set: { 'a.constructor.prototype.sandboxPolluted': 'yes' } },
      { $rename: { note: '__proto__.sandboxPolluted' } },
    ]) {
      const answer = await client(ATTACKER, { collection: 'admins', action: 'update', docId: ATTACKER, data });
      expect(answer).toMatchObject({ ok: false });
    }
    expect(await client(ATTACKER, { collection: 'admins', action: 'get', where: { '__proto__.x': 1 } })).toMatchObject({
      ok: false,
    });
    expect(({} as Record<string, unknown>).sandboxPolluted).toBeUndefined();
    // The sandbox still answers.
    expect(await client(ATTACKER, { collection: 'admins', action: 'get' })).toMatchObject({ ok: true });
  });

  it('a planted face session cannot be confirmed, and WeChat is not even asked', async () => {
    const verifyId = 'planted-verify-id-0001';
    const planted = await client(ATTACKER, {
      collection: 'face_sessions',
      action: 'add',
      data: {
        _id: crypto.randomBytes(16).toString('hex'),
        // The worst case: the attacker knows their own keyed openid hash (it is readable here).
        openidHash: openidHashOf(sandbox, ATTACKER),
        mode: 'v2',
        verifyKey: crypto.createHash('sha256').update(verifyId).digest('hex'),
        state: 'pending',
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      },
    });
    expect(planted).toMatchObject({ ok: true });
    const before = sandbox.wechat.stats()['/cityservice/face/identify/queryverifyinfo'] ?? 0;
    expect(await call('face', ATTACKER, { action: 'confirm', verifyId })).toMatchObject({
      ok: false,
      code: 'FACE_SESSION_NOT_FOUND',
    });
    expect(sandbox.wechat.stats()['/cityservice/face/identify/queryverifyinfo'] ?? 0).toBe(before);
  });

  it('a planted token cache is never used; the real one is encrypted', async () => {
    const appid = sandbox.secrets.appid;
    await client(ATTACKER, {
      collection: 'wx_access_tokens',
      action: 'add',
      data: {
        _id: appid,
        token: 'attacker-token',
        tokenEnc: 'v1.k1.AAAA.BBBB.CCCC',
        expiresAt: Date.now() + 7_000_000,
      },
    });
    // The function fetches its own token (and overwrites the planted document with its own).
    expect(await faceVerify('o_trust_alice', PEOPLE.alice)).toMatchObject({ ok: true });
    const cache = sandbox.db.dump('wx_access_tokens');
    expect(cache).toHaveLength(1);
    expect(cache[0]).not.toHaveProperty('_openid');
    expect(cache[0]).not.toHaveProperty('token');
    // The keys it was written under, as every document with a ciphertext records them.
    expect(cache[0]).toMatchObject({ kv: 'k1.i1' });
    const token = decryptField(piiKeysOf(sandbox), String(cache[0]!.tokenEnc), `wx_access_tokens:${appid}:token`);
    expect(token.length).toBeGreaterThan(10);
  });

  it('a planted used-token reservation does not burn the user’s token', async () => {
    const authToken = String(
      (
        await post(sandbox, '/sandbox/realname/authorize', {
          openid: 'o_trust_bob',
          ...PEOPLE.bob,
        })
      ).body.auth_token,
    );
    const _id = `realname_${blindIndex(piiKeysOf(sandbox), 'oneTimeToken', `realname\0${authToken}`)}`;
    expect(await client(ATTACKER, { collection: 'used_tokens', action: 'add', data: { _id } })).toMatchObject({
      ok: true,
    });
    expect(
      await call('realname', 'o_trust_bob', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }),
    ).toMatchObject({ ok: true });
    expect(sandbox.db.dump('used_tokens').find((d) => d._id === _id)).not.toHaveProperty('_openid');
  });

  it('planted roster entries, jobs, locks and cleanups change nothing', async () => {
    const keys = piiKeysOf(sandbox);
    // "In the roster": even with the right blind index (the worst case), a client's document is no member.
    await client(ATTACKER, {
      collection: 'roster',
      action: 'add',
      data: { _id: blindIndex(keys, 'idCard', PEOPLE.mallory.idCardNumber) },
    });
    const bound = await faceVerify(ATTACKER, PEOPLE.mallory);
    expect(bound).toMatchObject({ ok: true, binding: { inRoster: false } });

    // A job planted under a job id is not found; a planted lock does not stop a real import.
    const jobId = crypto.randomBytes(12).toString('hex');
    await client(ATTACKER, {
      collection: 'roster_jobs',
      action: 'add',
      data: { _id: jobId, kind: 'job', state: 'running', fileID: 'cloud://x/roster-reports/y.xlsx', leaseUntil: 0 },
    });
    expect(await call('roster', ADMIN, { action: 'run', jobId })).toMatchObject({
      ok: false,
      code: 'ROSTER_JOB_NOT_FOUND',
    });
    const csv = Buffer.from(`姓名,身份证号\n${PEOPLE.alice.name},${PEOPLE.alice.idCardNumber}\n`, 'utf8');
    const fileHash = blindIndex(keys, 'rosterFile', crypto.createHash('sha256').update(csv).digest('hex'));
    await client(ATTACKER, {
      collection: 'roster_jobs',
      action: 'add',
      data: { _id: `lock_${fileHash}`, kind: 'lock', jobId, at: Date.now() },
    });
    const fileID = await uploadFile(sandbox, ADMIN, 'roster-uploads/trust.csv', csv);
    const started = await call('roster', ADMIN, { action: 'import', fileID });
    expect(started).toMatchObject({ ok: true });
    expect(await call('roster', ADMIN, { action: 'status', jobId: started.jobId })).toMatchObject({
      state: 'done',
      inserted: 1,
    });

    // A cleanup record naming someone's file is not obeyed by the sweep.
    const report = sandbox.storage.write('roster-reports/someone.xlsx', Buffer.from('report'));
    await client(ATTACKER, {
      collection: 'pending_cleanup',
      action: 'add',
      data: {
        _id: 'x'.repeat(64),
        fileID: report,
        reason: 'planted',
        attempts: 1,
        lastFailedAt: new Date(0).toISOString(),
      },
    });
    const swept = await sandbox.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
    expect(swept).toMatchObject({ ok: true, result: { cleanup: { deleted: 0 } } });
    expect(sandbox.storage.exists('roster-reports/someone.xlsx')).toBe(true);
  });

  it('a planted document under a binding’s id is replaced by the real binding', async () => {
    const _id = `face_${openidHashOf(sandbox, 'o_trust_carol')}`;
    expect(
      await client(ATTACKER, { collection: 'bindings', action: 'add', data: { _id, method: 'face', verifiedAt: 0 } }),
    ).toMatchObject({ ok: true });
    expect(await faceVerify('o_trust_carol', PEOPLE.mallory)).toMatchObject({ ok: true });
    expect(sandbox.db.dump('bindings').find((d) => d._id === _id)).not.toHaveProperty('_openid');
    expect(await call('face', 'o_trust_carol', { action: 'status' })).toMatchObject({
      bindings: [expect.objectContaining({ method: 'face', maskedIdCard: maskIdCard(PEOPLE.mallory.idCardNumber) })],
    });
  });

  it('a planted cleanup record under the real key cannot make the sweep keep an upload', async () => {
    const keys = piiKeysOf(sandbox);
    const csv = Buffer.from(`姓名,身份证号\n${PEOPLE.bob.name},${PEOPLE.bob.idCardNumber}\n`, 'utf8');
    const fileID = await uploadFile(sandbox, ADMIN, 'roster-uploads/planted-cleanup.csv', csv);
    // The worst case: the attacker knows the record's keyed id. The reservation (the server's record
    // of the upload, written before the upload) already holds it: nothing can be planted in its place.
    const _id = blindIndex(keys, 'pendingCleanup', fileID);
    expect(await client(ATTACKER, { collection: 'pending_cleanup', action: 'add', data: { _id } })).toMatchObject({
      ok: false,
    });
    // The deletion after the import fails once: the server's own record replaces the planted one.
    await post(sandbox, '/sandbox/storage/faults', { times: 1 });
    expect(await call('roster', ADMIN, { action: 'import', fileID })).toMatchObject({ ok: true });
    const record = sandbox.db.dump('pending_cleanup').find((d) => d._id === _id)!;
    expect(record).not.toHaveProperty('_openid');
    expect(decryptField(keys, String(record.fileIDEnc), `pending_cleanup:${_id}:fileID`)).toBe(fileID);
    // What a client reads of it names no file.
    const readable = await client(ATTACKER, { collection: 'pending_cleanup', action: 'get', where: { _id } });
    expect(readable).toMatchObject({ ok: true, data: [expect.objectContaining({ _id })] });
    expect(JSON.stringify(readable)).not.toMatch(/cloud:\/\/|roster-uploads/);
    const swept = await sandbox.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
    expect(swept).toMatchObject({ ok: true, result: { cleanup: { deleted: 1 } } });
    expect(sandbox.storage.exists('roster-uploads/planted-cleanup.csv')).toBe(false);
  });

  it('a planted roster row with the right key and hash does not stand in for the real row', async () => {
    const keys = piiKeysOf(sandbox);
    const csv = Buffer.from(`姓名,身份证号\n${PEOPLE.bob.name},${PEOPLE.bob.idCardNumber}\n`, 'utf8');
    const _id = blindIndex(keys, 'idCard', PEOPLE.bob.idCardNumber);
    const real = sandbox.db.dump('roster').find((d) => d._id === _id);
    if (real) sandbox.db.remove('roster', { _id }, false);
    // The worst case: the attacker copies the row's hash too (as if they could compute it).
    await client(ATTACKER, {
      collection: 'roster',
      action: 'add',
      data: { _id, rowHash: real?.rowHash ?? 'x', piiEnc: 'v1.k1.AAAA.BBBB.CCCC' },
    });
    const fileID = await uploadFile(sandbox, ADMIN, 'roster-uploads/planted-row.csv', csv);
    expect(await call('roster', ADMIN, { action: 'import', fileID })).toMatchObject({ ok: true });
    const row = sandbox.db.dump('roster').find((d) => d._id === _id)!;
    expect(row).not.toHaveProperty('_openid');
    expect(row.piiEnc).not.toBe('v1.k1.AAAA.BBBB.CCCC');
  });

  it('a planted lock whose owner mark is not a string is still removed', async () => {
    const keys = piiKeysOf(sandbox);
    const csv = Buffer.from(
      `姓名,身份证号\n${PEOPLE.alice.name},${PEOPLE.alice.idCardNumber}\n名二,${makeIdCard('440106', '19900307', '058')}\n`,
      'utf8',
    );
    const fileHash = blindIndex(keys, 'rosterFile', crypto.createHash('sha256').update(csv).digest('hex'));
    // Written directly: no client route can forge an owner like this any more, the server must cope anyway.
    sandbox.db.insert('roster_jobs', [
      { _id: `lock_${fileHash}`, kind: 'lock', jobId: 'f'.repeat(24), at: Date.now(), _openid: { $exists: false } },
    ]);
    const fileID = await uploadFile(sandbox, ADMIN, 'roster-uploads/forged-lock.csv', csv);
    expect(await call('roster', ADMIN, { action: 'import', fileID })).toMatchObject({ ok: true });
  });

  it('nothing a client can read is a usable credential or identifies anyone, not even masked', async () => {
    // A pending session too, with its encrypted name and ID.
    await call('face', 'o_trust_pending', {
      action: 'start',
      ...PEOPLE.bob,
      consent: true,
      noticeVersion: noticeVersion('face'),
    });
    const appid = sandbox.secrets.appid;
    const cache = sandbox.db.dump('wx_access_tokens')[0]!;
    const token = decryptField(piiKeysOf(sandbox), String(cache.tokenEnc), `wx_access_tokens:${appid}:token`);
    const read: unknown[] = [];
    for (const spec of COLLECTIONS) {
      const answer = await client(ATTACKER, { collection: spec.name, action: 'get' });
      expect(answer).toMatchObject({ ok: true });
      read.push(...(answer.data as unknown[]));
    }
    expect(read.length).toBeGreaterThan(10);
    const text = JSON.stringify(read);
    expect(text).not.toContain(token);
    // Nor names a file: under the platform's default storage rule anyone may read a file whose ID they know.
    // (The documents the attacker planted above name files of their own choosing: left out.)
    const served = JSON.stringify(read.filter((doc) => !Object.hasOwn(doc as object, '_openid')));
    expect(sandbox.db.dump('roster_jobs').some((d) => d.kind === 'job')).toBe(true);
    expect(served).not.toMatch(/cloud:\/\/|roster-uploads|roster-reports/);
    for (const person of Object.values(PEOPLE)) {
      expect(text).not.toContain(person.idCardNumber);
      expect(text).not.toContain(person.idCardNumber.slice(-8));
      expect(text).not.toContain(person.name);
      expect(text).not.toContain(maskName(person.name));
      expect(text).not.toContain(maskIdCard(person.idCardNumber));
    }
  });
});

describe('with the manifest’s rules applied (the deploy)', () => {
  beforeAll(async () => {
    await deploySandbox(sandbox, { env: { ROSTER_ADMIN_OPENIDS: ADMIN } });
  });

  it('a client can neither write nor read any collection', async () => {
    for (const spec of COLLECTIONS) {
      expect(await client(ATTACKER, { collection: spec.name, action: 'add', data: { x: 1 } })).toMatchObject({
        ok: false,
        code: 'DATABASE_PERMISSION_DENIED',
      });
      expect(await client(ATTACKER, { collection: spec.name, action: 'get' })).toMatchObject({
        ok: false,
        code: 'DATABASE_PERMISSION_DENIED',
      });
    }
  });

  it('storage: a user reads their own upload only (PRIVATE); the platform default lets anyone read it', async () => {
    const uploaded = await fetch(`${sandbox.url}/sandbox/storage/upload?cloudPath=roster-uploads/private.csv`, {
      method: 'POST',
      headers: { 'X-WX-OPENID': ADMIN },
      body: 'secret roster',
    });
    const { fileID } = (await uploaded.json()) as { fileID: string };
    const download = (openid: string) =>
      fetch(`${sandbox.url}/sandbox/client/storage/download`, {
        method: 'POST',
        headers: { 'X-WX-OPENID': openid },
        body: JSON.stringify({ fileID }),
      }).then((r) => r.status);
    expect(await download(ADMIN)).toBe(200);
    expect(await download(ATTACKER)).toBe(403);
    // Nor may a user write over someone else's file.
    const overwrite = await fetch(`${sandbox.url}/sandbox/storage/upload?cloudPath=roster-uploads/private.csv`, {
      method: 'POST',
      headers: { 'X-WX-OPENID': ATTACKER },
      body: 'replaced',
    });
    expect(overwrite.status).toBe(403);
    // Nor get a link to it (wx.cloud.getTempFileURL).
    const link = (headers: Record<string, string>) => post(sandbox, '/sandbox/storage/temp-url', { fileID }, headers);
    expect((await link({ 'X-WX-OPENID': ATTACKER })).status).toBe(403);
    expect((await link({})).status).toBe(400);
    expect((await link({ 'X-WX-OPENID': ADMIN })).status).toBe(200);
    await resetRules();
    expect(await download(ATTACKER)).toBe(200);
    await deploySandbox(sandbox, { env: { ROSTER_ADMIN_OPENIDS: ADMIN } });
    sandbox.storage.delete('roster-uploads/private.csv');
  });
});

describe('placeholders and abuse bounds', () => {
  it('50 users start face verification at once: all succeed, with the unique index enforced', async () => {
    expect(sandbox.db.indexes('face_sessions')).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'verify_key', unique: true })]),
    );
    const starts = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call('face', `o_crowd_${i}`, {
          action: 'start',
          name: '张三',
          idCardNumber: makeIdCard('110101', `1980${String((i % 12) + 1).padStart(2, '0')}15`, String(100 + i)),
          consent: true,
          noticeVersion: noticeVersion('face'),
        }),
      ),
    );
    expect(starts.filter((s) => s.ok)).toHaveLength(50);
  });

  it('one account cannot lock a person out of face verification, and many accounts are bounded', async () => {
    const victim = { name: '张伟', idCardNumber: makeIdCard('320102', '19880808', '231') };
    const start = (openid: string, person = victim) =>
      call('face', openid, { action: 'start', ...person, consent: true, noticeVersion: noticeVersion('face') });
    // One persistent account: its own limit stops it (5 per 10 minutes); the person is unaffected.
    const attempts = [];
    for (let i = 0; i < 32; i += 1) attempts.push(await start('o_lockout', { ...victim, name: '李四' }));
    expect(attempts.filter((a) => a.ok)).toHaveLength(5);
    expect(attempts.slice(5).every((a) => a.code === 'FACE_RATE_LIMITED')).toBe(true);
    expect(await start('o_lockout_victim')).toMatchObject({ ok: true });
    // Different accounts for one ID: 5 an hour (the two above and three more); a caller let in stays in.
    for (const openid of ['o_lockout_2', 'o_lockout_3', 'o_lockout_4']) {
      expect(await start(openid)).toMatchObject({ ok: true });
    }
    expect(await start('o_lockout_6')).toMatchObject({ ok: false, code: 'FACE_RATE_LIMITED' });
    expect(await start('o_lockout_6')).toMatchObject({ ok: false, code: 'FACE_RATE_LIMITED' });
    expect(await start('o_lockout_victim')).toMatchObject({ ok: true });
    // Another ID is not affected by any of it.
    expect(await start('o_lockout_6', PEOPLE.bob)).toMatchObject({ ok: true });
  });

  it('a start that dies between its writes leaves nothing that blocks the next user', async () => {
    // The session is inserted with its own placeholder key; the write that replaces it fails.
    await post(sandbox, '/sandbox/db/faults', { action: 'database.modifyDocument', collection: 'face_sessions' });
    const broken = await call('face', 'o_broken', {
      action: 'start',
      ...PEOPLE.alice,
      consent: true,
      noticeVersion: noticeVersion('face'),
    });
    expect(broken).toMatchObject({ ok: false, code: 'INTERNAL' });
    const leftover = sandbox.db.dump('face_sessions').filter((s) => String(s.verifyKey).startsWith('starting_'));
    expect(leftover).toHaveLength(1);
    expect(
      await call('face', 'o_next', {
        action: 'start',
        ...PEOPLE.bob,
        consent: true,
        noticeVersion: noticeVersion('face'),
      }),
    ).toMatchObject({ ok: true });
    expect(
      await call('face', 'o_next_2', {
        action: 'start',
        ...PEOPLE.mallory,
        consent: true,
        noticeVersion: noticeVersion('face'),
      }),
    ).toMatchObject({
      ok: true,
    });
  });

  it('30 junk real-name fetches from one user make at most a handful of WeChat calls and no unbounded growth', async () => {
    const path = '/cgi-bin/wxopen/getrealnameinfo';
    const calls = sandbox.wechat.stats()[path] ?? 0;
    const tokens = sandbox.db.dump('used_tokens').length;
    const counters = sandbox.db.dump('rate_limits').length;
    const answers = [];
    for (let i = 0; i < 30; i += 1) {
      answers.push(
        await call('realname', 'o_junk', {
          action: 'fetch',
          noticeVersion: noticeVersion('wxpay'),
          authToken: `junk-token-${i}-${crypto.randomUUID()}`,
        }),
      );
    }
    expect(answers.slice(0, 5).every((a) => a.code === 'REALNAME_TOKEN_INVALID')).toBe(true);
    expect(answers.slice(5).every((a) => a.code === 'RATE_LIMITED')).toBe(true);
    expect((sandbox.wechat.stats()[path] ?? 0) - calls).toBe(5);
    expect(sandbox.db.dump('used_tokens').length - tokens).toBe(5);
    // One counter for this user and window, at 30 (and one of the refusals the audit trail recorded).
    expect(sandbox.db.dump('rate_limits').length - counters).toBe(2);
    expect(sandbox.db.dump('rate_limits').filter((c) => c.scope === 'realname.fetch' && c.count === 30)).toHaveLength(
      1,
    );
    expect(sandbox.db.dump('rate_limits').filter((c) => c.scope === 'audit.refusals' && c.count === 30)).toHaveLength(
      1,
    );
    // A day later the reservations and counters are swept away.
    await post(sandbox, '/sandbox/clock', { offsetSeconds: 25 * 3600 });
    try {
      const swept = await sandbox.invoke('realname', { Type: 'Timer', TriggerName: 'sweep-expired-records' }, '');
      expect(swept).toMatchObject({ ok: true });
      expect(sandbox.db.dump('used_tokens').filter((d) => d.kind === 'realname')).toEqual([]);
      expect(sandbox.db.dump('rate_limits')).toEqual([]);
    } finally {
      await post(sandbox, '/sandbox/clock', { offsetSeconds: 0 });
    }
  });

  it('a call from another mini-program sharing the environment is refused', async () => {
    const other = await sandbox.functions.invoke(
      'face',
      { action: 'status' },
      { openid: 'o_other_app', appid: 'wx0123456789abcdef' },
    );
    expect(other).toMatchObject({ ok: true, result: { ok: false, code: 'FORBIDDEN' } });
    const ours = await sandbox.invoke('face', { action: 'status' }, 'o_other_app');
    expect(ours).toMatchObject({ ok: true, result: { ok: true } });
  });
});
