/**
 * How often a caller (or an ID number, whoever types it) may make the function call WeChat on their
 * behalf: every such action is counted before the call, so junk requests cannot burn the app's API
 * quota or fill collections. Fixed windows; the numbers leave a real user room for mistakes.
 */
export interface RateLimit {
  /** Names the counter (and the action it guards). */
  scope: string;
  /** Attempts allowed per window. */
  max: number;
  windowSeconds: number;
}

/** The city-service check: one code per try (the consent page each time), a few retries. */
export const REALNAME_CHECK_PER_CALLER: RateLimit = { scope: 'realname.check', max: 5, windowSeconds: 600 };
/** Staff verification requests: a person submits one and waits; a few corrections at most. */
/** Withdrawals: each deletes across collections; a person needs a few, a script no more. */
export const IDENTITY_WITHDRAW_PER_CALLER: RateLimit = { scope: 'identity.withdraw', max: 10, windowSeconds: 3600 };
/**
 * Refused calls recorded in the audit trail per caller and window: past it a caller's further
 * refusals are counted but not written one by one (logged once), so nobody can bury real entries.
 */
export const AUDIT_REFUSALS_PER_CALLER: RateLimit = { scope: 'audit.refusals', max: 30, windowSeconds: 600 };
export const REVIEW_SUBMIT_PER_CALLER: RateLimit = { scope: 'review.submit', max: 5, windowSeconds: 3600 };
/** Real-name authorization: one token per try, a couple of retries at most. */
export const REALNAME_FETCH_PER_CALLER: RateLimit = { scope: 'realname.fetch', max: 5, windowSeconds: 600 };
/** Face verification started by one caller: a real user's retries fit, a prober's do not. */
export const FACE_START_PER_CALLER: RateLimit = { scope: 'face.start', max: 5, windowSeconds: 600 };
/**
 * Face verification for one ID number: how many different callers may start it in an hour. Counted
 * once per caller and ID (FACE_START_ID_CALLER), and only after the caller's own limit let them
 * through, so one account cannot lock a person out however often it tries; a caller admitted once
 * stays admitted for the window. Many accounts probing one ID get nowhere fast.
 */
export const FACE_START_CALLERS_PER_ID: RateLimit = { scope: 'face.start.id', max: 5, windowSeconds: 3600 };
/** Marks that a caller has started face verification for an ID in this window (never refuses). */
export const FACE_START_ID_CALLER: RateLimit = {
  scope: 'face.start.id.caller',
  max: Number.MAX_SAFE_INTEGER,
  windowSeconds: 3600,
};
/** Confirm asks WeChat (getinfo or queryverifyinfo) whatever the session's state: counted per caller. */
export const FACE_CONFIRM_PER_CALLER: RateLimit = { scope: 'face.confirm', max: 10, windowSeconds: 600 };
/** face_identify pushes naming one user's sessions: each is re-checked with getinfo, so counted too. */
export const FACE_PUSH_PER_USER: RateLimit = { scope: 'face.push', max: 10, windowSeconds: 600 };

/** The window `now` falls in (its start, ms). */
export function windowStart(limit: RateLimit, now: number): number {
  const size = limit.windowSeconds * 1000;
  return Math.floor(now / size) * size;
}

/** One-time credentials are remembered this long, then swept (a used token is long dead by then). */
export const USED_TOKEN_RETENTION_MS = 24 * 3600_000;
