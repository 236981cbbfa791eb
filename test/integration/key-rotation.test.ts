/**
 * Key rotation against the sandbox, through the gateway with the real functions: data seeded by
 * the real flows (face, city-service check, staff review, roster import, consents, a withdrawal,
 * admin actions), the sandbox redeployed with new keys (old ones listed as old), `admin.rotateKeys`
 * run a slice at a time (resumed), then redeployed with the new keys only: every flow still works,
 * and no document holds a ciphertext under an old key id or a blind index under the old index key.
 */
import { spawn } from 'child_process';
import crypto from 'crypto';
import path from 'path';
import nodeXlsx from 'node-xlsx';
import type { Sandbox } from '../../sandbox';
import { noticeVersion } from '../../miniprogram/shared/consent';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { maskIdCard } from '../../miniprogram/shared/mask';
import { COLLECTIONS } from '../../server/manifest';
import { blindIndexUnder } from '../../server/core/pii';
import { deploySandbox } from '../../scripts/lib/sandbox-deploy';
import {
  cityCheck as checkByCity,
  citycheckCode,
  faceVerify as verifyByFace,
  freshSandbox,
  importRoster as importUpload,
  post,
  stopExpectingNoPlaintext,
  uploadFile,
} from '../helpers/sandbox';

jest.setTimeout(300_000);

const ADMIN = 'o_kr_admin';
const PEOPLE = {
  lin: { name: '林小雨', idCardNumber: makeIdCard('330106', '19950412', '128') },
  zhou: { name: '周大海', idCardNumber: makeIdCard('510104', '19780930', '215') },
  gone: { name: '吴静', idCardNumber: makeIdCard('440106', '19880808', '044') },
};
const PASSPORT = { name: 'MARIA GARCIA', docType: 'passport', docNumber: 'P98765432' };
const PENDING_PASSPORT = { name: 'JOHN SMITH', docType: 'passport', docNumber: 'X1234567' };
const OPENIDS = [ADMIN, 'o_kr_lin', 'o_kr_zhou', 'o_kr_gone', 'o_kr_maria', 'o_kr_john'];

const newKey = () => crypto.randomBytes(32).toString('base64');
const OLD_IDS = { enc: 'k1', index: 'i1' };

let sandbox: Sandbox;
let oldKeys: { enc: string; index: string };
const NEXT = { enc: newKey(), index: newKey() };
const base = { ROSTER_ADMIN_OPENIDS: ADMIN };

beforeAll(async () => {
  sandbox = await freshSandbox({ functionEnv: base });
  oldKeys = { enc: sandbox.secrets.piiEncKey, index: sandbox.secrets.piiIndexKey };
});
// Nothing the sandbox persisted (database journal, storage, function logs) holds a name or number.
afterAll(() => stopExpectingNoPlaintext(sandbox, Object.values(PEOPLE)));

const call = (fn: string, openid: string, event: Record<string, unknown>) =>
  post(sandbox, `/gateway/functions/${fn}`, event, { 'X-WX-OPENID': openid }).then((r) => r.body);

/** The sandbox's functions redeployed with these PII settings (blank: not set). */
const configure = (pii: Record<string, string>) => deploySandbox(sandbox, { env: { ...base, ...pii } });
const DURING = {
  PII_ENC_KEY: NEXT.enc,
  PII_ENC_KEY_ID: 'k2',
  PII_INDEX_KEY: NEXT.index,
  PII_INDEX_KEY_ID: 'i2',
};
const rotating = () => ({
  ...DURING,
  PII_ENC_KEYS_OLD: `${OLD_IDS.enc}:${oldKeys.enc}`,
  PII_INDEX_KEYS_OLD: `${OLD_IDS.index}:${oldKeys.index}`,
});
const AFTER = { ...DURING, PII_ENC_KEYS_OLD: '', PII_INDEX_KEYS_OLD: '' };

const faceVerify = (openid: string, person: { name: string; idCardNumber: string }) =>
  verifyByFace(sandbox, openid, person);

let spentCode = '';

async function cityCheck(openid: string, person: { name: string; idCardNumber: string }) {
  spentCode = await citycheckCode(sandbox, openid, person);
  return checkByCity(sandbox, openid, person, spentCode);
}

const ROSTER_FILE = Buffer.from(
  nodeXlsx.build([
    {
      name: '名单',
      data: [['姓名', '身份证号', '部门'], ...Object.values(PEOPLE).map((p) => [p.name, p.idCardNumber, '内科'])],
      options: {},
    },
  ]),
);

async function importRoster(name: string) {
  // The place the function names (under the keys it runs with at the time), as the page and the CLI do.
  const reserved = await call('roster', ADMIN, { action: 'reserveUpload', fileName: `${name}.xlsx` });
  const fileID = await uploadFile(sandbox, ADMIN, String(reserved.cloudPath), ROSTER_FILE, { reserve: false });
  return importUpload(sandbox, ADMIN, fileID);
}

/** `npm run rotate-keys` as a user runs it, against this sandbox, as the admin. */
const cli = (...args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ['scripts/run.js', 'scripts/rotate-keys.ts', ...args, '--sandbox', sandbox.url, '--as', ADMIN],
      { cwd: path.resolve(__dirname, '../..') },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });

/** Every document of every collection of the manifest, as text. */
const everything = () => COLLECTIONS.map((c) => JSON.stringify(sandbox.db.dump(c.name))).join('\n');

/** The blind indexes of every known plaintext under the old index key: none may remain. */
function oldIndexes(): string[] {
  const key = Buffer.from(oldKeys.index, 'base64');
  return [
    ...OPENIDS.map((o) => blindIndexUnder(key, 'openid', o)),
    ...Object.values(PEOPLE).map((p) => blindIndexUnder(key, 'idCard', p.idCardNumber)),
    ...[PASSPORT, PENDING_PASSPORT].map((d) => blindIndexUnder(key, 'document', `${d.docType}\0${d.docNumber}`)),
  ];
}

describe('a key rotation', () => {
  let pendingRequest: string;

  it('starts from data written by every flow under the first keys', async () => {
    expect(await importRoster('first')).toMatchObject({ state: 'done', inserted: 3 });
    expect(await faceVerify('o_kr_lin', PEOPLE.lin)).toMatchObject({ ok: true });
    expect(await cityCheck('o_kr_zhou', PEOPLE.zhou)).toMatchObject({ ok: true });
    expect(await faceVerify('o_kr_gone', PEOPLE.gone)).toMatchObject({ ok: true });
    expect(await call('identity', 'o_kr_gone', { action: 'withdraw' })).toMatchObject({ ok: true });
    const submit = (openid: string, doc: typeof PASSPORT) =>
      call('review', openid, { action: 'submit', ...doc, consent: true, noticeVersion: noticeVersion('manual') });
    const maria = await submit('o_kr_maria', PASSPORT);
    expect(
      await call('review', ADMIN, {
        action: 'decide',
        requestId: maria.requestId,
        approve: true,
        docNumber: PASSPORT.docNumber,
      }),
    ).toMatchObject({ ok: true });
    pendingRequest = String((await submit('o_kr_john', PENDING_PASSPORT)).requestId);
    expect(await call('admin', ADMIN, { action: 'lookup', idCardNumber: PEOPLE.lin.idCardNumber })).toMatchObject({
      ok: true,
      inRoster: true,
    });
    expect(everything()).toContain(`"v1.${OLD_IDS.enc}.`);
    expect(oldIndexes().filter((h) => everything().includes(h)).length).toBeGreaterThan(5);
  });

  it('is refused to a non-admin, and answers idle before it starts', async () => {
    expect(await call('admin', 'o_kr_lin', { action: 'rotateKeys' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await call('admin', ADMIN, { action: 'rotateKeys', limit: 0 })).toMatchObject({
      ok: false,
      code: 'INVALID_REQUEST',
    });
    await configure(rotating());
    expect(await call('admin', ADMIN, { action: 'rotationStatus' })).toMatchObject({
      ok: true,
      state: 'idle',
      target: 'k2.i2',
    });
  });

  it('while the new keys are deployed and nothing is re-keyed yet, every reader still finds the old documents', async () => {
    const mine = await call('identity', 'o_kr_lin', { action: 'mine' });
    expect(mine).toMatchObject({ ok: true, bindings: [{ method: 'face', inRoster: true }] });
    expect(mine.consents).toHaveLength(1);
    expect(await call('face', 'o_kr_zhou', { action: 'status' })).toMatchObject({
      bindings: [{ method: 'wxcheck', maskedIdCard: maskIdCard(PEOPLE.zhou.idCardNumber) }],
    });
    expect(await call('admin', ADMIN, { action: 'lookup', idCardNumber: PEOPLE.lin.idCardNumber })).toMatchObject({
      ok: true,
      inRoster: true,
      bindings: [{ method: 'face' }],
    });
    // The wxcheck code spent under the old index key stays spent: no replay window.
    const reused = await call('realname', 'o_kr_zhou', {
      action: 'check',
      ...PEOPLE.zhou,
      code: spentCode,
      consent: true,
      noticeVersion: noticeVersion('wxcheck'),
    });
    expect(reused).toMatchObject({ ok: false, code: 'REALNAME_CHECK_CODE_USED' });
    // A pending request under the old key's hash still counts: no second one.
    expect(
      await call('review', 'o_kr_john', {
        action: 'submit',
        ...PENDING_PASSPORT,
        consent: true,
        noticeVersion: noticeVersion('manual'),
      }),
    ).toMatchObject({ ok: false, code: 'REVIEW_PENDING_EXISTS' });
    // Roster imports wait for the rotation to end (the writer finds people under the current key
    // only); the refused upload is deleted at once.
    const fileID = await uploadFile(sandbox, ADMIN, 'roster-uploads/during.xlsx', ROSTER_FILE);
    expect(await call('roster', ADMIN, { action: 'import', fileID })).toMatchObject({
      ok: false,
      code: 'ROTATION_BUSY',
    });
    expect(sandbox.storage.list().filter((f) => f.includes('during'))).toEqual([]);
  });

  it('re-keys a slice at a time: an interrupted rotation resumes where it stopped', async () => {
    const first = await call('admin', ADMIN, { action: 'rotateKeys', limit: 3 });
    expect(first).toMatchObject({ ok: true, state: 'running', target: 'k2.i2' });
    expect(Number(first.rekeyed) + Number(first.removed)).toBe(3);
    expect(await call('admin', ADMIN, { action: 'rotationStatus' })).toMatchObject({
      state: 'running',
      rekeyed: first.rekeyed,
      removed: first.removed,
    });
    let status = first;
    for (let i = 0; i < 100 && status.state === 'running'; i += 1) {
      status = await call('admin', ADMIN, { action: 'rotateKeys', limit: 7 });
      expect(status).toMatchObject({ ok: true });
    }
    // The spent city-service code cannot be re-keyed (its value is not kept): it waits for its expiry.
    expect(status).toMatchObject({ state: 'blocked', waiting: 1, unrekeyable: 0, unreadable: 0 });
    expect(String(status.next)).toContain('一次性凭证');
  });

  it('finishes once the spent credentials under the old key expired (the CLI drives it and says what next)', async () => {
    const blocked = await cli('--status');
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toContain('k2.i2: blocked');
    await post(sandbox, '/sandbox/clock', { offsetSeconds: 2 * 86_400 });
    try {
      const run = await cli();
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('k2.i2: done');
      expect(run.stdout).toContain('PII_INDEX_KEYS_OLD');
      const status = await call('admin', ADMIN, { action: 'rotationStatus' });
      expect(status).toMatchObject({ ok: true, state: 'done', waiting: 0 });
      // Nothing to do: run again, still done, nothing more rewritten.
      const again = await call('admin', ADMIN, { action: 'rotateKeys' });
      expect(again).toMatchObject({ ok: true, state: 'done', rekeyed: status.rekeyed });
      // The cloud's way in (no gateway): an invocation without a user, named rotate-keys; audited.
      const invoked = await sandbox.invoke('admin', { Type: 'Timer', TriggerName: 'rotate-keys' }, '');
      expect(invoked).toMatchObject({ ok: true, result: { ok: true, state: 'done', rekeyed: status.rekeyed } });
      expect(
        sandbox.db.dump('audit_log').filter((e) => e.action === 'admin.rotateKeys' && e.actorHash === ''),
      ).toHaveLength(1);
    } finally {
      await post(sandbox, '/sandbox/clock', { offsetSeconds: 0 });
    }
  });

  it('leaves no value under the old keys in any collection', () => {
    const text = everything();
    expect(text).not.toContain(`"v1.${OLD_IDS.enc}.`);
    expect(text).toContain('"v1.k2.');
    for (const hash of oldIndexes()) expect(text).not.toContain(hash);
    expect(sandbox.db.dump('key_rotation').filter((d) => d._id !== 'status')).toEqual([]);
  });

  it('with the old keys removed, every flow still works', async () => {
    await configure(AFTER);
    const mine = await call('identity', 'o_kr_lin', { action: 'mine' });
    expect(mine).toMatchObject({
      ok: true,
      bindings: [{ method: 'face', maskedIdCard: maskIdCard(PEOPLE.lin.idCardNumber), inRoster: true }],
    });
    expect(mine.consents).toHaveLength(1);
    expect(await call('face', 'o_kr_zhou', { action: 'status' })).toMatchObject({
      bindings: [{ method: 'wxcheck', inRoster: true }],
    });
    expect(await call('review', 'o_kr_maria', { action: 'mine' })).toMatchObject({
      requests: [{ state: 'approved' }],
    });
    expect(await call('identity', 'o_kr_maria', { action: 'mine' })).toMatchObject({
      bindings: [{ method: 'manual', docType: 'passport' }],
    });
    // The request still pending before the rotation is approved after it, and binds its holder.
    expect(
      await call('review', ADMIN, {
        action: 'decide',
        requestId: pendingRequest,
        approve: true,
        docNumber: PENDING_PASSPORT.docNumber,
      }),
    ).toMatchObject({ ok: true });
    expect(await call('identity', 'o_kr_john', { action: 'mine' })).toMatchObject({
      bindings: [{ method: 'manual' }],
    });
    expect(await call('admin', ADMIN, { action: 'lookup', idCardNumber: PEOPLE.lin.idCardNumber })).toMatchObject({
      ok: true,
      inRoster: true,
      bindings: [{ method: 'face' }],
    });
    expect(await call('admin', ADMIN, { action: 'coverage' })).toMatchObject({
      ok: true,
      rosterTotal: 3,
      verified: 2,
      byMethod: { face: 1, wxcheck: 1 },
    });
    // The audit found by the person's ID number: entries from before the rotation included.
    const trail = await call('admin', ADMIN, { action: 'audit', idCardNumber: PEOPLE.lin.idCardNumber });
    expect((trail.entries as { action: string }[]).map((e) => e.action)).toEqual(
      expect.arrayContaining(['face.start', 'face.confirm', 'admin.lookup']),
    );
    // The person who withdrew is still in the roster: found by ID number. Their openid, known from no
    // live document any more, was re-keyed as an HMAC of its old hash: grouped, but unlinkable.
    const gone = await call('admin', ADMIN, { action: 'audit', idCardNumber: PEOPLE.gone.idCardNumber });
    const withdrawal = (gone.entries as { action: string; actor: string }[]).find(
      (e) => e.action === 'identity.withdraw',
    );
    const oldHash = blindIndexUnder(Buffer.from(oldKeys.index, 'base64'), 'openid', 'o_kr_gone');
    const next = Buffer.from(NEXT.index, 'base64');
    expect(withdrawal?.actor).toBe(blindIndexUnder(next, 'rekeyed', oldHash).slice(0, 12));
    expect(withdrawal?.actor).not.toBe(blindIndexUnder(next, 'openid', 'o_kr_gone').slice(0, 12));
    // A new verification, and the same roster imported again: everyone is found unchanged.
    expect(await faceVerify('o_kr_gone', PEOPLE.gone)).toMatchObject({ ok: true });
    expect(await importRoster('again')).toMatchObject({ state: 'done', inserted: 0, unchanged: 3 });
  });

  it('refuses clearly when a value is under a key the configuration does not list', async () => {
    await configure({ ...AFTER, PII_ENC_KEY: newKey(), PII_ENC_KEY_ID: 'k3' });
    expect(await call('admin', ADMIN, { action: 'rotateKeys' })).toMatchObject({
      ok: false,
      code: 'ROTATION_KEY_MISSING',
    });
    await configure({ ...AFTER, PII_ENC_KEY: '' });
    expect(await call('admin', ADMIN, { action: 'rotateKeys' })).toMatchObject({ ok: false, code: 'NOT_CONFIGURED' });
  });
});
