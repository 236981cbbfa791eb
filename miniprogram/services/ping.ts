import type { ResponseOf } from '../shared/contracts';
import { callCloud } from './cloud';

export function ping(): Promise<ResponseOf<'ping', 'ping'>> {
  return callCloud('ping', 'ping', {});
}
