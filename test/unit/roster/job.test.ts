/**
 * The roster job as a pure state machine: transitions return new jobs, the lease arithmetic is a
 * function of `now`. Every edge the service relies on (and that earlier fixes were about) is here.
 */
import type { RosterRowError } from '../../../miniprogram/shared/contracts';
import {
  ABANDONED_MS,
  afterBatch,
  failed,
  finished,
  hasAllErrors,
  holdsLock,
  isAbandoned,
  LEASE_MS,
  leased,
  leaseFree,
  LOCK_STALE_MS,
  MAX_JOB_ERRORS,
  newJob,
  released,
  statusOf,
  withSheet,
  wroteData,
  type RosterJob,
} from '../../../server/core/roster/job';

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);
const start = (dryRun = false): RosterJob =>
  newJob({
    id: 'a'.repeat(24),
    fileID: 'cloud://env/roster-uploads/x.xlsx',
    fileHash: 'h',
    dryRun,
    createdBy: 'c',
    now: T0,
  });
const rowError = (row: number, column = '身份证号'): RosterRowError => ({
  row,
  column,
  code: 'ID_CHECKSUM',
  message: '身份证号校验位不正确，请检查是否输错',
});
const batch = (over: Partial<Parameters<typeof afterBatch>[1]> = {}) => ({
  counts: { inserted: 0, updated: 0, unchanged: 0, conflicts: 0 },
  errors: [] as RosterRowError[],
  lastRow: 0,
  dataRows: 0,
  ...over,
});

describe('newJob', () => {
  it('is running, empty, and leased to the invocation that created it', () => {
    const job = start();
    expect(job).toMatchObject({ kind: 'job', state: 'running', cursor: 0, total: 0, errors: [], errorCount: 0 });
    expect(job.leaseUntil).toBe(T0 + LEASE_MS);
    expect(job.createdAt).toEqual(new Date(T0));
    expect(job).not.toHaveProperty('sheet');
    const input = { id: 'b'.repeat(24), fileID: 'f', fileHash: 'h', dryRun: true, createdBy: 'c', now: T0 };
    expect(newJob({ ...input, sheet: '名单' })).toMatchObject({ sheet: '名单', dryRun: true });
  });
});

describe('afterBatch', () => {
  it('adds counts, counts failed rows once however many errors they have, and moves the cursor', () => {
    const before = start();
    const after = afterBatch(
      before,
      batch({
        counts: { inserted: 3, updated: 1, unchanged: 2, conflicts: 0 },
        errors: [rowError(5), rowError(5, '姓名'), rowError(9)],
        lastRow: 11,
        dataRows: 9,
      }),
    );
    expect(after).toMatchObject({
      inserted: 3,
      updated: 1,
      unchanged: 2,
      failed: 2,
      errorCount: 3,
      cursor: 11,
      processed: 9,
      total: 9,
    });
    // Pure: the job it was given is unchanged.
    expect(before).toMatchObject({ inserted: 0, failed: 0, cursor: 0, errors: [] });
    const again = afterBatch(
      after,
      batch({ counts: { inserted: 1, updated: 0, unchanged: 0, conflicts: 0 }, lastRow: 12, dataRows: 10 }),
    );
    expect(again).toMatchObject({ inserted: 4, updated: 1, unchanged: 2, failed: 2, cursor: 12, total: 10 });
  });

  it('counts conflicts apart from failed rows, and keeps their ROW_CONFLICT errors', () => {
    const conflict = { row: 7, column: '姓名', code: 'ROW_CONFLICT', message: 'c' };
    const after = afterBatch(
      start(),
      batch({
        counts: { inserted: 1, updated: 0, unchanged: 0, conflicts: 1 },
        errors: [rowError(5), conflict],
        lastRow: 8,
        dataRows: 3,
      }),
    );
    expect(after).toMatchObject({ conflicts: 1, failed: 1, errorCount: 2 });
    expect(after.errors).toContainEqual(conflict);
  });

  it('keeps the first 100 errors but counts them all (the report then re-reads the file)', () => {
    let job = start();
    for (let i = 0; i < 3; i += 1) {
      const errors = Array.from({ length: 40 }, (_, k) => rowError(2 + i * 40 + k));
      job = afterBatch(job, batch({ errors, lastRow: 2 + (i + 1) * 40, dataRows: (i + 1) * 40 }));
    }
    expect(job.errors).toHaveLength(MAX_JOB_ERRORS);
    expect(job.errors[99]?.row).toBe(101);
    expect(job.errorCount).toBe(120);
    expect(hasAllErrors(job)).toBe(false);
    expect(hasAllErrors(afterBatch(start(), batch({ errors: [rowError(2)] })))).toBe(true);
  });

  it('never moves the cursor back (a batch redone after a resume)', () => {
    const job = afterBatch(start(), batch({ lastRow: 2000, dataRows: 1999 }));
    expect(afterBatch(job, batch({ lastRow: 0, dataRows: 1999 })).cursor).toBe(2000);
  });
});

describe('transitions', () => {
  it('wroteData: only inserts and updates make a batch worth saving', () => {
    expect(wroteData({ inserted: 0, updated: 0, unchanged: 1000, conflicts: 0 })).toBe(false);
    expect(wroteData({ inserted: 1, updated: 0, unchanged: 0, conflicts: 0 })).toBe(true);
    expect(wroteData({ inserted: 0, updated: 1, unchanged: 0, conflicts: 0 })).toBe(true);
  });

  it('finished: done, lease released, the report kept when there is one', () => {
    expect(finished(start())).toMatchObject({ state: 'done', leaseUntil: 0 });
    expect(finished(start())).not.toHaveProperty('reportFileID');
    expect(finished(start(), 'cloud://env/roster-reports/a.xlsx')).toMatchObject({
      reportFileID: 'cloud://env/roster-reports/a.xlsx',
    });
  });

  it('failed: the failure recorded, lease released, progress kept', () => {
    const job = afterBatch(
      start(),
      batch({ counts: { inserted: 5, updated: 0, unchanged: 0, conflicts: 0 }, lastRow: 6, dataRows: 5 }),
    );
    expect(failed(job, 'ROSTER_JOB_ABANDONED', '导入任务长时间没有继续')).toMatchObject({
      state: 'failed',
      failure: { code: 'ROSTER_JOB_ABANDONED', message: '导入任务长时间没有继续' },
      leaseUntil: 0,
      inserted: 5,
      cursor: 6,
    });
  });

  it('leased extends from now; released drops to 0; withSheet records the sheet', () => {
    expect(leased(start(), T0 + 10_000).leaseUntil).toBe(T0 + 10_000 + LEASE_MS);
    expect(released(start()).leaseUntil).toBe(0);
    expect(withSheet(start(), 'Sheet1').sheet).toBe('Sheet1');
  });
});

describe('lease and lock arithmetic', () => {
  it('leaseFree: a running job whose lease has run out (or was released)', () => {
    const job = start();
    expect(leaseFree(job, T0)).toBe(false);
    expect(leaseFree(job, T0 + LEASE_MS - 1)).toBe(false);
    expect(leaseFree(job, T0 + LEASE_MS)).toBe(false);
    expect(leaseFree(job, T0 + LEASE_MS + 1)).toBe(true);
    expect(leaseFree(released(job), T0)).toBe(true);
    expect(leaseFree(finished(job), T0 + 10 * LEASE_MS)).toBe(false);
  });

  it('holdsLock: running and leased, or worked on within the stale window', () => {
    const job = { ...released(start()), updatedAt: new Date(T0) };
    expect(holdsLock(undefined, T0)).toBe(false);
    // Its lease ran out and nobody touched it since: stale.
    expect(holdsLock(start(), T0 + LOCK_STALE_MS * 10)).toBe(false);
    expect(holdsLock(start(), T0 + 1)).toBe(true);
    expect(holdsLock(job, T0 + LOCK_STALE_MS - 1)).toBe(true);
    expect(holdsLock(job, T0 + LOCK_STALE_MS)).toBe(false);
    expect(holdsLock(leased(job, T0 + LOCK_STALE_MS), T0 + LOCK_STALE_MS + 1)).toBe(true);
    expect(holdsLock(finished(job), T0)).toBe(false);
    expect(holdsLock(failed(job, 'X', 'x'), T0)).toBe(false);
  });

  it('isAbandoned: running, unleased and untouched for 30 minutes', () => {
    const job = { ...released(start()), updatedAt: new Date(T0) };
    expect(isAbandoned(job, T0 + ABANDONED_MS)).toBe(false);
    expect(isAbandoned(job, T0 + ABANDONED_MS + 1)).toBe(true);
    expect(isAbandoned({ ...job, leaseUntil: T0 + ABANDONED_MS + 60_000 }, T0 + ABANDONED_MS + 1)).toBe(false);
    expect(isAbandoned(finished(job), T0 + 2 * ABANDONED_MS)).toBe(false);
  });
});

describe('statusOf', () => {
  it('shows what the contract names and nothing of the file, hash, lease or creator', () => {
    const job = finished(
      withSheet(afterBatch(start(), batch({ errors: [rowError(3)], lastRow: 3, dataRows: 2 })), '名单'),
      'r',
    );
    expect(statusOf(job)).toEqual({
      jobId: 'a'.repeat(24),
      state: 'done',
      dryRun: false,
      mode: 'merge',
      acceptConflicts: false,
      sheet: '名单',
      total: 2,
      processed: 2,
      inserted: 0,
      updated: 0,
      unchanged: 0,
      conflicts: 0,
      failed: 1,
      errors: [rowError(3)],
      reportFileID: 'r',
    });
    expect(statusOf(start())).toMatchObject({ sheet: '' });
    expect(statusOf(failed(start(), 'ROSTER_FILE_UNREADABLE', 'x'))).toMatchObject({
      failure: { code: 'ROSTER_FILE_UNREADABLE', message: 'x' },
    });
  });
});
