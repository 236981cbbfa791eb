/**
 * Key rotation against the sandbox, the hard cases (test/integration/key-rotation.test.ts has the
 * ordinary one): the rotation service run in this process on the real SDK, with a clock that
 * advances per look (a deadline inside a page, no wall-clock speed involved) and a step injected
 * between a page's read and its conditional write (a withdrawal in flight); a rotation abandoned
 * for other keys; documents of before key rotation existed (no `kv`, no stored openid), one of them
 * backfilled by its holder's visit, one never (dropped, its audit entries still found by number);
 * a face session whose holder only a later collection knows.
 */
import crypto from 'crypto';
import type { Sandbox } from '../../sandbox';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { COLLECTIONS } from '../../server/manifest';
import { type Doc, type Plan, type RotatedCollection } from '../../server/core/key-rotation';
import { blindIndexUnder } from '../../server/core/pii';
import { typedDb, type CloudDb } from '../../server/lib/cloud-db';
import { KeyRotation } from '../../server/lib/key-rotation';
import { loadPiiKeys } from '../../server/lib/settings';
import { deploySandbox } from '../../scripts/lib/sandbox-deploy';
import {
  cityCheck,
  faceStart,
  faceVerify,
  freshSandbox,
  post,
  sdkFor,
  stopExpectingNoPlaintext,
} from '../helpers/sandbox';

jest.setTimeout(300_000);

const ADMIN = 'o_krs_admin';
const PEOPLE = {
  /** Verified before openids were stored; never comes back: unrekeyable, dropped. */
  legacy: { openid: 'o_krs_legacy', name: '郑秋', idCardNumber: makeIdCard('350102', '19800214', '031') },
  /** Verified before openids and `kv` were stored; visits during the rotation (backfilled). */
  back: { openid: 'o_krs_back', name: '冯远', idCardNumber: makeIdCard('370102', '19850709', '052') },
  /** Re-keyed to the abandoned keys, then withdrew. */
  abandoned: { openid: 'o_krs_ab', name: '陈晨', idCardNumber: makeIdCard('420102', '19910101', '073') },
  /** Withdraw while their consent (updated in place) is in flight. */
  wd1: { openid: 'o_krs_wd1', name: '杨帆', idCardNumber: makeIdCard('430102', '19930303', '094') },
  /** Withdraw while their binding (moved to a new _id) is in flight. */
  wd2: { openid: 'o_krs_wd2', name: '何静', idCardNumber: makeIdCard('450102', '19940404', '115') },
  /** Finishes face verification while their pending session (name and number inside) is in flight. */
  pend: { openid: 'o_krs_pend', name: '罗兰', idCardNumber: makeIdCard('460102', '19950505', '136') },
};
type Person = (typeof PEOPLE)[keyof typeof PEOPLE];

const newKey = () => crypto.randomBytes(32).toString('base64');
const B = { enc: newKey(), index: newKey() };
const C = { enc: newKey(), index: newKey() };
const base = { ROSTER_ADMIN_OPENIDS: ADMIN };

let sandbox: Sandbox;
let first: { enc: string; index: string };
let db: CloudDb;
let pendingVerifyId = '';

beforeAll(async () => {
  sandbox = await freshSandbox({ functionEnv: base });
  first = { enc: sandbox.secrets.piiEncKey, index: sandbox.secrets.piiIndexKey };
  db = typedDb(sdkFor(sandbox, ADMIN).database());
});
// Nothing the sandbox persisted (database journal, storage, function logs) holds a name or number.
afterAll(() => stopExpectingNoPlaintext(sandbox, Object.values(PEOPLE)));

const call = (fn: string, openid: string, event: Record<string, unknown>) =>
  post(sandbox, `/gateway/functions/${fn}`, event, { 'X-WX-OPENID': openid }).then((r) => r.body);

/** Rotating to B: the first keys listed as old. */
const toB = () => ({
  PII_ENC_KEY: B.enc,
  PII_ENC_KEY_ID: 'k2',
  PII_INDEX_KEY: B.index,
  PII_INDEX_KEY_ID: 'i2',
  PII_ENC_KEYS_OLD: `k1:${first.enc}`,
  PII_INDEX_KEYS_OLD: `i1:${first.index}`,
});
/** B abandoned for C: both earlier key pairs listed as old (some data is under each). */
const toC = () => ({
  PII_ENC_KEY: C.enc,
  PII_ENC_KEY_ID: 'k3',
  PII_INDEX_KEY: C.index,
  PII_INDEX_KEY_ID: 'i3',
  PII_ENC_KEYS_OLD: `k1:${first.enc},k2:${B.enc}`,
  PII_INDEX_KEYS_OLD: `i1:${first.index},i2:${B.index}`,
});
const after = () => ({ ...toC(), PII_ENC_KEYS_OLD: '', PII_INDEX_KEYS_OLD: '' });
const configure = (pii: Record<string, string>) => deploySandbox(sandbox, { env: { ...base, ...pii } });

const everything = () => COLLECTIONS.map((c) => JSON.stringify(sandbox.db.dump(c.name))).join('\n');
const hashUnder = (key: string, kind: string, value: string) =>
  blindIndexUnder(Buffer.from(key, 'base64'), kind, value);
/** Every hash of a known plaintext (openids, ID numbers) under the index key `key`. */
const hashesUnder = (key: string) => [
  hashUnder(key, 'openid', ADMIN),
  ...Object.values(PEOPLE).flatMap((p) => [
    hashUnder(key, 'openid', p.openid),
    hashUnder(key, 'idCard', p.idCardNumber),
  ]),
];
/** Documents of `collection` whose openidHash is `person`'s under any of the three index keys. */
const heldBy = (collection: string, person: Person) => {
  const hashes = [first.index, B.index, C.index].map((k) => hashUnder(k, 'openid', person.openid));
  return sandbox.db.dump(collection).filter((d) => hashes.includes(String(d.openidHash)));
};

/** Documents before key rotation existed: no `kv`; without `openidEnc` too unless `keepOpenid`. */
async function makeLegacy(collection: string, person: Person, keepOpenid = false) {
  const _ = db.command;
  const res = await db
    .collection(collection)
    .where({ openidHash: hashUnder(first.index, 'openid', person.openid) })
    .update({ data: { kv: _.remove(), ...(keepOpenid ? {} : { openidEnc: _.remove() }) } });
  expect(res.stats.updated).toBeGreaterThan(0);
}

/**
 * The rotation service as the admin function builds it, with a step before each conditional write
 * (the test's withdrawals) and a record of every write that took effect.
 */
class ObservedRotation extends KeyRotation {
  readonly applied: string[] = [];
  constructor(
    keys: ReturnType<typeof loadPiiKeys>,
    private readonly before: (collection: RotatedCollection, doc: Doc) => Promise<void>,
  ) {
    super(db, keys);
  }
  protected override async apply(
    collection: RotatedCollection,
    doc: Doc,
    plan: Exclude<Plan, { kind: 'skip' }>,
  ): Promise<boolean> {
    await this.before(collection, doc);
    const done = await super.apply(collection, doc, plan);
    if (done) this.applied.push(`${collection}/${doc._id}`);
    return done;
  }
}

describe('a key rotation in slices, abandoned keys, legacy documents and a withdrawal in flight', () => {
  it('starts from verifications under the first keys, some of them of before key rotation existed', async () => {
    expect(await cityCheck(sandbox, PEOPLE.legacy.openid, PEOPLE.legacy)).toMatchObject({ ok: true });
    for (const p of [PEOPLE.back, PEOPLE.abandoned, PEOPLE.wd1, PEOPLE.wd2]) {
      expect(await faceVerify(sandbox, p.openid, p)).toMatchObject({ ok: true });
    }
    const started = await faceStart(sandbox, PEOPLE.pend.openid, PEOPLE.pend);
    expect(started).toMatchObject({ ok: true });
    pendingVerifyId = String(started.verifyId);
    for (const c of ['bindings', 'consents']) await makeLegacy(c, PEOPLE.legacy);
    for (const c of ['bindings', 'consents', 'face_sessions']) await makeLegacy(c, PEOPLE.back);
    expect(heldBy('bindings', PEOPLE.back)[0]).not.toHaveProperty('kv');
  });

  it('a rotation to keys B gets past the bindings, then the keys change to C: its learned pairs are not used', async () => {
    await configure(toB());
    expect(await call('admin', ADMIN, { action: 'rotateKeys', limit: 2 })).toMatchObject({
      ok: true,
      state: 'running',
      target: 'k2.i2',
    });
    // Abandoned once the bindings are done: the operator stops it when it reaches the face sessions.
    const stop = new Error('abandoned');
    const toKeysB = new ObservedRotation(loadPiiKeys(toB()), async (collection) => {
      if (collection === 'face_sessions') throw stop;
    });
    await expect(toKeysB.run({ deadline: Date.now() + 600_000 })).rejects.toBe(stop);
    expect(await call('admin', ADMIN, { action: 'rotationStatus' })).toMatchObject({
      state: 'running',
      collection: 'face_sessions',
    });
    const abandonedB = hashUnder(B.index, 'idCard', PEOPLE.abandoned.idCardNumber);
    expect(sandbox.db.dump('key_rotation').some((m) => m.to === abandonedB && m.target === 'k2.i2')).toBe(true);
    // Under B, the person withdraws: nothing live tells the pair again.
    expect(await call('identity', PEOPLE.abandoned.openid, { action: 'withdraw' })).toMatchObject({ ok: true });
    expect(everything()).toContain(abandonedB);

    await configure(toC());
    // The holder of the backfilled documents visits: their binding gains its openid.
    expect(await call('identity', PEOPLE.back.openid, { action: 'mine' })).toMatchObject({
      ok: true,
      bindings: [{ method: 'face' }],
    });
    expect(heldBy('bindings', PEOPLE.back)[0]).toHaveProperty('openidEnc');
  });

  let rotation: ObservedRotation;
  const runs: number[] = [];
  const withdrawals: string[] = [];

  it('re-keys to C in slices cut inside pages by the deadline, resuming right after the last document handled', async () => {
    const keys = loadPiiKeys(toC());
    // Their documents are under B by now (re-keyed by the abandoned rotation).
    const wd1 = hashUnder(B.index, 'openid', PEOPLE.wd1.openid);
    const wd2 = hashUnder(B.index, 'openid', PEOPLE.wd2.openid);
    const pend = [first.index, B.index].map((k) => hashUnder(k, 'openid', PEOPLE.pend.openid));
    rotation = new ObservedRotation(keys, async (collection, doc) => {
      // Between the page's read and this write, the pending session ends: its holder passes.
      if (collection === 'face_sessions' && pend.includes(String(doc.openidHash)) && doc.nameEnc !== undefined) {
        if (withdrawals.includes(PEOPLE.pend.openid)) return;
        withdrawals.push(PEOPLE.pend.openid);
        await post(sandbox, '/sandbox/face/complete', {
          openid: PEOPLE.pend.openid,
          verifyId: pendingVerifyId,
          outcome: 'pass',
        });
        const confirmed = await call('face', PEOPLE.pend.openid, { action: 'confirm', verifyId: pendingVerifyId });
        expect(confirmed).toMatchObject({ ok: true });
        return;
      }
      // Between the page's read and this write, the holder withdraws (through the real function).
      const who =
        collection === 'consents' && doc.openidHash === wd1
          ? PEOPLE.wd1
          : collection === 'bindings' && doc.openidHash === wd2
            ? PEOPLE.wd2
            : undefined;
      if (!who || withdrawals.includes(who.openid)) return;
      withdrawals.push(who.openid);
      expect(await call('identity', who.openid, { action: 'withdraw' })).toMatchObject({ ok: true });
    });
    // A clock that advances one step per look: each call handles at most 3 documents, whatever the
    // machine's speed, and the deadline falls inside a page.
    let status: Awaited<ReturnType<KeyRotation['run']>> | undefined;
    let cutInside = 0;
    for (let i = 0; i < 400; i += 1) {
      let now = 0;
      const before = rotation.applied.length;
      status = await rotation.run({ deadline: 4, clock: () => now++ });
      runs.push(rotation.applied.length - before);
      const stored = sandbox.db.dump('key_rotation').find((d) => d._id === 'status')!;
      if (stored.cursor !== '') cutInside += 1;
      if (status.state !== 'running') break;
    }
    expect(status?.target).toBe('k3.i3');
    expect(Math.max(...runs)).toBeLessThanOrEqual(3);
    expect(cutInside).toBeGreaterThan(3);
    // No document written twice: each write that took effect is of a different document.
    expect(new Set(rotation.applied).size).toBe(rotation.applied.length);
    expect(withdrawals).toEqual([PEOPLE.wd1.openid, PEOPLE.wd2.openid, PEOPLE.pend.openid]);
    // Only what cannot be done now is left: the legacy person's binding and consent, the spent code.
    expect(status).toMatchObject({ state: 'blocked', unrekeyable: 2, waiting: 1, unreadable: 0 });
  });

  it('a withdrawal or a session ended between a page read and its write is not undone', async () => {
    // The session's name and number, removed when it ended, were not written back from the stale read.
    const sessions = heldBy('face_sessions', PEOPLE.pend);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ state: 'passed', kv: 'k3.i3' });
    expect(sessions[0]).not.toHaveProperty('nameEnc');
    expect(sessions[0]).not.toHaveProperty('idEnc');
    for (const p of [PEOPLE.wd1, PEOPLE.wd2]) {
      for (const c of ['bindings', 'consents']) expect(heldBy(c, p)).toEqual([]);
      expect(await call('identity', p.openid, { action: 'mine' })).toMatchObject({
        ok: true,
        bindings: [],
        consents: [],
      });
    }
    // The moved copy written from the stale read went with it.
    expect(rotation.applied.filter((a) => a.startsWith('bindings/'))).not.toContain(
      `bindings/face_${hashUnder(B.index, 'openid', PEOPLE.wd2.openid)}`,
    );
  });

  it('dropUnrekeyable, through the function once the spent code expired, finishes the rotation', async () => {
    await post(sandbox, '/sandbox/clock', { offsetSeconds: 2 * 86_400 });
    try {
      const blocked = await call('admin', ADMIN, { action: 'rotateKeys' });
      expect(blocked).toMatchObject({ ok: true, state: 'blocked', unrekeyable: 2, waiting: 0 });
      const dropped = await call('admin', ADMIN, { action: 'rotateKeys', dropUnrekeyable: true });
      expect(dropped).toMatchObject({ ok: true, state: 'done', unrekeyable: 0 });
      expect(Number(dropped.removed)).toBeGreaterThanOrEqual(Number(blocked.removed) + 2);
    } finally {
      await post(sandbox, '/sandbox/clock', { offsetSeconds: 0 });
    }
    expect(heldBy('bindings', PEOPLE.legacy)).toEqual([]);
    expect(heldBy('consents', PEOPLE.legacy)).toEqual([]);
  });

  it('leaves no value under the first keys nor under the abandoned ones', () => {
    const text = everything();
    for (const id of ['k1', 'k2']) expect(text).not.toContain(`"v1.${id}.`);
    for (const hash of [...hashesUnder(first.index), ...hashesUnder(B.index)]) expect(text).not.toContain(hash);
    expect(sandbox.db.dump('key_rotation').filter((d) => d._id !== 'status')).toEqual([]);
  });

  it('the legacy documents were re-keyed: the backfilled binding, its consent and session under the holder’s new hash', () => {
    const back = hashUnder(C.index, 'openid', PEOPLE.back.openid);
    expect(sandbox.db.dump('bindings').filter((b) => b.openidHash === back)).toMatchObject([{ kv: 'k3.i3' }]);
    // The consent (no openid of its own) learned its holder from the binding, in the next pass.
    expect(sandbox.db.dump('consents').filter((b) => b.openidHash === back)).toMatchObject([{ kv: 'k3.i3' }]);
    // A face session without an openid of its own takes the holder's new hash (bindings are visited
    // first), not an HMAC of the old one (which would no longer match its holder).
    expect(sandbox.db.dump('face_sessions').filter((s) => s.openidHash === back)).toMatchObject([{ kv: 'k3.i3' }]);
  });

  it('with the old keys removed, the dropped person’s audit entries are still found by ID number; the abandoned person’s are not', async () => {
    await configure(after());
    const legacy = await call('admin', ADMIN, { action: 'audit', idCardNumber: PEOPLE.legacy.idCardNumber });
    expect((legacy.entries as { action: string }[]).map((e) => e.action)).toContain('realname.check');
    expect(await call('admin', ADMIN, { action: 'lookup', idCardNumber: PEOPLE.legacy.idCardNumber })).toMatchObject({
      ok: true,
      bindings: [],
    });
    // Withdrawn before C: only the HMAC of the old hash remains (unlinkable, as the withdrawal asked).
    const gone = await call('admin', ADMIN, { action: 'audit', idCardNumber: PEOPLE.abandoned.idCardNumber });
    expect(gone).toMatchObject({ ok: true });
    expect((gone.entries as { action: string }[]).map((e) => e.action)).not.toContain('face.confirm');
  });
});
