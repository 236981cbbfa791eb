/**
 * Pure rules of a face-verification session: which generation runs, how long a session lives, and
 * whether a session may be confirmed by this caller now. No SDK, no I/O.
 */
import type { FaceApiVersion } from '../../miniprogram/shared/contracts';
import type { ErrorCode } from '../../miniprogram/shared/errors';

/** A pending face verification as stored (PII fields encrypted; removed once the session ends). */
export interface FaceSession {
  _id: string;
  openidHash: string;
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

export const DEFAULT_SESSION_TTL_SECONDS = 600;
export const MAX_STARTS_PER_WINDOW = 5;
export const START_WINDOW_SECONDS = 600;

export function faceApiVersion(env: NodeJS.ProcessEnv = process.env): FaceApiVersion {
  const value = (env.FACE_API_VERSION ?? 'v2').trim().toLowerCase();
  if (value !== 'v1' && value !== 'v2') throw new Error('FACE_API_VERSION must be v1 or v2');
  return value;
}

export function sessionTtlSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.FACE_SESSION_TTL_SECONDS ?? DEFAULT_SESSION_TTL_SECONDS);
  // WeChat's verify_id / user_id_key live 3600 s: a session never outlives them.
  return Number.isInteger(value) && value >= 60 && value <= 3600 ? value : DEFAULT_SESSION_TTL_SECONDS;
}

/** Why this caller may not confirm this session now, or undefined when it may. */
export function sessionRefusal(session: FaceSession | undefined, callerHash: string, now: Date): ErrorCode | undefined {
  if (!session) return 'FACE_SESSION_NOT_FOUND';
  if (session.openidHash !== callerHash) return 'FACE_NOT_OWNER';
  if (session.state !== 'pending') return 'FACE_SESSION_USED';
  if (new Date(session.expiresAt).getTime() <= now.getTime()) return 'FACE_SESSION_EXPIRED';
  return undefined;
}

/** Credentials the client sends back: opaque, bounded strings. */
export function isCredential(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 8 && value.length <= 512 && /^[\w\-+/=.~]+$/.test(value);
}
