/**
 * Where roster jobs live (`roster_jobs`): find, create and save jobs, take a job's lease atomically,
 * and the per-file lock that keeps a second import of the same file out. The decisions (is a lease
 * free, does a lock's job still hold it) are the pure functions of core/roster/job.ts, applied to
 * what was read; where a decision must be atomic (taking a lease) or must select documents (finding
 * abandoned jobs), the same condition is also the database query, and the service checks the answer
 * with the pure function again. Every request goes through the throttle.
 *
 * The file IDs in a job are stored encrypted (bound to the job): where the rules are left at the
 * platform's defaults, a client can read the collection and every file whose ID it knows, and the
 * upload holds a roster's names and ID numbers.
 */
import { Refusal } from '../../core/errors';
import { decryptField, encryptField, fieldAad, keyVersion, type PiiKeys } from '../../core/pii';
import {
  ABANDONED_MS,
  holdsLock,
  LEASE_MS,
  leaseFree,
  REPORT_RETENTION_MS,
  type RosterJob,
} from '../../core/roster/job';
import { isClientWritten, removeClientWritten, serverWritten, type CloudDb } from '../../lib/cloud-db';
import type { Throttle } from '../../lib/throttle';
import { COLLECTION } from '../../manifest';

const JOBS = COLLECTION.rosterJobs;

/** One import per file content at a time: `_id = lock_<fileHash>`. */
interface LockDoc {
  _id: string;
  kind: 'lock';
  jobId: string;
  at: number;
  kv?: string;
  _openid?: string;
}

/** A job as stored: its file IDs encrypted. */
type JobDoc = Omit<RosterJob, 'fileID' | 'reportFileID' | 'chunkPath'> & {
  fileIDEnc: string;
  reportFileIDEnc?: string;
  chunkPathEnc?: string;
  kv?: string;
};

export class JobStore {
  constructor(
    private readonly db: CloudDb,
    private readonly throttle: Throttle,
    private readonly keys: PiiKeys,
  ) {}

  async create(job: RosterJob): Promise<void> {
    await this.throttle.run(() => this.db.collection(JOBS).add({ data: this.toDoc(job, true) }));
  }

  private toDoc(job: RosterJob, created = false): JobDoc {
    const { fileID, reportFileID, chunkPath, ...rest } = job as RosterJob & { kv?: string };
    // The keys its hashes (fileHash, createdBy) were computed under (docs/security-privacy.md → 密钥轮换): a saved job
    // keeps what it was created with, so a key rotation still sees the hashes it has to re-key.
    const kv = created ? keyVersion(this.keys) : rest.kv;
    return {
      ...rest,
      ...(kv === undefined ? {} : { kv }),
      fileIDEnc: encryptField(this.keys, fileID, fieldAad(JOBS, job._id, 'fileID')),
      ...(chunkPath ? { chunkPathEnc: encryptField(this.keys, chunkPath, fieldAad(JOBS, job._id, 'chunkPath')) } : {}),
      ...(reportFileID
        ? { reportFileIDEnc: encryptField(this.keys, reportFileID, fieldAad(JOBS, job._id, 'reportFileID')) }
        : {}),
    };
  }

  private fromDoc(doc: JobDoc): RosterJob {
    const { fileIDEnc, reportFileIDEnc, chunkPathEnc, ...rest } = doc;
    return {
      ...rest,
      fileID: decryptField(this.keys, fileIDEnc, fieldAad(JOBS, doc._id, 'fileID')),
      ...(chunkPathEnc
        ? { chunkPath: decryptField(this.keys, chunkPathEnc, fieldAad(JOBS, doc._id, 'chunkPath')) }
        : {}),
      ...(reportFileIDEnc
        ? { reportFileID: decryptField(this.keys, reportFileIDEnc, fieldAad(JOBS, doc._id, 'reportFileID')) }
        : {}),
    };
  }

  async find(jobId: string): Promise<RosterJob | undefined> {
    const res = await this.throttle.run(() =>
      this.db
        .collection<JobDoc>(JOBS)
        .where(serverWritten(this.db, { _id: jobId, kind: 'job' }))
        .limit(1)
        .get(),
    );
    const doc = res.data[0];
    return doc && this.fromDoc(doc);
  }

  /** Stores `job` as it is now (stamped `updatedAt`); answers what was stored. */
  async save(job: RosterJob): Promise<RosterJob> {
    const saved = { ...job, updatedAt: new Date() };
    const { _id, ...fields } = this.toDoc(saved, false);
    await this.throttle.run(() => this.db.collection(JOBS).doc(_id).set({ data: fields }));
    return saved;
  }

  /**
   * Takes the job's lease if nobody holds it at `now` (one conditional update, so two invocations
   * never both get it); answers the leased job, or `undefined` when another invocation holds it.
   */
  async takeLease(job: RosterJob, now: number): Promise<RosterJob | undefined> {
    // Visibly held (or not running) as read: no request needed to learn that.
    if (!leaseFree(job, now)) return undefined;
    const _ = this.db.command;
    const leaseUntil = now + LEASE_MS;
    const taken = await this.throttle.run(() =>
      this.db
        .collection(JOBS)
        .where({ _id: job._id, state: 'running', leaseUntil: _.lt(now) })
        .update({ data: { leaseUntil } }),
    );
    return taken.stats.updated === 1 ? { ...job, leaseUntil } : undefined;
  }

  /** Drops the lease without touching anything else (a slice that failed: the next run starts at once). */
  async releaseLease(jobId: string): Promise<void> {
    await this.throttle.run(() =>
      this.db
        .collection(JOBS)
        .doc(jobId)
        .update({ data: { leaseUntil: 0 } }),
    );
  }

  /** Running jobs nobody has continued for `ABANDONED_MS` and nobody holds, at most `limit`. */
  async abandoned(now: number, limit: number): Promise<RosterJob[]> {
    const _ = this.db.command;
    const res = await this.throttle.run(() =>
      this.db
        .collection<JobDoc>(JOBS)
        .where({
          kind: 'job',
          state: 'running',
          updatedAt: _.lt(new Date(now - ABANDONED_MS)),
          leaseUntil: _.lt(now),
          _openid: _.exists(false),
        })
        .limit(limit)
        .get(),
    );
    return res.data.map((doc) => this.fromDoc(doc));
  }

  /** Ended jobs whose error report is past its retention (server-written only). */
  async withOldReports(now: number, limit: number): Promise<RosterJob[]> {
    const _ = this.db.command;
    const res = await this.throttle.run(() =>
      this.db
        .collection<JobDoc>(JOBS)
        .where({
          kind: 'job',
          state: _.in(['done', 'failed']),
          reportFileIDEnc: _.exists(true),
          updatedAt: _.lt(new Date(now - REPORT_RETENTION_MS)),
          _openid: _.exists(false),
        })
        .limit(limit)
        .get(),
    );
    return res.data.map((doc) => this.fromDoc(doc));
  }

  /**
   * Locks the file content `fileHash` for `jobId`; refuses with `ROSTER_ALREADY_IMPORTING` while
   * another job holds it, and takes over a lock whose job has ended or been abandoned. Whether the
   * lock exists decides, never the insert error's wording (only the sandbox's is known).
   */
  async lock(fileHash: string, jobId: string): Promise<void> {
    const _id = `lock_${fileHash}`;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const lock: LockDoc = { _id, kind: 'lock', jobId, at: Date.now(), kv: keyVersion(this.keys) };
        await this.throttle.run(() => this.db.collection(JOBS).add({ data: lock }));
        return;
      } catch (err) {
        const held = (await this.throttle.run(() => this.db.collection<LockDoc>(JOBS).where({ _id }).limit(1).get()))
          .data[0];
        if (!held) throw err;
        if (isClientWritten(held)) {
          // A lock a client planted (possible under the platform's default rules) holds nothing.
          await this.throttle.run(() => removeClientWritten(this.db, JOBS, _id));
          continue;
        }
        if (holdsLock(await this.find(held.jobId), Date.now())) throw new Refusal('ROSTER_ALREADY_IMPORTING');
        // Its job ended or was abandoned: take the lock over (only if nobody else did meanwhile).
        await this.throttle.run(() => this.db.collection(JOBS).where({ _id, at: held.at }).remove());
      }
    }
    throw new Refusal('ROSTER_ALREADY_IMPORTING');
  }

  /** Releases the job's lock (a dry run never took one); another job's lock is left alone. */
  async unlock(job: RosterJob): Promise<void> {
    if (job.dryRun) return;
    await this.throttle.run(() =>
      this.db
        .collection(JOBS)
        .where({ _id: `lock_${job.fileHash}`, jobId: job._id })
        .remove(),
    );
  }
}
