/** What a key rotation writes for one document (core/key-rotation.ts): the pure rules. */
import crypto from 'crypto';
import {
  planRekey,
  ROTATION_ORDER,
  RotationKeyMissing,
  type Doc,
  type Plan,
  type PlanContext,
  type RotatedCollection,
} from '../../../server/core/key-rotation';
import { blindIndex, blindIndexUnder, encryptField, keyIdOf, type PiiKeys } from '../../../server/core/pii';
import { loadPiiKeys } from '../../../server/lib/settings';

const key = () => crypto.randomBytes(32).toString('base64');
const OLD = { enc: key(), index: key() };
const NEW = { enc: key(), index: key() };

const before: PiiKeys = loadPiiKeys({ PII_ENC_KEY: OLD.enc, PII_INDEX_KEY: OLD.index });
const during: PiiKeys = loadPiiKeys({
  PII_ENC_KEY: NEW.enc,
  PII_ENC_KEY_ID: 'k2',
  PII_ENC_KEYS_OLD: `k1:${OLD.enc}`,
  PII_INDEX_KEY: NEW.index,
  PII_INDEX_KEY_ID: 'i2',
  PII_INDEX_KEYS_OLD: `i1:${OLD.index}`,
});
const ctx = (mapped: Record<string, string> = {}, keys = during): PlanContext => ({
  keys,
  mapped: (old) => mapped[old],
  now: Date.parse('2026-01-01T00:00:00Z'),
});

const ID = '11010119900307803X';
const OPENID = 'o_person';

function binding(withOpenid: boolean): Doc {
  const hash = blindIndex(before, 'openid', OPENID);
  const _id = `face_${hash}`;
  return {
    _id,
    openidHash: hash,
    ...(withOpenid ? { openidEnc: encryptField(before, OPENID, `bindings:${_id}:openid`) } : {}),
    method: 'face',
    nameEnc: encryptField(before, '张三', `bindings:${_id}:name`),
    idEnc: encryptField(before, ID, `bindings:${_id}:idCard`),
    idIndex: blindIndex(before, 'idCard', ID),
    kv: 'k1.i1',
  };
}

describe('planRekey', () => {
  it('moves a binding to its new _id, every value under the new keys, and learns its old hashes', () => {
    const plan = planRekey('bindings', binding(true), ctx());
    if (plan.kind !== 'move') throw new Error(`expected a move, got ${plan.kind}`);
    const newHash = blindIndex(during, 'openid', OPENID);
    expect(plan.doc).toMatchObject({
      _id: `face_${newHash}`,
      openidHash: newHash,
      idIndex: blindIndex(during, 'idCard', ID),
      kv: 'k2.i2',
    });
    for (const field of ['openidEnc', 'nameEnc', 'idEnc']) expect(keyIdOf(plan.doc[field])).toBe('k2');
    expect(plan.learned).toEqual(
      expect.arrayContaining([
        [blindIndex(before, 'openid', OPENID), newHash],
        [blindIndex(before, 'idCard', ID), blindIndex(during, 'idCard', ID)],
      ]),
    );
  });

  it('a binding of before openids were stored cannot be re-keyed, unless its holder hash was learned', () => {
    // Its number is known though: the pair is learned, so the audit's entries about it stay linked.
    expect(planRekey('bindings', binding(false), ctx())).toEqual({
      kind: 'skip',
      reason: 'unrekeyable',
      learned: [[blindIndex(before, 'idCard', ID), blindIndex(during, 'idCard', ID)]],
    });
    const old = blindIndex(before, 'openid', OPENID);
    const learned = planRekey('bindings', binding(false), ctx({ [old]: 'n'.repeat(64) }));
    expect(learned).toMatchObject({ kind: 'move', doc: { _id: `face_${'n'.repeat(64)}` } });
  });

  it('when only the encryption key rotates, hashes stay and ciphertexts are renewed in place', () => {
    const encOnly = loadPiiKeys({
      PII_ENC_KEY: NEW.enc,
      PII_ENC_KEY_ID: 'k2',
      PII_ENC_KEYS_OLD: `k1:${OLD.enc}`,
      PII_INDEX_KEY: OLD.index,
    });
    const plan = planRekey('bindings', binding(false), ctx({}, encOnly));
    if (plan.kind !== 'update') throw new Error(`expected an update, got ${plan.kind}`);
    expect(plan.set.openidHash).toBe(blindIndex(before, 'openid', OPENID));
    expect(keyIdOf(plan.set.nameEnc)).toBe('k2');
    expect(plan.set.kv).toBe('k2.i1');
  });

  it('an audit entry takes the learned hash, else an HMAC of the old one under the new key', () => {
    const actor = blindIndex(before, 'openid', 'o_admin');
    const subject = blindIndex(before, 'idCard', ID);
    const entry: Doc = { _id: 'a1', actorHash: actor, subjectIndex: subject, kv: 'k1.i1' };
    expect(planRekey('audit_log', entry, ctx({ [subject]: 'learned' }))).toEqual({
      kind: 'update',
      set: {
        actorHash: blindIndexUnder(Buffer.from(NEW.index, 'base64'), 'rekeyed', actor),
        subjectIndex: 'learned',
        kv: 'k2.i2',
      },
      learned: [],
    });
    // Already under the current index key (written after the deploy): left as it is.
    expect(planRekey('audit_log', { ...entry, kv: 'k2.i2' }, ctx())).toMatchObject({
      set: { actorHash: actor, subjectIndex: subject },
    });
  });

  it('transient documents: old counters and locks go; spent credentials wait for their expiry', () => {
    expect(planRekey('rate_limits', { _id: 'r', keyHash: 'x', kv: 'k1.i1' }, ctx())).toEqual({ kind: 'delete' });
    expect(planRekey('roster_jobs', { _id: 'lock_x', kind: 'lock' }, ctx())).toEqual({ kind: 'delete' });
    const token = { _id: 't', kind: 'wxcheck', expiresAt: new Date('2026-01-02T00:00:00Z') };
    expect(planRekey('used_tokens', token, ctx())).toEqual({
      kind: 'skip',
      reason: 'waiting',
      until: Date.parse('2026-01-02T00:00:00Z'),
    });
    expect(planRekey('used_tokens', { ...token, expiresAt: new Date('2025-12-31T00:00:00Z') }, ctx())).toEqual({
      kind: 'delete',
    });
  });

  it('a ciphertext under a key the ring lacks stops the rotation; a tampered one is reported, not guessed', () => {
    const lacking = loadPiiKeys({
      PII_ENC_KEY: NEW.enc,
      PII_ENC_KEY_ID: 'k2',
      PII_INDEX_KEY: NEW.index,
      PII_INDEX_KEY_ID: 'i2',
    });
    expect(() => planRekey('bindings', binding(true), ctx({}, lacking))).toThrow(RotationKeyMissing);
    // The index key changed (i2) without the old one listed: hashes under i1 are not stamped current.
    const indexLacking = loadPiiKeys({
      PII_ENC_KEY: NEW.enc,
      PII_ENC_KEY_ID: 'k2',
      PII_ENC_KEYS_OLD: `k1:${OLD.enc}`,
      PII_INDEX_KEY: NEW.index,
      PII_INDEX_KEY_ID: 'i2',
    });
    const entry: Doc = { _id: 'a1', actorHash: blindIndex(before, 'openid', 'o_admin'), kv: 'k1.i1' };
    expect(() => planRekey('audit_log', entry, ctx({}, indexLacking))).toThrow(/PII_INDEX_KEYS_OLD/);
    expect(() => planRekey('audit_log', entry, ctx({}, indexLacking))).toThrow(RotationKeyMissing);
    // Under the current index id, or with none recorded (written before rotation existed): as before.
    expect(planRekey('audit_log', { ...entry, kv: 'k1.i2' }, ctx({}, indexLacking))).toMatchObject({ kind: 'update' });
    const tampered = { ...binding(true), nameEnc: String(binding(true).idEnc) };
    expect(planRekey('bindings', tampered, ctx())).toEqual({ kind: 'skip', reason: 'unreadable' });
  });
});

describe('the order of the collections', () => {
  /** One pass in ROTATION_ORDER over `docs`, the pairs learned on the way available to what follows. */
  function onePass(docs: Partial<Record<RotatedCollection, Doc[]>>): Map<string, Plan> {
    const map = new Map<string, string>();
    const plans = new Map<string, Plan>();
    for (const collection of ROTATION_ORDER) {
      for (const doc of docs[collection] ?? []) {
        const plan = planRekey(collection, doc, { ...ctx(), mapped: (old) => map.get(old) });
        if (plan.kind !== 'delete') for (const [old, next] of plan.learned ?? []) map.set(old, next);
        plans.set(`${collection}/${doc._id}`, plan);
      }
    }
    return plans;
  }
  const setOf = (plan: Plan | undefined) =>
    plan?.kind === 'update' ? plan.set : plan?.kind === 'move' ? plan.doc : {};

  it('every hash without plaintext whose holder some live document names gets the new hash, not an HMAC', () => {
    const REVIEWER = 'o_reviewer';
    const reviewer = blindIndex(before, 'openid', REVIEWER);
    const holder = blindIndex(before, 'openid', OPENID);
    const request: Doc = {
      _id: 'r1',
      openidHash: blindIndex(before, 'openid', 'o_applicant'),
      openidEnc: encryptField(before, 'o_applicant', 'review_requests:r1:openid'),
      docType: 'passport',
      nameEnc: encryptField(before, 'MARIA', 'review_requests:r1:name'),
      numberEnc: encryptField(before, 'P1234567', 'review_requests:r1:number'),
      deciderHash: reviewer,
      kv: 'k1.i1',
    };
    const plans = onePass({
      consents: [
        {
          _id: 'c1',
          openidHash: reviewer,
          openidEnc: encryptField(before, REVIEWER, 'consents:c1:openid'),
          kv: 'k1.i1',
        },
      ],
      // A session of before openids were stored: only the binding (with its openid) names its holder.
      face_sessions: [{ _id: 's1', openidHash: holder, state: 'passed', kv: 'k1.i1' }],
      bindings: [binding(true)],
      review_requests: [request],
      audit_log: [{ _id: 'a1', actorHash: holder, subjectIndex: blindIndex(before, 'idCard', ID), kv: 'k1.i1' }],
    });
    expect(setOf(plans.get('face_sessions/s1')).openidHash).toBe(blindIndex(during, 'openid', OPENID));
    expect(setOf(plans.get('review_requests/r1')).deciderHash).toBe(blindIndex(during, 'openid', REVIEWER));
    expect(setOf(plans.get('audit_log/a1'))).toMatchObject({
      actorHash: blindIndex(during, 'openid', OPENID),
      subjectIndex: blindIndex(during, 'idCard', ID),
    });
  });
});

describe('the index key settings', () => {
  it('refuse an old index key under the current id or equal to the current key, naming never a value', () => {
    const base = { PII_ENC_KEY: NEW.enc, PII_INDEX_KEY: NEW.index, PII_INDEX_KEY_ID: 'i2' };
    expect(() => loadPiiKeys({ ...base, PII_INDEX_KEYS_OLD: `i2:${OLD.index}` })).toThrow(
      /PII_INDEX_KEYS_OLD entry 1 reuses key id i2/,
    );
    expect(() => loadPiiKeys({ ...base, PII_INDEX_KEYS_OLD: `i1:${NEW.index}` })).toThrow(
      /PII_INDEX_KEYS_OLD entry 1 is the current PII_INDEX_KEY/,
    );
    expect(() => loadPiiKeys({ ...base, PII_INDEX_KEYS_OLD: 'i1:short' })).not.toThrow(/short/);
    expect(() => loadPiiKeys({ ...base, PII_INDEX_KEYS_OLD: 'i1:short' })).toThrow(
      /PII_INDEX_KEYS_OLD entry 1 must be/,
    );
    expect(loadPiiKeys({ ...base, PII_INDEX_KEYS_OLD: `i1:${OLD.index}` }).oldIndexKeys.get('i1')).toEqual(
      Buffer.from(OLD.index, 'base64'),
    );
  });
});
