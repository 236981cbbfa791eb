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
  RosterRowError,
} from '../../../miniprogram/shared/contracts';
import { cloudPathOf } from '../../../miniprogram/shared/requests';
import { describeError, InternalError, Refusal } from '../../core/errors';
import { blindIndex, type PiiKeys } from '../../core/pii';
import { buildErrorReport, buildTemplate, openRoster, RosterFileError, type RosterImport } from '../../core/roster';
import { MAX_REPORT_ERRORS } from '../../core/roster/report';
import { FirstBatchGuard } from '../../core/roster/slice';
import {
  afterBatch,
  hasAllErrors,
  leased,
  newJob,
  released,
  ROSTER_REPORT_PREFIX,
  statusOf,
  withSheet,
  WRITE_CONFLICT_CODES,
  wroteData,
  type RosterJob,
} from '../../core/roster/job';
import { isRosterFileError } from '../../core/roster/types';
import type { Logger } from '../../core/router';
import { bestEffort, FileCleanup } from '../../lib/cleanup';
import type { AdminDirectory } from '../../lib/admins';
import type { CloudDb } from '../../lib/cloud-db';
import { isFileNotFound, temporaryUrl, type CloudStorage } from '../../lib/storage';
import type { Throttle } from '../../lib/throttle';
import { JobCloser } from './job-closer';
import { JobStore } from './job-store';
import { RosterWriter } from './writer';

export type { CloudStorage };

export const BATCH_SIZE = 1000;
export const MAX_FILE_BYTES = 20 * 1024 * 1024;

export interface RosterDeps {
  db: CloudDb;
  storage: CloudStorage;
  keys: PiiKeys;
  throttle: Throttle;
  /** Who is an admin (ROSTER_ADMIN_OPENIDS and server-written `admins` documents). */
  admins: AdminDirectory;
  /** Absolute time (ms) after which this invocation starts no new batch (see core/roster/slice.ts). */
  sliceDeadline: number;
  /**
   * Absolute time (ms) past which an invocation that has not written its first batch fails the job
   * with ROSTER_TIMEOUT_TOO_SHORT (core/roster/slice.ts `abortDeadline`); none when unknown.
   */
  abortAt?: number;
  logger: Logger;
}

export class RosterService {
  private readonly jobs: JobStore;
  private readonly writer: RosterWriter;
  private readonly files: FileCleanup;
  private readonly closer: JobCloser;

  constructor(private readonly deps: RosterDeps) {
    this.jobs = new JobStore(deps.db, deps.throttle, deps.keys);
    this.writer = new RosterWriter({ ...deps, batchSize: BATCH_SIZE });
    this.files = new FileCleanup(deps.db, deps.storage, deps.logger, deps.keys);
    this.closer = new JobCloser(this.jobs, this.files, deps.logger);
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
    const { fileID } = await this.deps.storage.uploadFile({
      cloudPath: 'roster-templates/roster-template.xlsx',
      fileContent: buildTemplate(),
    });
    return { fileID, tempFileURL: await this.tempUrl(fileID) };
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
   * The upload's bytes. A file that does not exist is the admin's problem (ROSTER_FILE_NOT_FOUND,
   * which fails a running job); anything else is a fault of the moment, thrown as is, so a running
   * job keeps its place and the next `run` tries again.
   */
  private async download(fileID: string): Promise<Buffer> {
    try {
      return (await this.deps.storage.downloadFile({ fileID })).fileContent;
    } catch (err) {
      if (isFileNotFound(err)) throw new RosterFileError('ROSTER_FILE_NOT_FOUND');
      throw new InternalError(`downloading the upload failed: ${describeError(err).detail}`, err);
    }
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
    const buffer = await this.download(fileID);
    const guard = new FirstBatchGuard(this.deps.abortAt);
    let job: RosterJob;
    let roster: RosterImport;
    try {
      if (buffer.length > MAX_FILE_BYTES) throw new RosterFileError('ROSTER_FILE_TOO_LARGE');
      roster = await openRoster(buffer, { fileName: cloudPathOf(fileID), sheet, checkpoint: guard.check });
      // Keyed: the job document (readable under the platform's default rules) says nothing about a small file.
      const fileHash = blindIndex(
        this.deps.keys,
        'rosterFile',
        crypto.createHash('sha256').update(buffer).digest('hex'),
      );
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
      await this.slice(job, roster, guard);
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
    const guard = new FirstBatchGuard(this.deps.abortAt);
    let roster: RosterImport;
    try {
      roster = await openRoster(await this.download(job.fileID), {
        fileName: cloudPathOf(job.fileID),
        sheet: job.sheet,
        checkpoint: guard.check,
      });
    } catch (err) {
      // The upload vanished or changed under a running job: it fails, it does not hang.
      if (isRosterFileError(err)) return statusOf(await this.fail(job, err.code, err.publicMessage));
      // Storage failed for the moment: the job keeps its place and its lease goes, so the next run starts at once.
      await bestEffort(this.deps.logger, 'releasing the job lease', () => this.jobs.releaseLease(job._id), {
        job: job._id,
      });
      throw err;
    }
    return statusOf(await this.slice(job, roster, guard));
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
   * Works through batches until the file is done or the slice's time is up. Progress is saved after
   * every batch that wrote data (so a retried slice never redoes a write); batches that wrote nothing
   * are cheap to redo and cost no write. Answers the job as it now stands.
   */
  private async slice(start: RosterJob, roster: RosterImport, guard: FirstBatchGuard): Promise<RosterJob> {
    let job = withSheet(start, roster.sheet);
    try {
      for await (const batch of roster.batches({ size: BATCH_SIZE, afterRow: job.cursor })) {
        const { counts, conflicts } = await this.writer.apply(batch.records, job, roster.columns);
        guard.disarm(); // a batch is written: from here the slice's own deadline decides
        const errors =
          conflicts.length > 0 ? [...batch.errors, ...conflicts].sort((a, b) => a.row - b.row) : batch.errors;
        job = afterBatch(job, { counts, errors, lastRow: batch.lastRow, dataRows: batch.dataRows });
        if (batch.done) return await this.finish(job, roster);
        if (wroteData(counts)) job = await this.jobs.save(leased(job, Date.now()));
        if (Date.now() > this.deps.sliceDeadline) break;
      }
      // Out of time: save where we are and release the lease, so the next `run` continues at once.
      return await this.jobs.save(released(job));
    } catch (err) {
      // A sheet that turns out corrupt or oversized only while streaming: the job fails, cleanly.
      if (isRosterFileError(err)) return this.fail(job, err.code, err.publicMessage);
      // Anything else (the database failing mid-batch, or while finishing): the job stays as last
      // saved, so the next run redoes the rest, finishing included. Only the lease is released, so
      // that run can start at once; the job in hand is not saved, it may say "done" before its cleanup.
      await bestEffort(this.deps.logger, 'releasing the job lease', () => this.jobs.releaseLease(job._id), {
        job: job._id,
      });
      throw err;
    }
  }

  private fail(job: RosterJob, code: string, message: string): Promise<RosterJob> {
    return this.closer.fail(job, code, message);
  }

  private async finish(job: RosterJob, roster: RosterImport): Promise<RosterJob> {
    let reportFileID: string | undefined;
    if (job.errorCount > 0) {
      const errors = hasAllErrors(job) ? job.errors : await reportErrors(job, roster);
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
}

/**
 * The row errors the report lists (the job keeps only the first 100): validation is deterministic,
 * so the file is re-read, keeping at most `MAX_REPORT_ERRORS` (400k invalid rows would not fit).
 * Conflicts are found by the writer, not by validation: the report lists those the job kept.
 */
async function reportErrors(job: RosterJob, roster: RosterImport): Promise<RosterRowError[]> {
  const errors: RosterRowError[] = job.errors.filter((e) => WRITE_CONFLICT_CODES.includes(e.code));
  for await (const batch of roster.batches({ size: BATCH_SIZE })) {
    errors.push(...batch.errors.slice(0, Math.max(0, MAX_REPORT_ERRORS - errors.length)));
    if (errors.length >= MAX_REPORT_ERRORS) break;
  }
  return errors.sort((a, b) => a.row - b.row);
}
