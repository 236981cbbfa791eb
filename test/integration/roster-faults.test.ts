/**
 * Roster imports that meet faults (a database failure mid-import, a failed save, a partial insert,
 * a deployed timeout below the manifest) and the cleanup around them (a second import of the same
 * file, the sweep of abandoned jobs, reports and uploads, a malformed setting). Every test has a
 * sandbox of its own (the rest of the roster suites: roster.test.ts, roster-slices.test.ts).
 */
import fs from 'fs';
import { piiKeysOf, post } from '../helpers/sandbox';
import { ADMIN, gateway, ownSandbox, putUpload, roster } from '../helpers/roster-suite';
import { decryptField } from '../../server/core/pii';
import { cleanRoster, person, rowErrors } from '../fixtures/roster/generate';

jest.setTimeout(180_000);

describe('resumable, sliced and concurrent imports: faults and cleanup', () => {
  it('under a deployed timeout below the manifest (10 s), slices shrink to fit and the log names the setting', async () => {
    // The function sees the platform's limit as context.time_limit_in_ms: slices of 5 s, not 40.
    const short = await ownSandbox({ functionTimeouts: { roster: 10 } });
    try {
      const fileID = await putUpload(short, 'roster-uploads/short.xlsx', cleanRoster(10000));
      // Each of the 10 batch inserts (a fresh roster: one insert per batch) takes 1.2 s: 12 s of
      // writing, more than one 5 s slice on any machine, however fast, and more than the 10 s
      // timeout, so an invocation that kept the configured 40 s slice would be killed.
      await post(short, '/sandbox/db/faults', {
        action: 'database.insertDocument',
        collection: 'roster',
        latencyMs: 1200,
        times: 10,
      });
      const call = (event: Record<string, unknown>) => gateway(event, ADMIN, short);
      const started = await call({ action: 'import', fileID });
      expect(started.status).toBe(200);
      let status = (await call({ action: 'status', jobId: started.body.jobId })).body;
      let runs = 0;
      while (status.state === 'running') {
        const res = await call({ action: 'run', jobId: started.body.jobId });
        expect(res.status).toBe(200); // never killed by the 10 s limit
        status = res.body;
        runs += 1;
      }
      expect(status).toMatchObject({ state: 'done', total: 10000, failed: 0 });
      expect(runs).toBeGreaterThan(0);
      expect(short.db.dump('roster')).toHaveLength(10000);
      expect(fs.readFileSync(short.logFile, 'utf8')).toMatch(
        /function timeout is 10 s, below the 60 s roster is built for/,
      );
    } finally {
      await short.stop();
    }
  });

  it('a database failure mid-import keeps the job: the next run redoes the batch, each person once', async () => {
    const faulty = await ownSandbox();
    try {
      const fileID = await putUpload(faulty, 'roster-uploads/fault.xlsx', cleanRoster(2500));
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, faulty);
      // The first batch's insert fails (and is not a duplicate _id: nothing of it is stored).
      await post(faulty, '/sandbox/db/faults', { action: 'database.insertDocument', collection: 'roster' });
      const started = await call({ action: 'import', fileID });
      expect(started).toMatchObject({ ok: true, jobId: expect.any(String) });
      // Nothing was written, and the lease is free: the next run goes on at once.
      expect(faulty.db.dump('roster')).toHaveLength(0);
      let status = await call({ action: 'status', jobId: started.jobId });
      expect(status).toMatchObject({ state: 'running', processed: 0, inserted: 0 });
      const lease = () => faulty.db.dump('roster_jobs').find((d) => d._id === started.jobId)!.leaseUntil;
      expect(lease()).toBe(0);
      // The same in a run: it answers INTERNAL (the driver retries), the job keeps its place, lease free.
      await post(faulty, '/sandbox/db/faults', { action: 'database.insertDocument', collection: 'roster' });
      expect(await call({ action: 'run', jobId: started.jobId })).toMatchObject({ ok: false, code: 'INTERNAL' });
      expect(lease()).toBe(0);
      expect(await call({ action: 'status', jobId: started.jobId })).toMatchObject({ state: 'running', processed: 0 });
      while (status.state === 'running') status = await call({ action: 'run', jobId: started.jobId });
      expect(status).toMatchObject({ state: 'done', total: 2500, inserted: 2500, failed: 0 });
      const ids = faulty.db.dump('roster').map((d) => d._id);
      expect(ids).toHaveLength(2500);
      const log = fs.readFileSync(faulty.logFile, 'utf8');
      expect(log).toContain('roster slice failed; the next run retries it');
      expect(log).not.toContain(person(0).idCard);
    } finally {
      await faulty.stop();
    }
  });

  it('a failed save while finishing leaves the job running; the next run finishes and cleans up', async () => {
    const finishing = await ownSandbox();
    try {
      const fileID = await putUpload(finishing, 'roster-uploads/finish.xlsx', cleanRoster(500));
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, finishing);
      // One batch, so the first job save is the one that marks it done.
      await post(finishing, '/sandbox/db/faults', { action: 'database.modifyDocument', collection: 'roster_jobs' });
      const started = await call({ action: 'import', fileID });
      expect(started).toMatchObject({ ok: true });
      expect(await call({ action: 'status', jobId: started.jobId })).toMatchObject({ state: 'running' });
      const uploads = () => finishing.storage.list().filter((f) => f.startsWith('roster-uploads/'));
      expect(uploads()).toHaveLength(1); // not cleaned up yet, and not forgotten either
      const done = await call({ action: 'run', jobId: started.jobId });
      expect(done).toMatchObject({ state: 'done', total: 500, failed: 0 });
      expect((done.inserted as number) + (done.unchanged as number)).toBe(500);
      expect(finishing.db.dump('roster')).toHaveLength(500);
      expect(uploads()).toEqual([]);
      expect(finishing.db.dump('roster_jobs').filter((d) => d.kind === 'lock')).toEqual([]);
    } finally {
      await finishing.stop();
    }
  });

  it('an array insert the database stored only in part is completed, each person once', async () => {
    const partial = await ownSandbox();
    try {
      const fileID = await putUpload(partial, 'roster-uploads/partial.xlsx', cleanRoster(1000));
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, partial);
      // The batch's insert stores 400 of 1000 documents and then fails (a duplicate _id would look
      // the same to the function): it writes the 600 still missing.
      await post(partial, '/sandbox/db/faults', {
        action: 'database.insertDocument',
        collection: 'roster',
        code: 'DATABASE_REQUEST_FAILED',
        partial: 400,
      });
      const started = await call({ action: 'import', fileID });
      let status = await call({ action: 'status', jobId: started.jobId });
      while (status.state === 'running') status = await call({ action: 'run', jobId: started.jobId });
      expect(status).toMatchObject({ state: 'done', total: 1000, failed: 0 });
      // Known limit: the 400 it stored itself are counted as unchanged (indistinguishable from a
      // concurrent import's), so only the sum is exact.
      expect(status).toMatchObject({ inserted: 600, unchanged: 400 });
      expect(partial.db.dump('roster')).toHaveLength(1000);
      expect(fs.readFileSync(partial.logFile, 'utf8')).toContain(
        'roster batch partly stored already; writing the rest',
      );
    } finally {
      await partial.stop();
    }
  });

  it('a second import of a file that is still importing is refused, and its upload deleted', async () => {
    const paused = await ownSandbox({ functionEnv: { ROSTER_SLICE_SECONDS: '0' } });
    try {
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, paused);
      const file = cleanRoster(2500);
      const put = (name: string) => putUpload(paused, `roster-uploads/${name}`, file);
      const first = await call({ action: 'import', fileID: await put('same-1.xlsx') });
      expect(await call({ action: 'status', jobId: first.jobId })).toMatchObject({ state: 'running' });
      const second = await call({ action: 'import', fileID: await put('same-2.xlsx') });
      expect(second).toMatchObject({ ok: false, code: 'ROSTER_ALREADY_IMPORTING' });
      expect(paused.storage.exists('roster-uploads/same-2.xlsx')).toBe(false);

      // Abandoned: nobody continues it. The hourly timer fails it after 30 minutes, deleting its
      // upload and releasing the lock; a timer event sent by a client (with an OPENID) does nothing.
      expect(await call({ Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' })).toMatchObject({ ok: false });
      await post(paused, '/sandbox/clock', { offsetSeconds: 31 * 60 });
      const swept = await paused.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      expect(swept).toMatchObject({ ok: true, result: { abandoned: 1 } });
      expect(await call({ action: 'status', jobId: first.jobId })).toMatchObject({
        state: 'failed',
        failure: { code: 'ROSTER_JOB_ABANDONED' },
      });
      expect(paused.storage.exists('roster-uploads/same-1.xlsx')).toBe(false);
      expect(paused.db.dump('roster_jobs').filter((d) => d.kind === 'lock')).toEqual([]);
      // The same file can be imported again now.
      expect(await call({ action: 'import', fileID: await put('same-3.xlsx') })).toMatchObject({ ok: true });
    } finally {
      await paused.stop();
    }
  });

  it('the sweep deletes error reports past their retention (7 days), and the job says so', async () => {
    const aging = await ownSandbox();
    try {
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, aging);
      const started = await call({
        action: 'import',
        fileID: await putUpload(aging, 'roster-uploads/old.xlsx', rowErrors(5)),
      });
      const status = await call({ action: 'status', jobId: started.jobId });
      expect(status).toMatchObject({ state: 'done', reportFileID: expect.stringContaining('roster-reports/') });
      const reportPath = aging.storage.pathOf(String(status.reportFileID))!;
      const sweep = () => aging.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      // Within the retention the report stays.
      await post(aging, '/sandbox/clock', { offsetSeconds: 6 * 86_400 });
      expect(await sweep()).toMatchObject({ ok: true, result: { reports: 0 } });
      expect(aging.storage.exists(reportPath)).toBe(true);
      await post(aging, '/sandbox/clock', { offsetSeconds: 8 * 86_400 });
      expect(await sweep()).toMatchObject({ ok: true, result: { reports: 1 } });
      expect(aging.storage.exists(reportPath)).toBe(false);
      expect(await call({ action: 'report', jobId: started.jobId })).toMatchObject({
        ok: false,
        code: 'ROSTER_JOB_NOT_FOUND',
        message: expect.stringContaining('保留期限'),
      });
      expect(await call({ action: 'status', jobId: started.jobId })).not.toHaveProperty('reportFileID');
      expect(await sweep()).toMatchObject({ ok: true, result: { reports: 0 } });
    } finally {
      await aging.stop();
    }
  });

  it('an upload that cannot be deleted is logged and recorded, and the sweep deletes it later', async () => {
    const stuck = await ownSandbox();
    try {
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, stuck);
      const fileID = await putUpload(stuck, 'roster-uploads/stuck.xlsx', cleanRoster(20));
      // Storage answers the deletion per file with a failure, as the SDK reports it (no rejection).
      expect((await post(stuck, '/sandbox/storage/faults', { times: 1 })).status).toBe(200);
      const started = await call({ action: 'import', fileID });
      // The import itself is done: a failed cleanup never fails what the admin asked for.
      expect(await call({ action: 'status', jobId: started.jobId })).toMatchObject({ state: 'done', inserted: 20 });
      expect(stuck.storage.exists('roster-uploads/stuck.xlsx')).toBe(true);
      const pending = stuck.db.dump('pending_cleanup');
      expect(pending).toEqual([expect.objectContaining({ reason: 'import finished', attempts: 1 })]);
      // The record names the file only encrypted (bound to the record): a client reading it learns nothing.
      expect(JSON.stringify(pending)).not.toContain('stuck.xlsx');
      const _id = String(pending[0]!._id);
      expect(decryptField(piiKeysOf(stuck), String(pending[0]!.fileIDEnc), `pending_cleanup:${_id}:fileID`)).toBe(
        fileID,
      );
      const log = fs.readFileSync(stuck.logFile, 'utf8');
      expect(log).toMatch(/"message":"file deletion failed".*1 of 1 file\(s\) not deleted \(status -503001\)/);

      // The next sweep fails once more (recorded again), the one after that deletes it and forgets it.
      await post(stuck, '/sandbox/storage/faults', { times: 1 });
      const sweep = () => stuck.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      expect(await sweep()).toMatchObject({ ok: true, result: { cleanup: { deleted: 0, pending: 1 } } });
      expect(stuck.db.dump('pending_cleanup')).toEqual([expect.objectContaining({ attempts: 2 })]);
      expect(await sweep()).toMatchObject({ ok: true, result: { cleanup: { deleted: 1, pending: 0 } } });
      expect(stuck.storage.exists('roster-uploads/stuck.xlsx')).toBe(false);
      expect(stuck.db.dump('pending_cleanup')).toEqual([]);
      expect((await post(stuck, '/sandbox/storage/faults', { code: 'oops' })).status).toBe(400);
    } finally {
      await stuck.stop();
    }
  });

  it('an upload no import took (or took before it landed) is deleted by the sweep after its reserved window; an imported one is gone at once', async () => {
    const orphans = await ownSandbox();
    try {
      const call = (event: Record<string, unknown>, openid = ADMIN) => roster(event, openid, orphans);
      const sweep = () => orphans.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      // Only an admin reserves; the path is the server's, with a random part, keeping a safe name.
      expect(await call({ action: 'reserveUpload', fileName: 'a.xlsx' }, 'o_not_admin')).toMatchObject({
        ok: false,
        code: 'FORBIDDEN',
      });
      const first = await call({ action: 'reserveUpload', fileName: '名单 2026.xlsx' });
      const second = await call({ action: 'reserveUpload', fileName: '名单 2026.xlsx' });
      expect(first).toMatchObject({
        ok: true,
        cloudPath: expect.stringMatching(/^roster-uploads\/\d+-[0-9a-f]{16}-2026\.xlsx$/),
      });
      expect(second.cloudPath).not.toBe(first.cloudPath);
      expect(Number(first.deleteBy) - Date.now()).toBeGreaterThan(3600_000);
      // The page uploads the first and closes before importing; the second is imported.
      const orphan = await putUpload(orphans, String(first.cloudPath), cleanRoster(3));
      const imported = await putUpload(orphans, String(second.cloudPath), cleanRoster(3));
      const started = await call({ action: 'import', fileID: imported });
      expect(await call({ action: 'status', jobId: started.jobId })).toMatchObject({ state: 'done', inserted: 3 });
      expect(orphans.storage.exists(String(second.cloudPath))).toBe(false);
      // An import sent before its upload landed (a client that did not wait) finds nothing, and the
      // reservation stays: the upload that lands afterwards is still swept.
      const early = await call({ action: 'reserveUpload', fileName: 'early.csv' });
      const earlyID = imported.replace(String(second.cloudPath), String(early.cloudPath));
      expect(await call({ action: 'import', fileID: earlyID })).toMatchObject({
        ok: false,
        code: 'ROSTER_FILE_NOT_FOUND',
      });
      expect(await putUpload(orphans, String(early.cloudPath), cleanRoster(3))).toBe(earlyID);
      // The imported upload's reservation went with its file; the others stay, naming theirs only encrypted.
      const pending = orphans.db.dump('pending_cleanup');
      expect(pending).toHaveLength(2);
      expect(JSON.stringify(pending)).not.toContain('roster-uploads/');
      // Within the window nothing is touched.
      await post(orphans, '/sandbox/clock', { offsetSeconds: 3600 });
      expect(await sweep()).toMatchObject({ ok: true, result: { cleanup: { deleted: 0, pending: 0 } } });
      expect(orphans.storage.exists(String(first.cloudPath))).toBe(true);
      // After it the orphan goes.
      await post(orphans, '/sandbox/clock', { offsetSeconds: 2 * 3600 + 60 });
      expect(await sweep()).toMatchObject({ ok: true, result: { cleanup: { deleted: 2, pending: 0 } } });
      expect(orphans.storage.exists(String(first.cloudPath))).toBe(false);
      expect(orphans.storage.exists(String(early.cloudPath))).toBe(false);
      expect(orphans.storage.pathOf(orphan)).toBe(first.cloudPath);
      expect(orphans.db.dump('pending_cleanup')).toEqual([]);
      // When the deletion cannot be scheduled nothing is reserved: the admin uploads nothing.
      await post(orphans, '/sandbox/db/faults', { action: 'database.insertDocument', collection: 'pending_cleanup' });
      expect(await call({ action: 'reserveUpload', fileName: 'b.csv' })).toMatchObject({ ok: false, code: 'INTERNAL' });
      expect(orphans.db.dump('pending_cleanup')).toEqual([]);
    } finally {
      await orphans.stop();
    }
  });

  it('refuses a malformed setting by name instead of falling back to a default', async () => {
    const misconfigured = await ownSandbox({ functionEnv: { ROSTER_DB_QPS: 'x', ROSTER_SLICE_SECONDS: '4O' } });
    try {
      expect(await roster({ action: 'template' }, ADMIN, misconfigured)).toEqual({
        ok: false,
        code: 'NOT_CONFIGURED',
        message: '服务尚未完成配置（ROSTER_SLICE_SECONDS、ROSTER_DB_QPS），请联系管理员',
      });
      const log = fs.readFileSync(misconfigured.logFile, 'utf8');
      expect(log).toContain('ROSTER_DB_QPS must be a whole number from 1 to 500');
      expect(log).toContain('ROSTER_SLICE_SECONDS must be a whole number from 0 to 60');
      // The sweep needs none of it: abandoned uploads still go.
      const swept = await misconfigured.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      expect(swept).toMatchObject({ ok: true, result: { abandoned: 0, cleanup: { deleted: 0, pending: 0 } } });
    } finally {
      await misconfigured.stop();
    }
  });
});
