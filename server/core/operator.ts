/**
 * Operator calls, the pure part: a PC calling a function with the Tencent Cloud API key (the server
 * SDK) arrives without an OPENID, exactly as a timer, another function, the console's test button or
 * the HTTP access service would. Such a call acts as an admin only when it carries an `operator`
 * proof signed with OPERATOR_KEY (HMAC-SHA256 over the environment id, function, action, operator
 * id, time, nonce and the SHA-256 of the canonical checked request: what runs, never the fields a
 * contract does not name, such as the `userInfo` the platform adds to events), fresh (±5 min) and
 * never seen before (server/lib/operator.ts keeps the nonces). The CLI
 * (scripts/lib/function-transport.ts) signs with the same code.
 */
import crypto from 'crypto';
import type { OperatorProof } from '../../miniprogram/shared/contracts';
import { InternalError } from './errors';

/** How far an operator call's time may be from the function's clock, either way. */
export const OPERATOR_WINDOW_MS = 5 * 60_000;

/** The acting identity of an operator call: hashed wherever an admin's openid is (never an openid: those have no `:`). */
export function operatorIdentity(id: string): string {
  return `operator:${id}`;
}

/**
 * JSON with object keys sorted at every level, no whitespace; `undefined` members dropped as
 * JSON.stringify drops them. What both sides hash: the checked request (router.ts `operatorCall`).
 * Only what JSON carries: any other object (a Date, a Buffer, a Map) or a number JSON cannot hold
 * throws, rather than two different values hashing alike.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new InternalError('canonicalJson: not a JSON number');
  if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
    throw new InternalError(`canonicalJson: a ${typeof value} is not JSON`);
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const proto = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) {
    throw new InternalError('canonicalJson: only plain objects and arrays');
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value as Record<string, unknown>)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/**
 * Where a call goes: the CloudBase environment (one OPERATOR_KEY may serve several: a proof made for
 * the test environment never runs in production, within its 5 minutes or ever), the function and
 * its action.
 */
export interface OperatorScope {
  env: string;
  fn: string;
  action: string;
}

/** What is signed: one line per part, the payload (the checked request: router.ts `operatorCall`) as its SHA-256. */
export function operatorMessage(
  scope: OperatorScope,
  proof: Pick<OperatorProof, 'id' | 'ts' | 'nonce'>,
  payload: Readonly<Record<string, unknown>>,
): string {
  // An id with a line break would let two scopes sign alike; none of ours has one.
  for (const part of [scope.env, scope.fn, scope.action]) {
    if (!part || /[\r\n]/.test(part)) throw new InternalError('operatorMessage: an empty or multi-line scope');
  }
  const digest = crypto.createHash('sha256').update(canonicalJson(payload), 'utf8').digest('hex');
  return [
    'realname-starter operator v2',
    scope.env,
    scope.fn,
    scope.action,
    proof.id,
    proof.ts,
    proof.nonce,
    digest,
  ].join('\n');
}

export function operatorSignature(
  key: Buffer,
  scope: OperatorScope,
  proof: Pick<OperatorProof, 'id' | 'ts' | 'nonce'>,
  payload: Readonly<Record<string, unknown>>,
): string {
  return crypto
    .createHmac('sha256', key)
    .update(operatorMessage(scope, proof, payload), 'utf8')
    .digest('hex');
}

/** A fresh proof for a call (the CLI's side): `ts` now, a random nonce, the signature. */
export function signOperatorCall(
  key: Buffer,
  scope: OperatorScope,
  id: string,
  payload: Readonly<Record<string, unknown>>,
  now = Date.now(),
): OperatorProof {
  const proof = { id, ts: String(now), nonce: crypto.randomBytes(16).toString('hex') };
  return { ...proof, sig: operatorSignature(key, scope, proof, payload) };
}

/**
 * Whether `proof.sig` is the signature of this call under `key` (compared in constant time). A
 * function that cannot tell its environment (`scope.env` empty) verifies nothing.
 */
export function signatureValid(
  key: Buffer,
  scope: OperatorScope,
  proof: OperatorProof,
  payload: Readonly<Record<string, unknown>>,
): boolean {
  if (!scope.env || /[\r\n]/.test(scope.env)) return false;
  const expected = Buffer.from(operatorSignature(key, scope, proof, payload), 'hex');
  const given = Buffer.from(proof.sig, 'hex');
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

/** Whether the proof's time is within OPERATOR_WINDOW_MS of `now`. */
export function operatorFresh(proof: Pick<OperatorProof, 'ts'>, now: number): boolean {
  const ts = Number(proof.ts);
  return Number.isSafeInteger(ts) && Math.abs(now - ts) <= OPERATOR_WINDOW_MS;
}
