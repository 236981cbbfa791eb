/**
 * How long one roster invocation may work before it saves its cursor and returns.
 *
 * A cloud function's context carries its configured timeout as `time_limit_in_ms` (e.g.
 * https://www.tencentcloud.com/document/product/583/46770 for the context object). The slice must
 * end well before it, leaving room for the batch in flight, the final save and the error report;
 * otherwise the platform kills the invocation and the job waits out its lease. The configured
 * slice (ROSTER_SLICE_SECONDS) is the upper bound, the timeout the real one.
 */
export const MIN_SLICE_MS = 1000;
export const MIN_MARGIN_MS = 5000;

/** The absolute time (ms) after which no new batch starts. */
export function sliceDeadline(startedAt: number, configuredMs: number, timeLimitMs?: number): number {
  if (timeLimitMs === undefined || !Number.isFinite(timeLimitMs) || timeLimitMs <= 0) {
    return startedAt + configuredMs;
  }
  const margin = Math.max(MIN_MARGIN_MS, timeLimitMs / 4);
  return startedAt + Math.min(configuredMs, Math.max(MIN_SLICE_MS, timeLimitMs - margin));
}
