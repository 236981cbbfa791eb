/** The operator proof: what is signed, how it is checked (server/core/operator.ts) and its accepted shape (requests.ts). */
import crypto from 'crypto';
import { checkOperatorProof } from '../../../miniprogram/shared/requests';
import {
  canonicalJson,
  operatorFresh,
  OPERATOR_WINDOW_MS,
  signatureValid,
  signOperatorCall,
} from '../../../server/core/operator';

const KEY = crypto.randomBytes(32);
const NOW = 1_800_000_000_000;

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined members, so key order never changes the hash', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 'x', y: null }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"y":null,"z":"x"}]},"b":1}',
    );
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
    expect(canonicalJson('中文')).toBe('"中文"');
  });

  it('refuses what JSON does not carry, rather than hashing different values alike', () => {
    for (const value of [
      new Date(0),
      Buffer.from('a'),
      new Map([['a', 1]]),
      { at: new Date(0) },
      [NaN],
      Infinity,
      1n,
    ]) {
      expect(() => canonicalJson(value)).toThrow(/canonicalJson/);
    }
    expect(canonicalJson(Object.assign(Object.create(null) as object, { a: 1 }))).toBe('{"a":1}');
  });
});

describe('operator signature', () => {
  const payload = { fileID: 'cloud://env.bucket/roster-uploads/a.xlsx', dryRun: false };
  const scope = { env: 'prod-1a2b', fn: 'roster', action: 'import' };
  const proof = signOperatorCall(KEY, scope, 'alice', payload, NOW);

  it('verifies for exactly the environment, function, action, payload and proof it was made for', () => {
    expect(proof).toMatchObject({ id: 'alice', ts: String(NOW) });
    expect(checkOperatorProof(proof)).toEqual({ ok: true, value: proof });
    expect(signatureValid(KEY, scope, proof, { dryRun: false, fileID: payload.fileID })).toBe(true);
    expect(signatureValid(crypto.randomBytes(32), scope, proof, payload)).toBe(false);
    expect(signatureValid(KEY, { ...scope, env: 'test-9z8y' }, proof, payload)).toBe(false);
    expect(signatureValid(KEY, { ...scope, fn: 'admin' }, proof, payload)).toBe(false);
    expect(signatureValid(KEY, { ...scope, action: 'run' }, proof, payload)).toBe(false);
    expect(signatureValid(KEY, scope, proof, { ...payload, dryRun: true })).toBe(false);
    expect(signatureValid(KEY, scope, { ...proof, id: 'mallory' }, payload)).toBe(false);
    expect(signatureValid(KEY, scope, { ...proof, ts: String(NOW + 1) }, payload)).toBe(false);
    expect(signatureValid(KEY, scope, { ...proof, nonce: 'f'.repeat(32) }, payload)).toBe(false);
  });

  it('a function that cannot tell its environment verifies nothing; no proof is made without one', () => {
    expect(signatureValid(KEY, { ...scope, env: '' }, proof, payload)).toBe(false);
    expect(signatureValid(KEY, { ...scope, env: 'prod-1a2b\nroster' }, proof, payload)).toBe(false);
    expect(() => signOperatorCall(KEY, { ...scope, env: '' }, 'alice', payload, NOW)).toThrow(/scope/);
    expect(() => signOperatorCall(KEY, { ...scope, action: 'import\nrun' }, 'alice', payload, NOW)).toThrow(/scope/);
  });

  it('uses a new nonce each time', () => {
    expect(signOperatorCall(KEY, scope, 'alice', payload, NOW).nonce).not.toBe(proof.nonce);
  });

  it('is fresh within five minutes either way, not beyond', () => {
    expect(operatorFresh({ ts: String(NOW) }, NOW + OPERATOR_WINDOW_MS)).toBe(true);
    expect(operatorFresh({ ts: String(NOW) }, NOW - OPERATOR_WINDOW_MS)).toBe(true);
    expect(operatorFresh({ ts: String(NOW) }, NOW + OPERATOR_WINDOW_MS + 1)).toBe(false);
    expect(operatorFresh({ ts: String(NOW) }, NOW - OPERATOR_WINDOW_MS - 1)).toBe(false);
  });
});

describe('checkOperatorProof', () => {
  const good = { id: 'ops.team@1', ts: String(NOW), nonce: 'a'.repeat(32), sig: 'b'.repeat(64) };
  it.each([
    ['not an object', 'x'],
    ['an array', [good]],
    ['an extra field', { ...good, admin: true }],
    ['a missing field', { id: good.id, ts: good.ts, nonce: good.nonce }],
    ['an id with a colon', { ...good, id: 'a:b' }],
    ['an id too long', { ...good, id: 'a'.repeat(65) }],
    ['a numeric ts', { ...good, ts: NOW }],
    ['a ts with a sign', { ...good, ts: `-${NOW}` }],
    ['a short nonce', { ...good, nonce: 'a'.repeat(30) }],
    ['an upper-case sig', { ...good, sig: 'B'.repeat(64) }],
  ])('refuses %s (INVALID_REQUEST)', (_label, value) => {
    expect(checkOperatorProof(value)).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
  });
  it('accepts the exact shape', () => {
    expect(checkOperatorProof(good)).toEqual({ ok: true, value: good });
  });
});
