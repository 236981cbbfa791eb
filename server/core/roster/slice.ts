/**
 * How long one roster invocation may work before it saves its cursor and returns.
 *
 * A cloud function's context carries its configured timeout as `time_limit_in_ms` (e.g.
 * https://www.tencentcloud.com/document/product/583/46770 for the context object). The slice must
 * end well before it, leaving room for the batch in flight, the final save and the error report;
 * otherwise the platform kills the invocation and the job waits out its lease. The configured
 * slice (ROSTER_SLICE_SECONDS) is the upper bound, the timeout the real one.
 */
import { RosterFileError } from './types';

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

/**
 * The time (ms) past which an invocation that has not yet written its first batch gives up
 * (ROSTER_TIMEOUT_TOO_SHORT) rather than be killed by the platform with the job half-done and the
 * upload left in storage: the deployed timeout less a margin for failing the job and deleting the
 * upload (a quarter of the timeout, at most `MIN_MARGIN_MS`). Undefined when the timeout is unknown.
 */
export function abortDeadline(startedAt: number, timeLimitMs?: number): number | undefined {
  if (timeLimitMs === undefined || !Number.isFinite(timeLimitMs) || timeLimitMs <= 0) return undefined;
  return startedAt + timeLimitMs - Math.min(MIN_MARGIN_MS, timeLimitMs / 4);
}

/**
 * The reader's checkpoint while an invocation works towards its first batch: past `abortAt` it
 * throws ROSTER_TIMEOUT_TOO_SHORT, so a file that cannot be read up to one batch within the
 * deployed timeout fails cleanly, naming the setting, instead of timing out again on every run.
 * Once a batch is written the slice's own deadline takes over (`disarm`).
 */
export class FirstBatchGuard {
  private armed = true;

  constructor(
    private readonly abortAt: number | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  readonly check = (): void => {
    if (this.armed && this.abortAt !== undefined && this.now() > this.abortAt) {
      throw new RosterFileError('ROSTER_TIMEOUT_TOO_SHORT');
    }
  };

  disarm(): void {
    this.armed = false;
  }
}
