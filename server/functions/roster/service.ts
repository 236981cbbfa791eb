/**
 * Roster import: an admin's .xlsx/.xls/.csv → the `roster` collection, validated row by row,
 * upserted idempotently by the blind index of the ID number (_id), in batches of 1000 (one `_.in`
 * lookup, one array insert, at most one remove per batch: never one request per row), within the
 * plan's QPS. The job is resumable: it re-reads the file and continues after the last saved row,
 * so a slice that dies or times out is simply run again (client-driven continuation: `run`).
 */
import crypto from 'crypto';
import type { RosterJobStatus, RosterRowError } from '../../../miniprogram/shared/contracts';
import { ERRORS } from '../../../miniprogram/shared/errors';
import { maskIdCard, maskName, maskPhone } from '../../../miniprogram/shared/mask';
import { blindIndex, encryptField, type PiiKeys } from '../../core/pii';
import { CloudFailure, type Logger } from '../../core/router';
import {
  buildErrorReport,
  buildTemplate,
  openRoster,
  RosterFileError,
  type RosterImport,
  type RosterRecord,
} from '../../core/roster';
import { addMany, type CloudDb } from '../../lib/cloud-db';
import type { Throttle } from '../../lib/throttle';
import { COLLECTION } from '../collections';

const JOBS = COLLECTION.rosterJobs;
const ROSTER = COLLECTION.roster;
const ADMINS = COLLECTION.admins;
/** Uploads must come from here (the page and the CLI upload there): nothing else is read or deleted. */
export const UPLOAD_PREFIX = 'roster-uploads/';
export const BATCH_SIZE = 1000;
export const MAX_FILE_BYTES = 20 * 1024 * 1024;
const MAX_JOB_ERRORS = 100;
const LEASE_MS = 75_000;
const LOCK_STALE_MS = 120_000;
/** A running job nobody has continued for this long is abandoned (its upload must not linger). */
export const ABANDONED_MS = 30 * 60_000;

/** The storage calls of wx-server-sdk the service needs (cloud.downloadFile etc.). */
export interface CloudStorage {
  downloadFile(options: { fileID: string }): Promise<{ fileContent: Buffer }>;
  uploadFile(options: { cloudPath: string; fileContent: Buffer }): Promise<{ fileID: string }>;
  getTempFileURL(options: { fileList: { fileID: string; maxAge: number }[] }): Promise<{
    fileList: { fileID: string; tempFileURL: string; status: number }[];
  }>;
  deleteFile(options: { fileList: string[] }): Promise<unknown>;
}

export interface RosterDeps {
  db: CloudDb;
  storage: CloudStorage;
  keys: PiiKeys;
  throttle: Throttle;
  /** Openids from ROSTER_ADMIN_OPENIDS (besides the `admins` collection). */
  envAdmins: string[];
  /** Absolute time (ms) after which this invocation starts no new batch (see core/roster/slice.ts). */
  sliceDeadline: number;
  logger: Logger;
}

/** A job as stored: the status the contract exposes, plus what resuming needs. */
interface JobDoc extends Omit<RosterJobStatus, 'jobId' | 'sheet'> {
  _id: string;
  kind: 'job';
  fileID: string;
  fileHash: string;
  sheet?: string;
  /** The spreadsheet row up to which the job is done: a resumed slice continues after it. */
  cursor: number;
  errorCount: number;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  leaseUntil: number;
}

interface RosterDoc {
  _id: string;
  rowHash: string;
}

export class RosterService {
  constructor(private readonly deps: RosterDeps) {}

  // ------------------------------------------------------------ access

  async isAdmin(openid: string): Promise<boolean> {
    if (this.deps.envAdmins.includes(openid)) return true;
    const res = await this.deps.db.collection(ADMINS).where({ _id: openid }).limit(1).get();
    return res.data.length > 0;
  }

  private async requireAdmin(openid: string): Promise<void> {
    if (!(await this.isAdmin(openid))) throw new CloudFailure('FORBIDDEN', '仅名单管理员可以导入名单');
  }

  async access(openid: string) {
    return { ok: true as const, admin: await this.isAdmin(openid) };
  }

  // ------------------------------------------------------------ files

  async template(openid: string) {
    await this.requireAdmin(openid);
    const { fileID } = await this.deps.storage.uploadFile({
      cloudPath: 'roster-templates/roster-template.xlsx',
      fileContent: buildTemplate(),
    });
    return { ok: true as const, fileID, tempFileURL: await this.tempUrl(fileID) };
  }

  async report(openid: string, request: { jobId?: unknown }) {
    await this.requireAdmin(openid);
    const job = await this.job(request.jobId);
    if (!job.reportFileID) throw new CloudFailure('ROSTER_JOB_NOT_FOUND', '该任务没有错误报告');
    return { ok: true as const, fileID: job.reportFileID, tempFileURL: await this.tempUrl(job.reportFileID) };
  }

  /** A short-lived link (10 minutes). */
  private async tempUrl(fileID: string): Promise<string> {
    const res = await this.deps.storage.getTempFileURL({ fileList: [{ fileID, maxAge: 600 }] });
    return res.fileList[0]?.tempFileURL ?? '';
  }

  private async download(fileID: string): Promise<Buffer> {
    try {
      return (await this.deps.storage.downloadFile({ fileID })).fileContent;
    } catch {
      throw new CloudFailure('ROSTER_FILE_NOT_FOUND');
    }
  }

  private async deleteUpload(fileID: string): Promise<void> {
    await this.deps.storage.deleteFile({ fileList: [fileID] }).catch(() => undefined);
  }

  // ------------------------------------------------------------ import

  async import(openid: string, request: { fileID?: unknown; dryRun?: unknown; sheet?: unknown }) {
    await this.requireAdmin(openid);
    const fileID = typeof request.fileID === 'string' ? request.fileID : '';
    const path = /^cloud:\/\/[^/]+\/(.+)$/.exec(fileID)?.[1] ?? '';
    if (!path.startsWith(UPLOAD_PREFIX) || path.includes('..')) throw new CloudFailure('INVALID_REQUEST');
    const sheet = typeof request.sheet === 'string' && request.sheet ? request.sheet : undefined;
    const dryRun = request.dryRun === true;

    const buffer = await this.download(fileID);
    if (buffer.length > MAX_FILE_BYTES) {
      await this.deleteUpload(fileID);
      throw new CloudFailure('ROSTER_FILE_TOO_LARGE');
    }
    const roster = await this.open(buffer, path, sheet, fileID);
    const fileHash = crypto.createHash('sha256').update(buffer).digest('hex');
    const jobId = crypto.randomBytes(12).toString('hex');
    if (!dryRun) {
      // Refused (same file already importing) or failed: the upload holds plain PII, it goes now.
      await this.lock(fileHash, jobId).catch(async (err: unknown) => {
        await this.deleteUpload(fileID);
        throw err;
      });
    }

    const now = new Date();
    const job: JobDoc = {
      _id: jobId,
      kind: 'job',
      state: 'running',
      dryRun,
      fileID,
      fileHash,
      ...(sheet ? { sheet } : {}),
      cursor: 0,
      total: 0,
      processed: 0,
      inserted: 0,
      updated: 0,
      unchanged: 0,
      failed: 0,
      errors: [],
      errorCount: 0,
      createdBy: blindIndex(this.deps.keys, 'openid', openid),
      createdAt: now,
      updatedAt: now,
      leaseUntil: Date.now() + LEASE_MS,
    };
    await this.deps.throttle.run(() => this.deps.db.collection(JOBS).add({ data: job }));
    this.deps.logger.info('roster import started', { job: jobId, format: roster.format, dryRun });
    try {
      await this.slice(job, roster);
    } catch (err) {
      // The job exists and keeps what it saved: the client's `run` calls retry it (see slice).
      this.deps.logger.error('roster slice failed; the next run retries it', {
        job: jobId,
        error: (err as Error)?.name,
        detail: (err as Error)?.message,
      });
    }
    return { ok: true as const, jobId };
  }

  private async open(
    buffer: Buffer,
    fileName: string,
    sheet: string | undefined,
    fileID: string,
  ): Promise<RosterImport> {
    try {
      return await openRoster(buffer, { fileName, sheet });
    } catch (err) {
      if (!(err instanceof RosterFileError)) throw err;
      await this.deleteUpload(fileID);
      throw new CloudFailure(err.code, err.message);
    }
  }

  /** One import per file content at a time: a second one of the same file is refused, not doubled. */
  private async lock(fileHash: string, jobId: string): Promise<void> {
    const { db, throttle } = this.deps;
    const _id = `lock_${fileHash}`;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        await throttle.run(() => db.collection(JOBS).add({ data: { _id, kind: 'lock', jobId, at: Date.now() } }));
        return;
      } catch (err) {
        // Whether the lock exists decides, not the error's wording (only the sandbox's is known).
        const held = (await db.collection<{ at: number; jobId: string }>(JOBS).where({ _id }).limit(1).get()).data[0];
        if (!held) throw err;
        if (await this.isAlive(held.jobId)) throw new CloudFailure('ROSTER_ALREADY_IMPORTING');
        // Its job ended or was abandoned: take the lock over.
        await throttle.run(() =>
          db
            .collection(JOBS)
            .where({ _id, at: held?.at ?? 0 })
            .remove(),
        );
      }
    }
    throw new CloudFailure('ROSTER_ALREADY_IMPORTING');
  }

  /** A job still holds its lock while it runs and has been worked on recently (or holds a lease). */
  private async isAlive(jobId: string): Promise<boolean> {
    const job = (await this.deps.db.collection<JobDoc>(JOBS).where({ _id: jobId, kind: 'job' }).limit(1).get()).data[0];
    if (!job || job.state !== 'running') return false;
    return job.leaseUntil > Date.now() || Date.now() - new Date(job.updatedAt).getTime() < LOCK_STALE_MS;
  }

  private async unlock(job: JobDoc): Promise<void> {
    if (job.dryRun) return;
    await this.deps.throttle.run(() =>
      this.deps.db
        .collection(JOBS)
        .where({ _id: `lock_${job.fileHash}`, jobId: job._id })
        .remove(),
    );
  }

  /** The next slice of a running job (client-driven continuation); answers the status either way. */
  async run(openid: string, request: { jobId?: unknown }): Promise<RosterJobStatus & { ok: true }> {
    await this.requireAdmin(openid);
    const job = await this.job(request.jobId);
    if (job.state !== 'running') return this.status(job);
    const _ = this.deps.db.command;
    const now = Date.now();
    // A lease, so two invocations never work on one job at once; a dead slice's lease runs out.
    const taken = await this.deps.throttle.run(() =>
      this.deps.db
        .collection(JOBS)
        .where({ _id: job._id, state: 'running', leaseUntil: _.lt(now) })
        .update({ data: { leaseUntil: now + LEASE_MS } }),
    );
    if (taken.stats.updated !== 1) return this.status(job);
    job.leaseUntil = now + LEASE_MS;
    let roster: RosterImport;
    try {
      roster = await openRoster(await this.download(job.fileID), { fileName: job.fileID, sheet: job.sheet });
    } catch (err) {
      // The upload vanished or changed under a running job: it fails, it does not hang.
      const failure = err instanceof CloudFailure ? err.failure : err instanceof RosterFileError ? err : undefined;
      if (!failure) throw err;
      await this.fail(job, failure.code, failure.message);
      return this.status(job);
    }
    await this.slice(job, roster);
    return this.status(job);
  }

  async statusOf(openid: string, request: { jobId?: unknown }) {
    await this.requireAdmin(openid);
    return this.status(await this.job(request.jobId));
  }

  private async job(jobId: unknown): Promise<JobDoc> {
    if (typeof jobId !== 'string' || !/^[0-9a-f]{24}$/.test(jobId)) throw new CloudFailure('ROSTER_JOB_NOT_FOUND');
    const res = await this.deps.db.collection<JobDoc>(JOBS).where({ _id: jobId, kind: 'job' }).limit(1).get();
    const job = res.data[0];
    if (!job) throw new CloudFailure('ROSTER_JOB_NOT_FOUND');
    return job;
  }

  private status(job: JobDoc): RosterJobStatus & { ok: true } {
    return {
      ok: true,
      jobId: job._id,
      state: job.state,
      dryRun: job.dryRun,
      sheet: job.sheet ?? '',
      total: job.total,
      processed: job.processed,
      inserted: job.inserted,
      updated: job.updated,
      unchanged: job.unchanged,
      failed: job.failed,
      errors: job.errors,
      ...(job.reportFileID ? { reportFileID: job.reportFileID } : {}),
      ...(job.failure ? { failure: job.failure } : {}),
    };
  }

  /**
   * The timer trigger: fails jobs abandoned mid-way (the admin closed the page), which deletes
   * their uploads (plain PII) and releases their locks.
   */
  async sweep(): Promise<{ abandoned: number }> {
    const { db } = this.deps;
    const _ = db.command;
    const stale = await db
      .collection<JobDoc>(JOBS)
      .where({
        kind: 'job',
        state: 'running',
        updatedAt: _.lt(new Date(Date.now() - ABANDONED_MS)),
        leaseUntil: _.lt(Date.now()),
      })
      .limit(100)
      .get();
    for (const job of stale.data) await this.fail(job, 'ROSTER_JOB_ABANDONED', ERRORS.ROSTER_JOB_ABANDONED);
    return { abandoned: stale.data.length };
  }

  // ------------------------------------------------------------ the work

  private async slice(job: JobDoc, roster: RosterImport): Promise<void> {
    job.sheet = roster.sheet;
    try {
      await this.batches(job, roster);
    } catch (err) {
      // A sheet that turns out corrupt or oversized only while streaming: the job fails, cleanly.
      if (err instanceof RosterFileError) return this.fail(job, err.code, err.message);
      // Anything else (the database failing mid-batch, or while finishing): the job stays as last
      // saved (every batch that wrote data was saved), so the next run redoes the rest, finishing
      // included. Only the lease is released, best effort, so that run can start at once; the
      // in-memory job is not saved, since it may already say "done" without the cleanup done.
      await this.deps.throttle
        .run(() =>
          this.deps.db
            .collection(JOBS)
            .doc(job._id)
            .update({ data: { leaseUntil: 0 } }),
        )
        .catch(() => undefined);
      throw err;
    }
  }

  private async fail(job: JobDoc, code: string, message: string): Promise<void> {
    job.state = 'failed';
    job.failure = { code, message };
    job.leaseUntil = 0;
    await this.save(job);
    await this.unlock(job);
    await this.deleteUpload(job.fileID);
    this.deps.logger.info('roster import failed', { job: job._id, code });
  }

  private async batches(job: JobDoc, roster: RosterImport): Promise<void> {
    for await (const batch of roster.batches({ size: BATCH_SIZE, afterRow: job.cursor })) {
      const counts = await this.apply(job, batch.records);
      job.inserted += counts.inserted;
      job.updated += counts.updated;
      job.unchanged += counts.unchanged;
      job.failed += new Set(batch.errors.map((e) => e.row)).size;
      job.errorCount += batch.errors.length;
      job.errors.push(...batch.errors.slice(0, MAX_JOB_ERRORS - job.errors.length));
      job.cursor = Math.max(job.cursor, batch.lastRow);
      job.processed = job.total = batch.dataRows;
      if (batch.done) return this.finish(job, roster);
      // Progress is saved after every batch that wrote data, so a retried slice never redoes a write;
      // batches that wrote nothing are cheap to redo and cost no write.
      if (counts.inserted + counts.updated > 0) {
        job.leaseUntil = Date.now() + LEASE_MS; // still working: the lease is extended, never dropped
        await this.save(job);
      }
      if (Date.now() > this.deps.sliceDeadline) break;
    }
    // Out of time: save where we are and release the lease, so the next `run` continues at once.
    job.leaseUntil = 0;
    await this.save(job);
  }

  private async save(job: JobDoc): Promise<void> {
    job.updatedAt = new Date();
    const { _id: _unused, ...fields } = job;
    await this.deps.throttle.run(() => this.deps.db.collection(JOBS).doc(job._id).set({ data: fields }));
  }

  private async finish(job: JobDoc, roster: RosterImport): Promise<void> {
    if (job.errorCount > 0) {
      const errors = job.errorCount <= job.errors.length ? job.errors : await allErrors(roster);
      const { fileID } = await this.deps.storage.uploadFile({
        cloudPath: `roster-reports/${job._id}.xlsx`,
        fileContent: buildErrorReport(errors),
      });
      job.reportFileID = fileID;
    }
    job.state = 'done';
    job.leaseUntil = 0;
    await this.save(job);
    await this.unlock(job);
    // The raw upload held every row in plain text: it goes as soon as the import is done.
    await this.deleteUpload(job.fileID);
    this.deps.logger.info('roster import finished', {
      job: job._id,
      total: job.total,
      inserted: job.inserted,
      updated: job.updated,
      unchanged: job.unchanged,
      failed: job.failed,
      dbCalls: this.deps.throttle.calls,
    });
  }

  /** Upserts one batch: one lookup, then at most one remove (changed rows) and one array insert. */
  private async apply(job: JobDoc, records: RosterRecord[]) {
    const counts = { inserted: 0, updated: 0, unchanged: 0 };
    if (records.length === 0) return counts;
    const { db, throttle } = this.deps;
    const _ = db.command;
    const keyed = records.map((record) => ({ record, ...this.keyOf(record) }));
    const known = await this.stored(keyed.map((r) => r._id));
    const fresh = keyed.filter((r) => !known.has(r._id));
    const changed = keyed.filter((r) => known.has(r._id) && known.get(r._id) !== r.rowHash);
    counts.inserted = fresh.length;
    counts.updated = changed.length;
    counts.unchanged = keyed.length - fresh.length - changed.length;
    if (job.dryRun) return counts;
    if (changed.length) {
      await throttle.run(() =>
        db
          .collection(ROSTER)
          .where({ _id: _.in(changed.map((r) => r._id)) })
          .remove(),
      );
    }
    // Only what is written gets encrypted: an unchanged re-import costs no cipher work at all.
    const writes = [...fresh, ...changed].map((r) => this.toDoc(r, job._id));
    try {
      await throttle.run(() => addMany(db, ROSTER, writes));
    } catch (err) {
      // Another import of these people got there first (a duplicate _id): write only what is still
      // missing. What is stored decides, not the error's wording; nothing stored means another error.
      const present = await this.stored(writes.map((r) => r._id));
      if (present.size === 0) throw err;
      this.deps.logger.info('roster batch partly stored already; writing the rest', {
        job: job._id,
        present: present.size,
        of: writes.length,
      });
      await throttle.run(() =>
        addMany(
          db,
          ROSTER,
          writes.filter((r) => !present.has(r._id)),
        ),
      );
      counts.unchanged += present.size;
      counts.inserted -= fresh.filter((r) => present.has(r._id)).length;
      counts.updated -= changed.filter((r) => present.has(r._id)).length;
    }
    return counts;
  }

  /** The stored rows among `ids` (at most one batch): `_id` → `rowHash`, in one request. */
  private async stored(ids: string[]): Promise<Map<string, string>> {
    const { db, throttle } = this.deps;
    const res = await throttle.run(() =>
      db
        .collection<RosterDoc>(ROSTER)
        .where({ _id: db.command.in(ids) })
        .field({ rowHash: true })
        .limit(BATCH_SIZE)
        .get(),
    );
    return new Map(res.data.map((d) => [d._id, d.rowHash]));
  }

  /** The row's key (blind index of the ID) and a keyed hash of its content (to skip unchanged rows). */
  private keyOf(record: RosterRecord): { _id: string; rowHash: string } {
    const { keys } = this.deps;
    const content = [
      record.name,
      record.idCard,
      record.phone,
      record.department,
      record.employeeNo,
      record.note,
      record.startDate,
    ];
    return {
      _id: blindIndex(keys, 'idCard', record.idCard),
      rowHash: blindIndex(keys, 'rosterRow', JSON.stringify(content.map((v) => v ?? ''))),
    };
  }

  /** The stored person: name, ID and phone in one AES-256-GCM field; masked copies for display. */
  private toDoc(row: { record: RosterRecord; _id: string; rowHash: string }, jobId: string) {
    const { record, _id, rowHash } = row;
    const pii = JSON.stringify({ name: record.name, idCard: record.idCard, phone: record.phone });
    const optional = {
      maskedPhone: record.phone ? maskPhone(record.phone) : undefined,
      department: record.department,
      employeeNo: record.employeeNo,
      note: record.note,
      startDate: record.startDate,
    };
    return {
      _id,
      rowHash,
      piiEnc: encryptField(this.deps.keys, pii, `${ROSTER}:${_id}:pii`),
      maskedName: maskName(record.name),
      maskedIdCard: maskIdCard(record.idCard),
      ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined && v !== '')),
      jobId,
      updatedAt: new Date(),
    };
  }
}

/** Every row error of the file (the job keeps only the first 100): validation is deterministic, so re-read. */
async function allErrors(roster: RosterImport): Promise<RosterRowError[]> {
  const errors: RosterRowError[] = [];
  for await (const batch of roster.batches({ size: BATCH_SIZE })) errors.push(...batch.errors);
  return errors;
}
