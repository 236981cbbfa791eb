/** The identity methods this deployment offers (the server's IDENTITY_METHODS), and whether the caller reviews. */
import type { ResponseOf } from '../shared/contracts';
import { callCloud } from './cloud';

export function getIdentityMethods(): Promise<ResponseOf<'identity', 'methods'>> {
  return callCloud('identity', 'methods', {});
}
