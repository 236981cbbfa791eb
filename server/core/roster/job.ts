/**
 * The roster import job as a pure state machine: every transition takes a job and returns a new one
 * (nothing is mutated, nothing is stored here), and the lease arithmetic that keeps two invocations
 * off one job is plain functions of `now`. The job store (functions/roster/job-store.ts) persists
 * what these return; the service composes them.
 *
 *   newJob ──► running ──afterBatch──► running … ──finished──► done
 *                 │                                     (a report when rows failed)
 *                 └──────failed (file unreadable, abandoned)──► failed
 *
 * A running job has two phases. `prepare` (the first slice): the upload is read once, by ranges,
 * validated whole (duplicates need every row), and cut into encrypted chunks in storage of
 * `CHUNK_BATCHES` batches each; `prepared` records where each chunk ends and the upload goes.
 * `write`: each slice reads only the chunk its cursor is in (`nextChunk`), so a slice costs what
 * it writes, wherever it starts. A prepare longer than one invocation pauses (`preparePaused`) and
 * the next slice reads on; a timeout so short that a resumed slice reads little (`MIN_PREPARE_ROWS`)
 * fails the job (ROSTER_TIMEOUT_TOO_SHORT) instead of crawling.
 *
 * A lease (`leaseUntil`, ms) is held while an invocation works on the job; it is released (0) when
 * the slice ends, and a dead slice's lease simply runs out. A lock document per file content keeps a
 * second import of the same file out while the first is alive.
 */
import type {
  RosterImportMode,
  RosterJobState,
  RosterJobStatus,
  RosterRowError,
} from '../../../miniprogram/shared/contracts';

/** How long a slice may hold a job without extending its lease. */
export const LEASE_MS = 75_000;
/** A running job not worked on for this long (and without a lease) no longer holds its file's lock. */
export const LOCK_STALE_MS = 120_000;
/** A running job nobody has continued for this long is abandoned (its upload must not linger). */
export const ABANDONED_MS = 30 * 60_000;
/** An error report is kept this long after its job ended; the sweep deletes it then. */
export const REPORT_RETENTION_MS = 7 * 24 * 3600_000;
/** Where error reports are stored (the sweep deletes nothing outside it). */
export const ROSTER_REPORT_PREFIX = 'roster-reports/';
/** Where a job's chunks are stored (the sweep deletes nothing outside it). */
export const ROSTER_CHUNK_PREFIX = 'roster-chunks/';
/** Batches per chunk: a chunk is a checkpoint (the job is saved once per chunk written). */
export const CHUNK_BATCHES = 10;
/**
 * The most chunks one invocation's prepare writes: Excel's 1,048,576 rows in chunks of 10,000
 * (batches of 1000), and the partial one a pause flushes.
 */
export const MAX_CHUNKS = 106;
/** Row errors kept on the job (the report holds them all). */
export const MAX_JOB_ERRORS = 100;

export interface BatchCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  /** Rows whose ID is stored under another name, not applied (ROW_CONFLICT). */
  conflicts: number;
}

/** A job as stored: the status the contract exposes, plus what resuming needs. */
export interface RosterJob extends BatchCounts {
  _id: string;
  kind: 'job';
  state: RosterJobState;
  dryRun: boolean;
  /** Merge (default) or replace; see core/roster/merge.ts. Jobs stored before modes existed merge. */
  mode: RosterImportMode;
  /** The admin accepted that rows whose ID is stored under another name are applied. */
  acceptConflicts: boolean;
  fileID: string;
  /** Keyed hash of the file's content: the lock's key. */
  fileHash: string;
  /** Known once the file is opened. */
  sheet?: string;
  /** The spreadsheet row up to which the job is done: a resumed slice continues after it. */
  cursor: number;
  total: number;
  processed: number;
  failed: number;
  /** The first `MAX_JOB_ERRORS` row errors. */
  errors: RosterRowError[];
  errorCount: number;
  /** Blind index of the admin's openid. */
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  leaseUntil: number;
  reportFileID?: string;
  /** The report was deleted by the sweep once past its retention. */
  reportExpired?: boolean;
  failure?: { code: string; message: string };
  /** `prepare` until the file is cut into chunks, then `write`. Jobs stored before chunks prepare first. */
  phase?: 'prepare' | 'write';
  /** Cloud path prefix of the job's chunks, with a random part. */
  chunkPath?: string;
  /** Spreadsheet row of each chunk's last row (while preparing: the chunks written so far). */
  chunkEnds?: number[];
  /** A prepare paused by its slice's deadline: the row it read up to, and the data rows until then. */
  preparedRow?: number;
  preparedDataRows?: number;
}

export interface NewJob {
  id: string;
  fileID: string;
  fileHash: string;
  dryRun: boolean;
  sheet?: string;
  mode?: RosterImportMode;
  acceptConflicts?: boolean;
  createdBy: string;
  now: number;
  /** Cloud path prefix for the job's chunks (carries a random part). */
  chunkPath?: string;
}

/** A running job, leased to the invocation that creates it. */
export function newJob(input: NewJob): RosterJob {
  const at = new Date(input.now);
  return {
    _id: input.id,
    kind: 'job',
    state: 'running',
    dryRun: input.dryRun,
    mode: input.mode ?? 'merge',
    acceptConflicts: input.acceptConflicts === true,
    fileID: input.fileID,
    fileHash: input.fileHash,
    ...(input.sheet ? { sheet: input.sheet } : {}),
    cursor: 0,
    total: 0,
    processed: 0,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    conflicts: 0,
    failed: 0,
    errors: [],
    errorCount: 0,
    createdBy: input.createdBy,
    createdAt: at,
    updatedAt: at,
    leaseUntil: input.now + LEASE_MS,
    phase: 'prepare',
    ...(input.chunkPath ? { chunkPath: input.chunkPath } : {}),
  };
}

/** The file is cut into chunks ending at rows `chunkEnds`, `total` data rows in all: the write phase starts. */
export function prepared(job: RosterJob, chunkEnds: readonly number[], total: number): RosterJob {
  return { ...job, phase: 'write', chunkEnds: [...chunkEnds], total };
}

/**
 * The prepare ran out of its slice's time: the chunks so far end at `chunkEnds`, the file was read
 * up to `row` (`dataRows` data rows). The next slice resumes after it (the IDs seen so far are
 * carried in the job's state file), so a long file takes several slices, each reading on.
 */
export function preparePaused(job: RosterJob, chunkEnds: readonly number[], row: number, dataRows: number): RosterJob {
  return { ...job, chunkEnds: [...chunkEnds], preparedRow: row, preparedDataRows: dataRows, total: dataRows };
}

/**
 * A resumed slice of the prepare must read at least this many rows (and spend less than half its
 * time skimming what earlier slices read), or the timeout is too short for the file: refused, not crawled.
 */
export const MIN_PREPARE_ROWS = 1_000;

/** The job still has to read its file (and cut it into chunks). */
export function preparing(job: RosterJob): boolean {
  return job.phase !== 'write' || !job.chunkEnds;
}

/** The chunk the job continues in (the first that ends after its cursor), or -1 when all are written. */
export function nextChunk(job: RosterJob): number {
  return (job.chunkEnds ?? []).findIndex((end) => end > job.cursor);
}

/**
 * The cloud paths of every chunk the job may have stored: those it recorded, or, when the job
 * ended before its prepare recorded them (it failed, or its invocation was killed mid-way), every
 * name it could have used. Deleting a file that does not exist is not an error.
 */
export function chunkPaths(job: RosterJob): string[] {
  if (!job.chunkPath) return [];
  // Each pause flushes a partial chunk, so a paused prepare's numbers run past the rows / 10,000;
  // after its last saved pause one invocation writes at most MAX_CHUNKS more.
  const count =
    job.phase === 'write' && job.chunkEnds ? job.chunkEnds.length : (job.chunkEnds?.length ?? 0) + MAX_CHUNKS;
  return [...Array.from({ length: count }, (_, i) => chunkPathOf(job, i)), statePathOf(job)];
}

/** Where a paused prepare keeps the IDs it has seen (encrypted, like the chunks). */
export function statePathOf(job: RosterJob): string {
  return `${job.chunkPath ?? ''}state.bin`;
}

export function chunkPathOf(job: RosterJob, index: number): string {
  return `${job.chunkPath ?? ''}${index}.bin`;
}

/** What one batch of rows came to. */
export interface BatchOutcome {
  counts: BatchCounts;
  errors: readonly RosterRowError[];
  /** Spreadsheet row of the batch's last row: the new cursor. */
  lastRow: number;
  /** Non-blank data rows from the top of the sheet so far. */
  dataRows: number;
}

/** Rows the writer did not apply (found against what is stored, not by validation): counted as conflicts. */
export const WRITE_CONFLICT_CODES: readonly string[] = ['ROW_CONFLICT', 'ROW_STORED_UNREADABLE'];

/**
 * The job once a batch is applied: counts, errors (the first 100 kept), cursor and progress.
 * `failed` counts rows with validation errors; conflicts (`WRITE_CONFLICT_CODES`) are counted apart.
 */
export function afterBatch(job: RosterJob, batch: BatchOutcome): RosterJob {
  const failedRows = new Set(batch.errors.filter((e) => !WRITE_CONFLICT_CODES.includes(e.code)).map((e) => e.row)).size;
  return {
    ...job,
    inserted: job.inserted + batch.counts.inserted,
    updated: job.updated + batch.counts.updated,
    unchanged: job.unchanged + batch.counts.unchanged,
    conflicts: (job.conflicts ?? 0) + batch.counts.conflicts,
    failed: job.failed + failedRows,
    errorCount: job.errorCount + batch.errors.length,
    errors: [...job.errors, ...batch.errors.slice(0, Math.max(0, MAX_JOB_ERRORS - job.errors.length))],
    cursor: Math.max(job.cursor, batch.lastRow),
    processed: batch.dataRows,
    total: Math.max(job.total, batch.dataRows),
  };
}

/** A batch that wrote data must be saved before the next, so a retried slice never redoes a write. */
export function wroteData(counts: BatchCounts): boolean {
  return counts.inserted + counts.updated > 0;
}

/** The job keeps every row error itself, so the report needs no second pass over the file. */
export function hasAllErrors(job: RosterJob): boolean {
  return job.errorCount <= job.errors.length;
}

export function withSheet(job: RosterJob, sheet: string): RosterJob {
  return { ...job, sheet };
}

/** Still working at `now`: the lease is extended, never dropped. */
export function leased(job: RosterJob, now: number): RosterJob {
  return { ...job, leaseUntil: now + LEASE_MS };
}

/** The slice ends: the next `run` may continue at once. */
export function released(job: RosterJob): RosterJob {
  return { ...job, leaseUntil: 0 };
}

export function finished(job: RosterJob, reportFileID?: string): RosterJob {
  return { ...job, state: 'done', leaseUntil: 0, ...(reportFileID ? { reportFileID } : {}) };
}

export function failed(job: RosterJob, code: string, message: string): RosterJob {
  return { ...job, state: 'failed', failure: { code, message }, leaseUntil: 0 };
}

/** Another invocation may take the job at `now`: it runs and nobody holds its lease. */
export function leaseFree(job: RosterJob, now: number): boolean {
  return job.state === 'running' && job.leaseUntil < now;
}

/** The job still holds its file's lock: running, and leased or worked on recently. */
export function holdsLock(job: RosterJob | undefined, now: number): boolean {
  if (!job || job.state !== 'running') return false;
  return job.leaseUntil > now || now - new Date(job.updatedAt).getTime() < LOCK_STALE_MS;
}

/** The job ended more than `REPORT_RETENTION_MS` ago and still has its report. */
export function reportPastRetention(job: RosterJob, now: number): boolean {
  return (
    job.state !== 'running' &&
    job.reportFileID !== undefined &&
    now - new Date(job.updatedAt).getTime() > REPORT_RETENTION_MS
  );
}

/** The job once its report is deleted. */
export function withoutReport(job: RosterJob): RosterJob {
  const { reportFileID: _deleted, ...rest } = job;
  return { ...rest, reportExpired: true };
}

/** Nobody has continued the job for `ABANDONED_MS` and nobody holds it. */
export function isAbandoned(job: RosterJob, now: number): boolean {
  return job.state === 'running' && job.leaseUntil < now && now - new Date(job.updatedAt).getTime() > ABANDONED_MS;
}

/** What the contract shows of a job. */
export function statusOf(job: RosterJob): RosterJobStatus {
  return {
    jobId: job._id,
    state: job.state,
    dryRun: job.dryRun,
    mode: job.mode ?? 'merge',
    acceptConflicts: job.acceptConflicts === true,
    sheet: job.sheet ?? '',
    total: job.total,
    processed: job.processed,
    inserted: job.inserted,
    updated: job.updated,
    unchanged: job.unchanged,
    conflicts: job.conflicts ?? 0,
    failed: job.failed,
    errors: job.errors,
    ...(job.reportFileID ? { reportFileID: job.reportFileID } : {}),
    ...(job.failure ? { failure: job.failure } : {}),
  };
}
