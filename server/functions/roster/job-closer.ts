/**
 * Ending roster jobs: the state saved, the upload (plain PII) deleted or recorded for retry, the
 * file's lock released. Also the timer sweep, which ends abandoned jobs and retries failed
 * deletions. It needs the PII keys (the uploads' file IDs are stored encrypted) and none of the
 * roster settings, so it runs even when the rest of the function's configuration is incomplete: an
 * upload never outlives its job because of a typo in ROSTER_DB_QPS.
 */
import { ERRORS } from '../../../miniprogram/shared/errors';
import {
  failed,
  finished,
  isAbandoned,
  reportPastRetention,
  withoutReport,
  type RosterJob,
} from '../../core/roster/job';
import type { PiiKeys } from '../../core/pii';
import type { Logger } from '../../core/router';
import { bestEffort, FileCleanup } from '../../lib/cleanup';
import type { CloudDb } from '../../lib/cloud-db';
import type { CloudStorage } from '../../lib/storage';
import { Throttle } from '../../lib/throttle';
import { ChunkStore } from './chunks';
import { JobStore } from './job-store';

/** The sweep's own pace: well inside the plan's quota, whatever the settings say. */
export const SWEEP_QPS = 10;
/** Jobs one sweep ends at most (the next one, an hour later, takes the rest). */
export const SWEEP_LIMIT = 100;

export class JobCloser {
  constructor(
    private readonly jobs: JobStore,
    private readonly files: FileCleanup,
    private readonly logger: Logger,
    private readonly chunks: ChunkStore,
  ) {}

  async fail(job: RosterJob, code: string, message: string): Promise<RosterJob> {
    const saved = await this.jobs.save(failed(job, code, message));
    await this.afterEnd(saved, 'import failed');
    this.logger.info('roster import failed', { job: job._id, code });
    return saved;
  }

  async finish(job: RosterJob, reportFileID: string | undefined): Promise<RosterJob> {
    const done = await this.jobs.save(finished(job, reportFileID));
    await this.afterEnd(done, 'import finished');
    return done;
  }

  /**
   * A job that ended gives up its upload, its chunks and its lock. None can fail the job: a
   * deletion that fails is recorded for the sweep, and a lock left behind by an ended job is taken
   * over by the next import of the file.
   */
  private async afterEnd(job: RosterJob, reason: string): Promise<void> {
    await this.files.delete(job.fileID, reason);
    await this.files.deleteMany(this.chunks.fileIDs(job), reason);
    await bestEffort(this.logger, 'releasing the import lock', () => this.jobs.unlock(job), { job: job._id });
  }
}

export interface SweepResult {
  abandoned: number;
  /** Error reports deleted once past their retention. */
  reports: number;
  cleanup: { deleted: number; pending: number };
}

/**
 * Error reports (row numbers and rules, no cell values, but still about the roster) go once past
 * their retention: the file is deleted (a failure is recorded and retried by the sweep), and the
 * job forgets it. Answers how many.
 */
async function deleteOldReports(jobs: JobStore, files: FileCleanup, logger: Logger, now: number): Promise<number> {
  let deleted = 0;
  for (const job of (await jobs.withOldReports(now, SWEEP_LIMIT)).filter((j) => reportPastRetention(j, now))) {
    const ended = await bestEffort(
      logger,
      'deleting a report past its retention',
      async () => {
        await files.delete(job.reportFileID as string, 'report past retention');
        await jobs.save(withoutReport(job));
      },
      { job: job._id },
    );
    if (ended) deleted += 1;
  }
  return deleted;
}

/**
 * The timer trigger: fails jobs abandoned mid-way (the admin closed the page), which deletes their
 * uploads and releases their locks; deletes error reports past their retention; then retries the
 * deletions that failed earlier. Each part is
 * best effort: one failure is logged and the rest goes on.
 */
export async function sweepRoster(deps: {
  db: CloudDb;
  storage: CloudStorage;
  logger: Logger;
  keys: PiiKeys;
}): Promise<SweepResult> {
  const { db, storage, logger, keys } = deps;
  const jobs = new JobStore(db, new Throttle(SWEEP_QPS), keys);
  const files = new FileCleanup(db, storage, logger, keys);
  const closer = new JobCloser(jobs, files, logger, new ChunkStore(storage, keys));
  const now = Date.now();
  let abandoned = 0;
  const stale = (await jobs.abandoned(now, SWEEP_LIMIT)).filter((job) => isAbandoned(job, now));
  for (const job of stale) {
    const ended = await bestEffort(
      logger,
      'ending an abandoned import',
      () => closer.fail(job, 'ROSTER_JOB_ABANDONED', ERRORS.ROSTER_JOB_ABANDONED),
      { job: job._id },
    );
    if (ended) abandoned += 1;
  }
  let reports = 0;
  await bestEffort(logger, 'deleting reports past their retention', async () => {
    reports = await deleteOldReports(jobs, files, logger, now);
  });
  let cleanup = { deleted: 0, pending: 0 };
  await bestEffort(logger, 'retrying failed deletions', async () => {
    cleanup = await files.retry();
  });
  return { abandoned, reports, cleanup };
}
