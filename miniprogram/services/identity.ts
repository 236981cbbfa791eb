/** The identity methods this deployment offers (the server's IDENTITY_METHODS), and whether the caller reviews. */
import type { ResponseOf, VerificationMethod } from '../shared/contracts';
import { callCloud } from './cloud';

export function getIdentityMethods(): Promise<ResponseOf<'identity', 'methods'>> {
  return callCloud('identity', 'methods', {});
}

/** The caller's bindings (masked) and consent records. */
export function getMyIdentity(): Promise<ResponseOf<'identity', 'mine'>> {
  return callCloud('identity', 'mine', {});
}

/** Deletes the caller's data of `method` (every method when absent); the withdrawal is audited. */
export function withdrawIdentity(method?: VerificationMethod): Promise<ResponseOf<'identity', 'withdraw'>> {
  return callCloud('identity', 'withdraw', method ? { method } : {});
}
