/**
 * Roster import: an admin's .xlsx/.xls/.csv → the `roster` collection, validated row by row,
 * upserted idempotently in batches of 1000 within the plan's QPS, resumable (client-driven
 * continuation: `run` until the job is done). The service composes three parts:
 * - the job's state machine (core/roster/job.ts): pure transitions and lease arithmetic;
 * - the job store (./job-store.ts): jobs, leases and the per-file lock in `roster_jobs`;
 * - the writer (./writer.ts): one batch → at most one lookup, one remove and one array insert.
 * Around them: access, the files (download, template, report, deleting the upload) and the sweep.
 */
import crypto from 'crypto';
import type {
  BodyOf,
  RosterImportRequest,
  RosterJobRequest,
  RosterReserveRequest,
  RosterRowError,
} from '../../../miniprogram/shared/contracts';
import type { ErrorCode } from '../../../miniprogram/shared/errors';
import { cloudPathOf, isRosterUpload } from '../../../miniprogram/shared/requests';
import { describeError, InternalError, Refusal } from '../../core/errors';
import { blindIndex, type PiiKeys } from '../../core/pii';
import {
  buildErrorReport,
  buildTemplate,
  RosterFileError,
  type RosterBatch,
  type RosterImport,
} from '../../core/roster';
import { IdIndex } from '../../core/roster/id-index';
import { openRosterRanged } from '../../core/roster/parse';
import { MAX_REPORT_ERRORS } from '../../core/roster/report';
import {
  afterBatch,
  CHUNK_BATCHES,
  hasAllErrors,
  MIN_PREPARE_ROWS,
  leased,
  newJob,
  nextChunk,
  prepared,
  preparePaused,
  preparing,
  released,
  ROSTER_CHUNK_PREFIX,
  ROSTER_REPORT_PREFIX,
  statusOf,
  withSheet,
  WRITE_CONFLICT_CODES,
  wroteData,
  type RosterJob,
} from '../../core/roster/job';
import { prepareFits, ReadGuard, timeoutTooShort } from '../../core/roster/slice';
import { isRosterFileError } from '../../core/roster/types';
import { fileIDPrefix, rosterUploadPath, UPLOAD_WINDOW_MS } from '../../core/roster/upload-path';
import type { Logger } from '../../core/router';
import { bestEffort, FileCleanup, UPLOAD_RESERVED } from '../../lib/cleanup';
import type { AdminDirectory } from '../../lib/admins';
import type { CloudDb } from '../../lib/cloud-db';
import { openRangedFile, type RangedFile } from '../../lib/ranged-file';
import { temporaryUrl, type CloudStorage } from '../../lib/storage';
import type { Throttle } from '../../lib/throttle';
import { ChunkStore } from './chunks';
import { JobCloser } from './job-closer';
import { JobStore } from './job-store';
import { RosterWriter } from './writer';

export type { CloudStorage };

export const BATCH_SIZE = 1000;

const TEMPLATE_PATH = 'roster-templates/roster-template.xlsx';

/** Where a job's chunks go: under the chunk prefix, the job's id and a random part. */
const newChunkPath = (jobId: string) => `${ROSTER_CHUNK_PREFIX}${jobId}-${crypto.randomBytes(12).toString('hex')}/`;

/** `cloud://<env>.<bucket>/`, learned once per instance (see `reserveUpload`). */
let storagePrefix: string | undefined;

export interface RosterDeps {
  db: CloudDb;
  storage: CloudStorage;
  keys: PiiKeys;
  throttle: Throttle;
  /** Who is an admin (ROSTER_ADMIN_OPENIDS and server-written `admins` documents). */
  admins: AdminDirectory;
  /** Absolute time (ms) after which this invocation starts no new batch (see core/roster/slice.ts). */
  sliceDeadline: number;
  /** Absolute time (ms) at which the prepare (file → chunks) pauses between two batches. */
  prepareDeadline: number;
  /**
   * Absolute time (ms) past which an invocation still reading the file (within a batch) fails the
   * job with ROSTER_TIMEOUT_TOO_SHORT (core/roster/slice.ts `abortDeadline`); none when unknown.
   */
  abortAt?: number;
  /** The deployed timeout, when the platform says it (named in the timeout-too-short message). */
  timeLimitMs?: number;
  /** Largest upload accepted (ROSTER_MAX_FILE_MB). */
  maxFileBytes: number;
  logger: Logger;
}

export class RosterService {
  private readonly jobs: JobStore;
  private readonly writer: RosterWriter;
  private readonly files: FileCleanup;
  private readonly closer: JobCloser;
  private readonly chunks: ChunkStore;

  constructor(private readonly deps: RosterDeps) {
    this.jobs = new JobStore(deps.db, deps.throttle, deps.keys);
    this.writer = new RosterWriter({ ...deps, batchSize: BATCH_SIZE });
    this.files = new FileCleanup(deps.db, deps.storage, deps.logger, deps.keys);
    this.chunks = new ChunkStore(deps.storage, deps.keys);
    this.closer = new JobCloser(this.jobs, this.files, deps.logger, this.chunks);
  }

  // ------------------------------------------------------------ access

  isAdmin(openid: string): Promise<boolean> {
    return this.deps.admins.isAdmin(openid);
  }

  /** The `admin` guard of the router: every action but `access`. */
  async requireAdmin(openid: string): Promise<void> {
    if (!(await this.isAdmin(openid))) throw new Refusal('FORBIDDEN', '仅名单管理员可以导入名单');
  }

  async access(openid: string): Promise<BodyOf<'roster', 'access'>> {
    return { admin: await this.isAdmin(openid) };
  }

  // ------------------------------------------------------------ files

  async template(): Promise<BodyOf<'roster', 'template'>> {
    const fileID = await this.storeTemplate();
    return { fileID, tempFileURL: await this.tempUrl(fileID) };
  }

  /** Writes the template to storage; answers its file ID (and learns the storage's file-ID prefix). */
  private async storeTemplate(): Promise<string> {
    const { fileID } = await this.deps.storage.uploadFile({ cloudPath: TEMPLATE_PATH, fileContent: buildTemplate() });
    storagePrefix ??= fileIDPrefix(fileID, TEMPLATE_PATH);
    return fileID;
  }

  /**
   * Before an upload: the path it goes to (chosen here, with a random part) and its deletion
   * scheduled `UPLOAD_WINDOW_MS` ahead, so a file no import takes is deleted by the sweep (an import
   * deletes its upload itself, long before). The file ID is the storage's prefix and the path: the
   * prefix is learned from a file the function stores itself (the template), once per instance.
   * Nothing is reserved when the deletion cannot be scheduled (the admin is told, and uploads nothing).
   */
  async reserveUpload(request: RosterReserveRequest): Promise<BodyOf<'roster', 'reserveUpload'>> {
    const now = Date.now();
    const cloudPath = rosterUploadPath(request.fileName, now, crypto.randomBytes(8).toString('hex'));
    if (storagePrefix === undefined) await this.storeTemplate();
    if (storagePrefix === undefined) throw new InternalError('the storage answered a file ID of an unknown shape');
    const fileID = `${storagePrefix}${cloudPath}`;
    // A file the import would refuse would never be read, nor deleted by it.
    if (!isRosterUpload(fileID)) throw new InternalError('a reserved upload path the import would refuse');
    const deleteBy = now + UPLOAD_WINDOW_MS;
    await this.files.schedule(fileID, UPLOAD_RESERVED, new Date(deleteBy));
    return { cloudPath, deleteBy };
  }

  async report(request: RosterJobRequest): Promise<BodyOf<'roster', 'report'>> {
    const job = await this.job(request.jobId);
    if (job.reportExpired) throw new Refusal('ROSTER_JOB_NOT_FOUND', '该任务的错误报告已超过保留期限（7 天）被删除');
    if (!job.reportFileID) throw new Refusal('ROSTER_JOB_NOT_FOUND', '该任务没有错误报告');
    return { fileID: job.reportFileID, tempFileURL: await this.tempUrl(job.reportFileID) };
  }

  /** A short-lived link (10 minutes). */
  private tempUrl(fileID: string): Promise<string> {
    return temporaryUrl(this.deps.storage, fileID);
  }

  /**
   * The upload, opened for ranged reads (never held whole). A file that does not exist is the
   * admin's problem (ROSTER_FILE_NOT_FOUND, which fails a running job); anything else is a fault of
   * the moment, thrown as is, so a running job keeps its place and the next `run` tries again.
   */
  private openUpload(fileID: string): Promise<RangedFile & { head: Buffer }> {
    return openRangedFile(this.deps.storage, fileID, this.deps.maxFileBytes);
  }

  /**
   * The upload as a roster: refused at once when it is over the size cap, or when the deployed
   * timeout cannot possibly read it (ROSTER_TIMEOUT_TOO_SHORT, naming the setting), before any work.
   */
  private async openRoster(
    file: RangedFile & { head: Buffer },
    fileID: string,
    sheet: string | undefined,
  ): Promise<RosterImport> {
    if (file.size > this.deps.maxFileBytes) throw new RosterFileError('ROSTER_FILE_TOO_LARGE');
    // Only a deployed timeout can be too short (without one, the prepare pauses and reads on).
    if (this.deps.timeLimitMs !== undefined && !prepareFits(file.size, Date.now(), this.deps.prepareDeadline)) {
      throw timeoutTooShort(this.deps.timeLimitMs);
    }
    // The reader checks the time every 64 KB and every 256 rows: a file the deployed timeout cannot
    // read one batch of fails the job cleanly instead of the platform killing the invocation.
    const guard = new ReadGuard(this.deps.abortAt, this.deps.timeLimitMs);
    return openRosterRanged(file, { fileName: cloudPathOf(fileID), sheet, checkpoint: guard.check });
  }

  /**
   * A keyed hash of what identifies the file's content without reading it all: its size, first and
   * last 64 KB (an .xlsx ends with its central directory: every part's CRC-32 and sizes). Under the
   * current index key only: no job runs while old index keys are listed (its next `run` stops it,
   * index.ts). A job nobody continued through a whole rotation holds a re-keyed hash and fails here
   * as changed; its chunks, under the old encryption key, could not be read on anyway.
   */
  private async fingerprint(file: RangedFile & { head: Buffer }): Promise<string> {
    const tailFrom = Math.max(0, file.size - 64 * 1024);
    const tail = await file.read(tailFrom, file.size - tailFrom);
    const digest = crypto.createHash('sha256').update(String(file.size)).update(file.head).update(tail).digest('hex');
    // Keyed: the job document (readable under the platform's default rules) says nothing about a small file.
    return blindIndex(this.deps.keys, 'rosterFile', digest);
  }

  /** The raw upload holds every row in plain text: it goes as soon as it is not needed (or the sweep retries). */
  private deleteUpload(fileID: string, reason: string): Promise<void> {
    return this.files.delete(fileID, reason);
  }

  // ------------------------------------------------------------ import

  /** `request.fileID` is a roster upload (checked by the router); the first slice runs at once. */
  async import(openid: string, request: RosterImportRequest): Promise<BodyOf<'roster', 'import'>> {
    const { fileID, sheet } = request;
    const dryRun = request.dryRun === true;
    let job: RosterJob;
    let roster: RosterImport;
    try {
      const file = await this.openUpload(fileID);
      roster = await this.openRoster(file, fileID, sheet);
      const fileHash = await this.fingerprint(file);
      const jobId = crypto.randomBytes(12).toString('hex');
      if (!dryRun) await this.jobs.lock(fileHash, jobId);
      job = newJob({
        id: jobId,
        fileID,
        fileHash,
        dryRun,
        sheet,
        mode: request.mode ?? 'merge',
        acceptConflicts: request.acceptConflicts === true,
        createdBy: blindIndex(this.deps.keys, 'openid', openid),
        now: Date.now(),
        chunkPath: newChunkPath(jobId),
      });
      await this.jobs.create(job);
    } catch (err) {
      // Whatever stopped it (unreadable, too large, the same file already importing, the database),
      // no job holds the upload and it holds plain PII: it goes now (or the sweep retries the deletion).
      await this.deleteUpload(fileID, isRosterFileError(err) ? `import refused: ${err.code}` : 'import failed');
      throw err;
    }
    this.deps.logger.info('roster import started', { job: job._id, format: roster.format, dryRun, mode: job.mode });
    try {
      await this.slice(job, roster);
    } catch (err) {
      // The job exists and keeps what it saved: the client's `run` calls retry it.
      this.deps.logger.error('roster slice failed; the next run retries it', { job: job._id, ...describeError(err) });
    }
    return { jobId: job._id };
  }

  /** The next slice of a running job (client-driven continuation); answers the status either way. */
  async run(request: RosterJobRequest): Promise<BodyOf<'roster', 'run'>> {
    const found = await this.job(request.jobId);
    if (found.state !== 'running') return statusOf(found);
    // A lease, so two invocations never work on one job at once; a dead slice's lease runs out.
    const job = await this.jobs.takeLease(found, Date.now());
    if (!job) return statusOf(found);
    // Prepared: the chunks hold everything (the upload is gone). Else the file is opened again, and
    // must be the one the job started on: the rows read so far came from it.
    let roster: RosterImport | undefined;
    try {
      if (preparing(job)) {
        const file = await this.openUpload(job.fileID);
        if (job.fileHash && (await this.fingerprint(file)) !== job.fileHash) {
          throw new RosterFileError('ROSTER_FILE_CHANGED');
        }
        roster = await this.openRoster(file, job.fileID, job.sheet);
      }
    } catch (err) {
      // The upload vanished or changed under a running job: it fails, it does not hang.
      if (isRosterFileError(err)) return statusOf(await this.fail(job, err.code, err.publicMessage));
      // Storage failed for the moment: the job keeps its place and its lease goes, so the next run starts at once.
      await bestEffort(this.deps.logger, 'releasing the job lease', () => this.jobs.releaseLease(job._id), {
        job: job._id,
      });
      throw err;
    }
    return statusOf(await this.slice(job, roster));
  }

  /**
   * A running job that cannot go on (a key rotation: the writer would find people under the current
   * index key only, so a person still under an old one would look new and be written twice). It ends
   * now, cleanly: nothing more written, its upload, chunks and lock gone, the reason its failure;
   * an ended job answers its status. While another invocation holds the job's lease (one still
   * running a slice, or one that died: its lease runs out) it answers the job as it stands, still
   * running, as `run` does: the client's next call ends it.
   */
  async stop(
    request: RosterJobRequest,
    code: ErrorCode,
    message: (job: RosterJob) => string,
  ): Promise<BodyOf<'roster', 'run'>> {
    const found = await this.job(request.jobId);
    if (found.state !== 'running') return statusOf(found);
    const job = await this.jobs.takeLease(found, Date.now());
    if (!job) return statusOf(found);
    this.deps.logger.info('roster import stopped', { job: job._id, code });
    return statusOf(await this.fail(job, code, message(job)));
  }

  async status(request: RosterJobRequest): Promise<BodyOf<'roster', 'status'>> {
    return statusOf(await this.job(request.jobId));
  }

  private async job(jobId: string): Promise<RosterJob> {
    const job = await this.jobs.find(jobId);
    if (!job) throw new Refusal('ROSTER_JOB_NOT_FOUND');
    return job;
  }

  // ------------------------------------------------------------ the work

  /**
   * The job's work for this invocation: the prepare when the file is not yet in chunks (`roster` is
   * then the opened file), then chunk after chunk until done or the slice's time is up. Answers the
   * job as it now stands.
   */
  private async slice(start: RosterJob, roster: RosterImport | undefined): Promise<RosterJob> {
    let job = start;
    try {
      if (preparing(job)) {
        if (!roster) throw new InternalError('a job to prepare needs its file');
        // A job created before chunks existed gets a place for them (not the storage's root), the
        // same on every try until one is saved: a retry overwrites, a failed job's end deletes it.
        if (!job.chunkPath) job = { ...job, chunkPath: `${ROSTER_CHUNK_PREFIX}${job._id}-legacy/` };
        job = await this.prepare(withSheet(job, roster.sheet), roster);
        if (preparing(job)) return job; // paused: the next run reads on
        // Prepared past its pause point (the deployed timeout less 5 s): no batch starts in what is
        // left; the job is saved (the upload goes) and released, and the next run writes.
        if (this.deps.timeLimitMs !== undefined && Date.now() > this.deps.prepareDeadline) {
          return await this.saved(released(job));
        }
      }
      return await this.write(job);
    } catch (err) {
      // A sheet that turns out corrupt or oversized only while streaming, a chunk lost, a timeout too
      // short: the job fails, cleanly (its upload and chunks deleted).
      if (isRosterFileError(err)) return this.fail(job, err.code, err.publicMessage);
      // Anything else (the database or the storage failing for the moment): the job stays as last
      // saved, so the next run redoes the rest, finishing included. Only the lease is released, so
      // that run can start at once; the job in hand is not saved, it may say "done" before its cleanup.
      await bestEffort(this.deps.logger, 'releasing the job lease', () => this.jobs.releaseLease(job._id), {
        job: job._id,
      });
      throw err;
    }
  }

  /**
   * The file, read once from the top and validated whole (in-file duplicates need every row), cut
   * into encrypted chunks of `CHUNK_BATCHES` batches. When the slice's time runs out first, the
   * prepare pauses: the chunks so far and the IDs seen are kept, and the next slice reads on from
   * there (skipping, unparsed, what was read). A resumed slice that reads less than
   * `MIN_PREPARE_ROWS` rows, or spends half its time skimming what earlier ones read before its
   * first batch, means a timeout too short for the file:
   * the job fails (ROSTER_TIMEOUT_TOO_SHORT) instead of crawling. Once a save records every chunk,
   * the upload, plain PII, is deleted (or at the job's end, which deletes it anyway).
   */
  private async prepare(job: RosterJob, roster: RosterImport): Promise<RosterJob> {
    const afterRow = job.preparedRow ?? 0;
    const ids = afterRow > 0 ? await this.chunks.readState(job) : new IdIndex();
    const ends = afterRow > 0 ? [...(job.chunkEnds ?? [])] : [];
    let pending: RosterBatch[] = [];
    let total = job.preparedDataRows ?? 0;
    let rowsRead = 0;
    const flush = async () => {
      const end = Math.max(0, ...pending.map((b) => b.lastRow));
      if (end > 0) {
        await this.chunks.write(job, ends.length, { columns: roster.columns, batches: pending });
        ends.push(end);
      }
      pending = [];
    };
    const resume = afterRow > 0 ? { afterRow, resume: { dataRows: total } } : {};
    const sliceStart = Date.now();
    let firstBatchMs: number | undefined;
    for await (const batch of roster.batches({ size: BATCH_SIZE, ids, ...resume })) {
      firstBatchMs ??= Date.now() - sliceStart;
      pending.push(batch);
      total = batch.dataRows;
      rowsRead += batch.records.length + new Set(batch.errors.map((e) => e.row)).size;
      if (pending.length >= CHUNK_BATCHES) await flush();
      if (!batch.done && Date.now() > this.deps.prepareDeadline) {
        // Each resumed slice skims what earlier ones read: when that leaves it little room, the
        // timeout is too short for the file, and going on would crawl.
        const budget = this.deps.prepareDeadline - sliceStart;
        if (afterRow > 0 && (rowsRead < MIN_PREPARE_ROWS || firstBatchMs > budget / 2)) {
          throw timeoutTooShort(this.deps.timeLimitMs);
        }
        await flush();
        await this.chunks.writeState(job, ids);
        this.deps.logger.info('roster prepare paused', { job: job._id, chunks: ends.length, rows: total });
        return this.jobs.save(released(preparePaused(job, ends, batch.lastRow, total)));
      }
    }
    await flush();
    this.deps.logger.info('roster file prepared', { job: job._id, chunks: ends.length, total });
    // Saved with the write phase's first save, after which the upload goes (see `saved`).
    this.preparedUpload = job.fileID;
    return prepared(job, ends, total);
  }

  /** The upload this invocation cut into chunks, to delete once the job saying so is saved. */
  private preparedUpload: string | undefined;

  /** Saves the job; the first save that records the chunks lets the upload (plain PII) go. */
  private async saved(job: RosterJob): Promise<RosterJob> {
    const stored = await this.jobs.save(job);
    if (this.preparedUpload) {
      await this.deleteUpload(this.preparedUpload, 'import prepared');
      this.preparedUpload = undefined;
    }
    return stored;
  }

  /**
   * Chunk after chunk from the cursor, batch after batch, until every chunk is written (the job
   * finishes) or the slice's time is up (the job is saved and released, so the next `run`
   * continues at once, reading only the chunk it is in). The job is saved after each chunk that
   * wrote data (the checkpoint); a slice that dies redoes at most one chunk, whose rows are then
   * found stored (written, not counted twice).
   */
  private async write(start: RosterJob): Promise<RosterJob> {
    let job = start;
    let expectNew = false;
    for (let index = nextChunk(job); index >= 0; index = nextChunk(job)) {
      const chunk = await this.chunks.read(job, index);
      let wrote = false;
      for (const batch of chunk.batches) {
        if (batch.lastRow <= job.cursor) continue;
        const { counts, conflicts, found } = await this.writer.apply(batch.records, job, chunk.columns, { expectNew });
        expectNew = found === 0 && batch.records.length > 0;
        const errors =
          conflicts.length > 0 ? [...batch.errors, ...conflicts].sort((a, b) => a.row - b.row) : batch.errors;
        job = afterBatch(job, { counts, errors, lastRow: batch.lastRow, dataRows: batch.dataRows });
        wrote ||= wroteData(counts);
        if (Date.now() > this.deps.sliceDeadline && nextChunk(job) >= 0) {
          // Out of time: save where we are and release the lease, so the next `run` continues at once.
          return await this.saved(released(job));
        }
      }
      if ((wrote || this.preparedUpload) && nextChunk(job) >= 0) job = await this.saved(leased(job, Date.now()));
    }
    return this.finish(job);
  }

  private fail(job: RosterJob, code: string, message: string): Promise<RosterJob> {
    return this.closer.fail(job, code, message);
  }

  private async finish(job: RosterJob): Promise<RosterJob> {
    let reportFileID: string | undefined;
    if (job.errorCount > 0) {
      const errors = hasAllErrors(job) ? job.errors : await this.reportErrors(job);
      reportFileID = (
        await this.deps.storage.uploadFile({
          cloudPath: `${ROSTER_REPORT_PREFIX}${job._id}.xlsx`,
          fileContent: buildErrorReport(errors, job.errorCount),
        })
      ).fileID;
    }
    const done = await this.closer.finish(job, reportFileID);
    this.deps.logger.info('roster import finished', {
      job: done._id,
      total: done.total,
      inserted: done.inserted,
      updated: done.updated,
      unchanged: done.unchanged,
      conflicts: done.conflicts,
      failed: done.failed,
      dbCalls: this.deps.throttle.calls,
    });
    return done;
  }

  /**
   * The row errors the report lists (the job keeps only the first 100): they are in the chunks,
   * read once more, keeping at most `MAX_REPORT_ERRORS` (400k invalid rows would not fit).
   * Conflicts are found by the writer, not by validation: the report lists those the job kept.
   */
  private async reportErrors(job: RosterJob): Promise<RosterRowError[]> {
    const errors: RosterRowError[] = job.errors.filter((e) => WRITE_CONFLICT_CODES.includes(e.code));
    for (let index = 0; index < (job.chunkEnds ?? []).length && errors.length < MAX_REPORT_ERRORS; index += 1) {
      for (const batch of (await this.chunks.read(job, index)).batches) {
        errors.push(...batch.errors.slice(0, Math.max(0, MAX_REPORT_ERRORS - errors.length)));
      }
    }
    return errors.sort((a, b) => a.row - b.row);
  }
}
