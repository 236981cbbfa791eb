/**
 * A prepare that pauses reads on in a later invocation from the stored upload: that upload must still
 * be the file the job started on. The service runs through the real SDK against the sandbox, with its
 * prepare made to pause after its first batch.
 */
import crypto from 'crypto';
import type { Sandbox } from '../../sandbox';
import { callFunction, freshSandbox, uploadFile } from '../helpers/sandbox';
import { deploySandbox } from '../../scripts/lib/sandbox-deploy';
import { serviceThroughSdk } from '../helpers/roster-suite';
import type { RosterService } from '../../server/functions/roster/service';
import { csv, csvRows, person } from '../fixtures/roster/generate';

jest.setTimeout(180_000);

const ADMIN = 'o_roster_resume_admin';
let sandbox: Sandbox;
const logLines: string[] = [];

beforeAll(async () => {
  sandbox = await freshSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN } });
});

afterAll(async () => {
  await sandbox.stop();
});

/** The service as the function builds it; `prepareDeadline` 0 pauses the prepare after its first batch. */
function service(prepareDeadline = Number.MAX_SAFE_INTEGER): RosterService {
  return serviceThroughSdk(
    sandbox,
    ADMIN,
    { sliceDeadline: Number.MAX_SAFE_INTEGER, prepareDeadline, abortAt: undefined },
    (message, fields) => void logLines.push(JSON.stringify({ message, fields })),
  );
}

/** The key settings once new ones are deployed for a rotation: the sandbox's own become the old ones. */
function rotatedEnv() {
  return {
    PII_ENC_KEY: crypto.randomBytes(32).toString('base64'),
    PII_ENC_KEY_ID: 'k2',
    PII_INDEX_KEY: crypto.randomBytes(32).toString('base64'),
    PII_INDEX_KEY_ID: 'i2',
    PII_ENC_KEYS_OLD: `k1:${sandbox.secrets.piiEncKey}`,
    PII_INDEX_KEYS_OLD: `i1:${sandbox.secrets.piiIndexKey}`,
  };
}

/** A reserved upload path with `content` stored at it, as the page does. */
async function reservedUpload(content: Buffer, fileName: string): Promise<{ cloudPath: string; fileID: string }> {
  const { cloudPath } = await service().reserveUpload({ fileName });
  return { cloudPath, fileID: await uploadFile(sandbox, ADMIN, cloudPath, content) };
}

describe('a paused prepare resumed on the stored upload', () => {
  it('reads on when the upload is the same file', async () => {
    const { fileID } = await reservedUpload(csv(csvRows(2500)), 'same.csv');
    const { jobId } = await service(0).import(ADMIN, { fileID });
    const paused = sandbox.db.dump('roster_jobs').find((d) => d._id === jobId)!;
    expect(paused).toMatchObject({ state: 'running', preparedRow: expect.any(Number) });
    let status = await service().run({ jobId });
    for (let i = 0; i < 20 && status.state === 'running'; i += 1) status = await service().run({ jobId });
    expect(status).toMatchObject({ state: 'done', total: 2500, failed: 0 });
  });

  it('fails the job (ROSTER_FILE_CHANGED) when the upload was replaced between two slices: nothing of either file written, both gone', async () => {
    const rows = csvRows(2500);
    const { cloudPath, fileID } = await reservedUpload(csv(rows), 'replaced.csv');
    const before = sandbox.db.dump('roster').length;
    const { jobId } = await service(0).import(ADMIN, { fileID });
    expect(sandbox.db.dump('roster_jobs').find((d) => d._id === jobId)).toMatchObject({
      state: 'running',
      preparedRow: expect.any(Number),
    });
    // Someone uploads another roster to the same path (same size: one digit of its last row differs).
    const swapped = Buffer.from(csv(rows));
    const at = swapped.lastIndexOf(0x31) >= 0 ? swapped.lastIndexOf(0x31) : swapped.lastIndexOf(0x32);
    swapped[at] = swapped[at] === 0x31 ? 0x32 : 0x31;
    await uploadFile(sandbox, ADMIN, cloudPath, swapped);

    const status = await service().run({ jobId });
    expect(status).toMatchObject({ state: 'failed', failure: { code: 'ROSTER_FILE_CHANGED' } });
    expect(sandbox.storage.exists(cloudPath)).toBe(false);
    expect(sandbox.storage.list().filter((f) => f.includes(jobId))).toEqual([]);
    expect(sandbox.db.dump('roster')).toHaveLength(before);
    expect(logLines.join('\n')).not.toContain(person(0).idCard);
  });
  it('jobs still running when new keys are deployed are stopped (ROTATION_BUSY): written rows stay, uploads, chunks and lock go', async () => {
    // A sandbox of its own (its data ends under new keys).
    const suite = sandbox;
    sandbox = await freshSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN } });
    try {
      await stoppedByRotation();
    } finally {
      await sandbox.stop();
      sandbox = suite;
    }
  });

  async function stoppedByRotation(): Promise<void> {
    // A job part-way through writing (its slice out of time after one batch: rows written, upload
    // gone, chunks stored) and a dry run paused in its prepare (its upload still stored).
    const content = csv(csvRows(1500));
    const writing = await reservedUpload(content, 'rotated.csv');
    const writer = serviceThroughSdk(
      sandbox,
      ADMIN,
      { sliceDeadline: 0, prepareDeadline: Number.MAX_SAFE_INTEGER, abortAt: undefined },
      () => undefined,
    );
    const { jobId } = await writer.import(ADMIN, { fileID: writing.fileID });
    const jobDoc = (id = jobId) => sandbox.db.dump('roster_jobs').find((d) => d._id === id)!;
    const written = sandbox.db.dump('roster').length;
    expect(jobDoc()).toMatchObject({ state: 'running', inserted: written });
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(1500);
    expect(sandbox.storage.list().filter((f) => f.includes(jobId)).length).toBeGreaterThan(0);
    const dry = await reservedUpload(csv(csvRows(1200)), 'dry.csv');
    const { jobId: dryJobId } = await service(0).import(ADMIN, { fileID: dry.fileID, dryRun: true });
    expect(jobDoc(dryJobId)).toMatchObject({ state: 'running', dryRun: true, preparedRow: expect.any(Number) });
    expect(sandbox.storage.exists(dry.cloudPath)).toBe(true);
    expect(sandbox.db.dump('roster_jobs').filter((d) => d.kind === 'lock')).toHaveLength(1);

    // New keys deployed for a rotation (the sandbox's own listed as old): each job's next run ends it.
    const functionEnv = { ROSTER_ADMIN_OPENIDS: ADMIN, ...rotatedEnv() };
    await deploySandbox(sandbox, { only: ['admin', 'roster'], env: functionEnv });
    // While another invocation holds the job (a slice still running, or one that died), it is
    // answered as it stands, as run does: the client calls again and ends it then.
    const held = { ...jobDoc(), leaseUntil: Date.now() + 600_000 };
    sandbox.db.remove('roster_jobs', { _id: jobId }, false);
    sandbox.db.insert('roster_jobs', [held]);
    expect(await callFunction(sandbox, 'roster', ADMIN, { action: 'run', jobId })).toMatchObject({
      ok: true,
      state: 'running',
      inserted: written,
    });
    expect(sandbox.storage.list().filter((f) => f.includes(jobId)).length).toBeGreaterThan(0);
    sandbox.db.remove('roster_jobs', { _id: jobId }, false);
    sandbox.db.insert('roster_jobs', [{ ...held, leaseUntil: 0 }]);
    const stopped = await callFunction(sandbox, 'roster', ADMIN, { action: 'run', jobId });
    expect(stopped).toMatchObject({
      ok: true,
      state: 'failed',
      inserted: written,
      failure: { code: 'ROTATION_BUSY', message: expect.stringContaining('已写入的行保留') },
    });
    const dryStopped = await callFunction(sandbox, 'roster', ADMIN, { action: 'run', jobId: dryJobId });
    expect(dryStopped).toMatchObject({
      ok: true,
      state: 'failed',
      failure: { code: 'ROTATION_BUSY', message: expect.stringContaining('未写入任何数据') },
    });
    // Ended: a later run answers its status; nothing of either is left (uploads, chunks, lock); the
    // rows written before stay, nothing more.
    expect(await callFunction(sandbox, 'roster', ADMIN, { action: 'run', jobId })).toMatchObject({
      ok: true,
      state: 'failed',
    });
    for (const { cloudPath } of [writing, dry]) expect(sandbox.storage.exists(cloudPath)).toBe(false);
    for (const id of [jobId, dryJobId]) expect(sandbox.storage.list().filter((f) => f.includes(id))).toEqual([]);
    expect(sandbox.db.dump('roster_jobs').filter((d) => d.kind === 'lock')).toEqual([]);
    expect(sandbox.db.dump('roster')).toHaveLength(written);

    // What follows is the rotation's, tested with it (key-rotation.test.ts): it re-keys the rows
    // written here, and once the old keys are removed the same file imports again (no lock is left).
  }
});
