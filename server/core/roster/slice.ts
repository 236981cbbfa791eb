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

/** The deployed timeout when the platform gave a usable one (a positive, finite number of ms). */
function known(timeLimitMs: number | undefined): timeLimitMs is number {
  return timeLimitMs !== undefined && Number.isFinite(timeLimitMs) && timeLimitMs > 0;
}

/** The absolute time (ms) after which no new batch starts. */
export function sliceDeadline(startedAt: number, configuredMs: number, timeLimitMs?: number): number {
  if (!known(timeLimitMs)) return startedAt + configuredMs;
  const margin = Math.max(MIN_MARGIN_MS, timeLimitMs / 4);
  return startedAt + Math.min(configuredMs, Math.max(MIN_SLICE_MS, timeLimitMs - margin));
}

/**
 * The prepare (the file read once, validated and cut into chunks) must end within one invocation:
 * it may use the whole timeout but `MIN_MARGIN_MS` (the chunks and the job are saved, the upload
 * deleted, after it), and at least the configured slice. Without a known limit: the configured slice.
 * The prepare pauses at this time between two batches (see `abortDeadline` for within one).
 */
export function prepareDeadline(startedAt: number, configuredMs: number, timeLimitMs?: number): number {
  if (!known(timeLimitMs)) return startedAt + Math.max(configuredMs, MIN_SLICE_MS);
  return startedAt + Math.max(MIN_SLICE_MS, timeLimitMs - MIN_MARGIN_MS);
}

/** What failing a job takes (one save, deleting the upload and the chunks so far), at most. */
export const ABORT_MARGIN_MS = 2500;

/**
 * The time (ms) past which an invocation still reading the file gives up (ROSTER_TIMEOUT_TOO_SHORT)
 * rather than be killed by the platform with the job half-done and the upload left in storage: the
 * deployed timeout less a margin for failing the job and deleting the upload (a quarter of the
 * timeout, at most `ABORT_MARGIN_MS`), later than `prepareDeadline`, so that a prepare that can pause
 * between two batches does. Undefined when the timeout is unknown.
 */
export function abortDeadline(startedAt: number, timeLimitMs?: number): number | undefined {
  if (!known(timeLimitMs)) return undefined;
  return startedAt + timeLimitMs - Math.min(ABORT_MARGIN_MS, timeLimitMs / 4);
}

/**
 * A conservative reading speed (compressed .xlsx bytes per ms, parse + validation + chunks) for
 * refusing at once a file the deployed timeout cannot possibly read: measured here ~5–10 MB/s on
 * one loaded core, so 2 MB/s leaves room for a slower cloud CPU without refusing what would fit.
 */
export const PREPARE_BYTES_PER_MS = 2000;

/** The file of `bytes` can be read before `deadline` (from `now`) at the conservative speed. */
export function prepareFits(bytes: number, now: number, deadline: number): boolean {
  return bytes / PREPARE_BYTES_PER_MS <= deadline - now;
}

/** The timeout-too-short message, naming the deployed timeout and the setting to raise. */
export function timeoutTooShortMessage(timeLimitMs: number | undefined): string {
  const seconds = timeLimitMs === undefined ? '当前' : `${Math.round(timeLimitMs / 1000)} 秒`;
  if (timeLimitMs !== undefined && timeLimitMs >= 60_000) {
    return `该文件太大，云函数 roster 在 ${seconds}的超时内读不完：请把名单拆分为几个文件后分别导入`;
  }
  return `云函数 roster 的超时（${seconds}）太短，读不完该文件：请把 roster 的超时设为 60 秒（npm run deploy 按 manifest 设置）后重新导入`;
}

/** The job's failure for a deployed timeout too short for the file (the message names it). */
export function timeoutTooShort(timeLimitMs: number | undefined): RosterFileError {
  return new RosterFileError('ROSTER_TIMEOUT_TOO_SHORT', timeoutTooShortMessage(timeLimitMs));
}

/**
 * The reader's checkpoint while an invocation reads the file (every 64 KB of a sheet, every 256
 * rows): past `abortAt` it throws ROSTER_TIMEOUT_TOO_SHORT (naming the deployed timeout), so a file
 * the deployed timeout cannot read a batch of fails cleanly instead of timing out on every run.
 */
export class ReadGuard {
  constructor(
    private readonly abortAt: number | undefined,
    private readonly timeLimitMs?: number,
    private readonly now: () => number = Date.now,
  ) {}

  readonly check = (): void => {
    if (this.abortAt !== undefined && this.now() > this.abortAt) {
      throw timeoutTooShort(this.timeLimitMs);
    }
  };
}
