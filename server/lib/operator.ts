/**
 * Operator calls, the service part (the pure checks are server/core/operator.ts): a call without an
 * OPENID that carries an `operator` proof is let in as an admin only when OPERATOR_KEY is set, the
 * signature verifies, the time is within ±5 minutes and the nonce was never used. The nonce is spent
 * in the one-use store (`used_tokens`, a keyed hash, kept 24 h: far past the window) after the
 * signature verified, so nobody can spend an operator's nonces without the key.
 */
import type { OperatorProof } from '../../miniprogram/shared/contracts';
import { Refusal } from '../core/errors';
import { operatorFresh, operatorIdentity, type OperatorScope, signatureValid } from '../core/operator';
import { blindIndex, type PiiKeys } from '../core/pii';
import type { CloudDb } from './cloud-db';
import { OneTimeTokens } from './tokens';

export class OperatorGate {
  /** `key`: OPERATOR_KEY, or null when unset (operator calls are off). */
  constructor(
    private readonly db: CloudDb,
    private readonly keys: PiiKeys,
    private readonly key: Buffer | null,
  ) {}

  /**
   * Lets the call in (answers the acting identity, `operator:<id>`) or throws the refusal that says
   * why. `scope`: this function's environment (the platform's, never the caller's word), name and
   * the action; `payload`: the checked request (what the handler runs on: router.ts `operatorCall`).
   */
  async admit(
    scope: OperatorScope,
    proof: OperatorProof,
    payload: Readonly<Record<string, unknown>>,
    now = Date.now(),
  ): Promise<string> {
    if (!this.key) throw new Refusal('OPERATOR_DISABLED');
    if (!signatureValid(this.key, scope, proof, payload)) throw new Refusal('OPERATOR_SIGNATURE_INVALID');
    if (!operatorFresh(proof, now)) throw new Refusal('OPERATOR_EXPIRED');
    const identity = operatorIdentity(proof.id);
    const fresh = await new OneTimeTokens(this.db, this.keys).reserve(
      'operatorNonce',
      proof.nonce,
      blindIndex(this.keys, 'openid', identity),
    );
    if (!fresh) throw new Refusal('OPERATOR_REPLAYED');
    return identity;
  }
}
