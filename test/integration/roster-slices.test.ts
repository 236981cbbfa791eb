/**
 * Roster imports across slices: resumed where a slice stopped, after a crash, under deployed
 * timeouts too short for the file or a batch, and two imports of the same people at once (the rest
 * of the roster suites: roster.test.ts, roster-faults.test.ts; helpers: test/helpers/roster-suite.ts).
 */
import { post, until } from '../helpers/sandbox';
import {
  ADMIN,
  gateway,
  importFile,
  ownSandbox,
  putUpload,
  roster,
  rosterIds,
  sandbox,
  serviceThroughSdk,
  upload,
  useSuiteSandbox,
} from '../helpers/roster-suite';
import { ERRORS } from '../../miniprogram/shared/errors';
import { cleanRoster, csv, csvRows, HEADER, junk, person, personRow } from '../fixtures/roster/generate';

jest.setTimeout(180_000);

useSuiteSandbox();

describe('resumable, sliced and concurrent imports', () => {
  it('continues where a slice stopped, without duplicates or gaps', async () => {
    const small = await ownSandbox({ functionEnv: { ROSTER_SLICE_SECONDS: '0' } });
    try {
      const fileID = await putUpload(small, 'roster-uploads/sliced.xlsx', cleanRoster(3500));
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, small);
      const started = await call({ action: 'import', fileID });
      let status = await call({ action: 'status', jobId: started.jobId });
      // A zero budget: every invocation does one batch of 1000 and returns.
      expect(status).toMatchObject({ state: 'running', processed: 1000 });
      const seen: number[] = [status.processed as number];
      while (status.state === 'running') {
        status = await call({ action: 'run', jobId: started.jobId });
        seen.push(status.processed as number);
      }
      expect(seen).toEqual([1000, 2000, 3000, 3500]);
      expect(status).toMatchObject({ state: 'done', inserted: 3500, unchanged: 0 });
      expect(small.db.dump('roster')).toHaveLength(3500);

      // The first slice cut the file into encrypted chunks and deleted the upload; nothing is left now.
      expect(
        small.storage.list().filter((f) => f.startsWith('roster-chunks/') || f.startsWith('roster-uploads/')),
      ).toEqual([]);

      // A job whose chunk is damaged (or gone) between two slices fails cleanly instead of hanging.
      const second = await putUpload(small, 'roster-uploads/damaged.xlsx', cleanRoster(12500));
      const job2 = await call({ action: 'import', fileID: second });
      expect(await call({ action: 'status', jobId: job2.jobId })).toMatchObject({ state: 'running', processed: 1000 });
      expect(small.storage.exists('roster-uploads/damaged.xlsx')).toBe(false);
      const chunks = small.storage.list().filter((f) => f.startsWith('roster-chunks/'));
      expect(chunks.map((f) => f.replace(/^roster-chunks\/[0-9a-f]{24}-[0-9a-f]{24}\//, ''))).toEqual([
        '0.bin',
        '1.bin',
      ]);
      for (const chunk of chunks) expect(small.storage.read(chunk)?.toString('utf8')).not.toContain(person(0).idCard);
      small.storage.write(chunks[0] as string, junk().truncatedZip);
      expect(await call({ action: 'run', jobId: job2.jobId })).toMatchObject({
        state: 'failed',
        failure: { code: 'ROSTER_CHUNK_LOST' },
      });
      // The job's end deleted every chunk; the lock is released.
      expect(small.storage.list().filter((f) => f.startsWith('roster-chunks/'))).toEqual([]);
      expect(small.db.dump('roster_jobs').filter((d) => d.kind === 'lock')).toEqual([]);
    } finally {
      await small.stop();
    }
  });

  it('a job whose instance dies mid-way resumes after its lease, without duplicates or gaps', async () => {
    // Slow database (150 ms a request): the import's one slice needs several seconds for 12 batches.
    // Its instance is killed once the job has saved progress (after its first chunk of 10 batches),
    // as a crash or host failure would: the test sees the checkpoint within 20 ms, long before the
    // function's next database request (150 ms) is answered. Two chunks are all it needs (12,000
    // rows; it was 25,000).
    const crashy = await ownSandbox({ quota: { latencyMs: 150 } });
    try {
      const fileID = await putUpload(crashy, 'roster-uploads/crash.xlsx', cleanRoster(12000));
      const call = (event: Record<string, unknown>) => gateway(event, ADMIN, crashy);
      const jobDoc = () => crashy.db.dump('roster_jobs').find((d) => d.kind === 'job');
      const pending = call({ action: 'import', fileID });
      await until(() => (jobDoc()?.cursor as number) > 0);
      expect(crashy.functions.crash('roster')).toBe(1);
      const first = await pending;
      expect(first.status).toBe(502);
      expect(String(first.body.error)).toMatch(/function exited/);
      const job = jobDoc()!;
      expect(job.cursor as number).toBeGreaterThan(0);
      expect(job.cursor as number).toBeLessThan(12001);
      expect(crashy.db.dump('roster').length).toBeLessThan(12000);

      // Its lease still holds: a run now answers the status and leaves the job alone.
      crashy.tcb.quota = {};
      const early = await call({ action: 'run', jobId: job._id });
      expect(early.body).toMatchObject({ ok: true, state: 'running', processed: job.processed });
      // After the lease (75 s) the next run continues from the saved cursor.
      await post(crashy, '/sandbox/clock', { offsetSeconds: 80 });
      let status = (await call({ action: 'run', jobId: job._id })).body;
      while (status.state === 'running') status = (await call({ action: 'run', jobId: job._id })).body;
      expect(status).toMatchObject({ state: 'done', total: 12000, failed: 0 });
      const ids = crashy.db.dump('roster').map((d) => d._id);
      expect(ids).toHaveLength(12000);
    } finally {
      await crashy.stop();
    }
  });

  it('under a deployed timeout too short to read the file (3 s), the import is refused at once, naming the setting', async () => {
    const tiny = await ownSandbox({ functionTimeouts: { roster: 3 } });
    try {
      // ~2.8 MB: more than a 1 s prepare budget can read at the conservative 2 MB/s.
      const fileID = await putUpload(tiny, 'roster-uploads/tiny.xlsx', cleanRoster(30000));
      const res = await gateway({ action: 'import', fileID }, ADMIN, tiny);
      expect(res.status).toBe(200); // answered, not killed by the limit
      expect(res.body).toMatchObject({ ok: false, code: 'ROSTER_TIMEOUT_TOO_SHORT' });
      expect(String(res.body.message)).toMatch(/3 秒.*npm run deploy/);
      expect(tiny.storage.list().filter((f) => f.startsWith('roster-uploads/'))).toEqual([]);
      expect(tiny.db.hasCollection('roster') ? tiny.db.dump('roster') : []).toEqual([]);
    } finally {
      await tiny.stop();
    }
  });

  describe('a deployed timeout too short to read a batch (the service through the real SDK)', () => {
    const logLines: { message: string; fields?: Record<string, unknown> }[] = [];
    const service = (abortAt: number | undefined, sliceDeadline = Number.MAX_SAFE_INTEGER) =>
      // The prepare pauses with the slice (0: after its first batch).
      serviceThroughSdk(
        sandbox,
        ADMIN,
        { sliceDeadline, prepareDeadline: sliceDeadline, abortAt },
        (message, fields) => void logLines.push({ message, fields }),
      );
    const codeOf = async (work: () => Promise<unknown>) => {
      try {
        await work();
        return 'no error';
      } catch (err) {
        return (err as { code?: string }).code ?? String(err);
      }
    };
    const people = [50220, 50221, 50222].map(person);
    const file = () => csv([HEADER, ...people.map((p) => personRow(p) as string[])]);

    it('past the time before the file is open: refused with the code naming the setting, upload deleted', async () => {
      // An .xlsx is checked before each 64 KB it inflates: the first check is past the time.
      const fileID = await upload(cleanRoster(5), 'too-short.xlsx');
      const before = sandbox.db.dump('roster').length;
      expect(await codeOf(() => service(Date.now() - 1).import(ADMIN, { fileID }))).toBe('ROSTER_TIMEOUT_TOO_SHORT');
      expect(sandbox.storage.list().filter((f) => f.startsWith('roster-uploads/'))).toEqual([]);
      expect(ERRORS.ROSTER_TIMEOUT_TOO_SHORT).toMatch(/超时时间/);
      expect(sandbox.db.dump('roster')).toHaveLength(before);
    });

    it('past the time while a resumed prepare reads the file: the job fails cleanly and the upload goes', async () => {
      const fileID = await upload(file(), 'too-short-run.csv');
      // The first slice works (no limit) but its prepare pauses after the first batch; the next one is out of time at once.
      const big = csv(csvRows(2500));
      const bigID = await upload(big, 'too-short-big.csv');
      const { jobId } = await service(undefined, 0).import(ADMIN, { fileID: bigID });
      expect((await service(undefined).status({ jobId })).state).toBe('running');
      const status = await service(Date.now() - 1).run({ jobId });
      expect(status).toMatchObject({ state: 'failed', failure: { code: 'ROSTER_TIMEOUT_TOO_SHORT' } });
      expect(sandbox.storage.list().filter((f) => f.includes('too-short-big'))).toEqual([]);
      // With time to spare the same service reads it all: the guard only fires past its time.
      const { jobId: ok } = await service(Date.now() + 3_600_000).import(ADMIN, { fileID });
      expect(await service(undefined).status({ jobId: ok })).toMatchObject({ state: 'done', inserted: 3 });
      expect(JSON.stringify(logLines)).not.toContain(people[0]!.idCard);
    });
  });

  it('a slice killed after writing is redone without duplicates', async () => {
    // Simulate a crash: the roster holds the first 1000 people already, the job was never saved.
    const file = cleanRoster(1500);
    const first = await importFile(cleanRoster(1000), 'partial.xlsx');
    expect(first.status).toMatchObject({ inserted: expect.any(Number) });
    const { status } = await importFile(file, 'full.xlsx');
    expect(status).toMatchObject({ state: 'done', total: 1500, failed: 0 });
    expect((status!.inserted as number) + (status!.unchanged as number) + (status!.updated as number)).toBe(1500);
  });

  it('two different files with the same people imported at once write each person once', async () => {
    const a = csvRows(3000);
    const b = csvRows(3000).map((row) => [...row]);
    b.push(['新来的', person(5000).idCard, person(5000).phone, '外科', 'E999999', '']);
    const [fa, fb] = await Promise.all([upload(csv(a), 'team-a.csv'), upload(csv(b), 'team-b.csv')]);
    const before = rosterIds();
    const started = await Promise.all([
      roster({ action: 'import', fileID: fa }),
      roster({ action: 'import', fileID: fb }),
    ]);
    expect(started.every((r) => r.ok)).toBe(true);
    const finals = await Promise.all(
      started.map(async (r) => {
        let status = await roster({ action: 'status', jobId: r.jobId });
        while (status.state === 'running') status = await roster({ action: 'run', jobId: r.jobId });
        return status;
      }),
    );
    // _id is the person's blind index, so "once" is the sum of inserts matching what was added.
    const ids = sandbox.db.dump('roster').map((d) => d._id);
    const added = ids.filter((id) => !before.has(id)).length;
    // Each new person was inserted by exactly one of the two jobs.
    expect(finals.reduce((sum, f) => sum + Number(f.inserted), 0)).toBe(added);
  });
});
