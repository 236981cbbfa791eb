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

/** Real-name authorization: one token per try, a couple of retries at most. */
export const REALNAME_FETCH_PER_CALLER: RateLimit = { scope: 'realname.fetch', max: 5, windowSeconds: 600 };
/** Face verification for one ID number, whoever starts it: room for one person's retries at the
 * per-caller limit (5 per 10 minutes), not for a prober with many accounts. */
export const FACE_START_PER_ID: RateLimit = { scope: 'face.start.id', max: 30, windowSeconds: 3600 };
/** First-generation confirm asks WeChat (getinfo) before it knows the session: counted per caller. */
export const FACE_CONFIRM_PER_CALLER: RateLimit = { scope: 'face.confirm', max: 10, windowSeconds: 600 };

/** The window `now` falls in (its start, ms). */
export function windowStart(limit: RateLimit, now: number): number {
  const size = limit.windowSeconds * 1000;
  return Math.floor(now / size) * size;
}

/** One-time credentials are remembered this long, then swept (a used token is long dead by then). */
export const USED_TOKEN_RETENTION_MS = 24 * 3600_000;
