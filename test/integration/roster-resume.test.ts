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
import type { PiiKeys } from '../../server/core/pii';
import { loadPiiKeys } from '../../server/lib/settings';
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
function service(prepareDeadline = Number.MAX_SAFE_INTEGER, keys?: PiiKeys): RosterService {
  return serviceThroughSdk(
    sandbox,
    ADMIN,
    { sliceDeadline: Number.MAX_SAFE_INTEGER, prepareDeadline, abortAt: undefined },
    (message, fields) => void logLines.push(JSON.stringify({ message, fields })),
    keys,
  );
}

/** The keys (and settings) once new ones are deployed for a rotation: the sandbox's own become the old ones. */
function rotatedKeys(): { keys: PiiKeys; env: Record<string, string> } {
  const env = {
    PII_ENC_KEY: crypto.randomBytes(32).toString('base64'),
    PII_ENC_KEY_ID: 'k2',
    PII_INDEX_KEY: crypto.randomBytes(32).toString('base64'),
    PII_INDEX_KEY_ID: 'i2',
    PII_ENC_KEYS_OLD: `k1:${sandbox.secrets.piiEncKey}`,
    PII_INDEX_KEYS_OLD: `i1:${sandbox.secrets.piiIndexKey}`,
  };
  return { keys: loadPiiKeys(env), env };
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
  it('reads on when new keys were deployed and rotate-keys re-keyed the paused job meanwhile', async () => {
    // A sandbox of its own (its data ends under new keys; the rotation has only this job to re-key).
    const suite = sandbox;
    sandbox = await freshSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN } });
    try {
      await rotatedImport();
    } finally {
      await sandbox.stop();
      sandbox = suite;
    }
  });

  async function rotatedImport(): Promise<void> {
    const { fileID } = await reservedUpload(csv(csvRows(2500)), 'rotated.csv');
    const { jobId } = await service(0).import(ADMIN, { fileID });
    const paused = () => sandbox.db.dump('roster_jobs').find((d) => d._id === jobId)!;
    expect(paused()).toMatchObject({ state: 'running' });
    const before = paused().fileHash;
    // New keys deployed to admin (the sandbox's own listed as old), then the rotation run to its end.
    const { keys, env } = rotatedKeys();
    await deploySandbox(sandbox, { only: ['admin'], env: { ROSTER_ADMIN_OPENIDS: ADMIN, ...env } });
    let rotation = await callFunction(sandbox, 'admin', ADMIN, { action: 'rotateKeys' });
    for (let i = 0; i < 50 && rotation.state === 'running'; i += 1) {
      rotation = await callFunction(sandbox, 'admin', ADMIN, { action: 'rotateKeys' });
    }
    expect(rotation).toMatchObject({ ok: true, state: 'done' });
    expect(paused().fileHash).not.toBe(before);
    let status = await service(Number.MAX_SAFE_INTEGER, keys).run({ jobId });
    for (let i = 0; i < 20 && status.state === 'running'; i += 1) {
      status = await service(Number.MAX_SAFE_INTEGER, keys).run({ jobId });
    }
    expect(status).toMatchObject({ state: 'done', total: 2500, failed: 0 });
  }
});
