/**
 * Pure rules of a face-verification session: whether this caller may confirm it now. No SDK, no
 * I/O. (How often one may be started: server/core/limits.ts. Which generation runs and how long a
 * session lives are settings: FACE_API_VERSION and FACE_SESSION_TTL_SECONDS.)
 */
import type { FaceApiVersion } from '../../miniprogram/shared/contracts';
import type { ErrorCode } from '../../miniprogram/shared/errors';

/** A pending face verification as stored (PII fields encrypted; removed once the session ends). */
export interface FaceSession {
  _id: string;
  openidHash: string;
  /** The caller's openid, encrypted (bound to the session): lets a key rotation recompute `openidHash`. */
  openidEnc?: string;
  /** The keys this document was written under (core/pii.ts `keyVersion`). */
  kv?: string;
  mode: FaceApiVersion;
  /** SHA-256 of the verify_id (v2) or user_id_key (v1): the session is found by it, the value is not kept. */
  verifyKey: string;
  state: 'starting' | 'pending' | 'consumed' | 'passed' | 'failed' | 'expired';
  nameEnc?: string;
  idEnc?: string;
  createdAt: Date;
  expiresAt: Date;
  /** v1 only: the face_identify push, verified server-side, as a second signal. */
  push?: { verifyResultHash: string; receivedAt: Date };
}

/**
 * Why this caller may not confirm this session now, or undefined when it may. `callerHash`: the
 * caller's openid hash, or all of them during a key rotation (a session may not be re-keyed yet).
 */
export function sessionRefusal(
  session: FaceSession | undefined,
  callerHash: string | readonly string[],
  now: Date,
): ErrorCode | undefined {
  if (!session) return 'FACE_SESSION_NOT_FOUND';
  if (!(typeof callerHash === 'string' ? [callerHash] : callerHash).includes(session.openidHash))
    return 'FACE_NOT_OWNER';
  if (session.state !== 'pending') return 'FACE_SESSION_USED';
  if (new Date(session.expiresAt).getTime() <= now.getTime()) return 'FACE_SESSION_EXPIRED';
  return undefined;
}
