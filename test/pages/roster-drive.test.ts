/**
 * The client's job driver (`driveRosterJob`, what the roster page runs) against a real sandbox:
 * a `run` whose instance dies, the lease it leaves behind, network failures and refusals. Only the
 * device is doubled (its network, for the dropped calls); the function, its lease and the clock are
 * the sandbox's. The driver's `wait` moves the sandbox clock instead of sleeping, so waiting out
 * the 75 s lease takes no real time.
 */
// miniprogram-simulate installs the global `wx` the services and the bridges extend.
import '../helpers/simulate';
import { config } from '../../miniprogram/config';
import { driveRosterJob, importRoster, uploadRosterFile } from '../../miniprogram/admin/services/roster';
import type { RosterJobStatus } from '../../miniprogram/shared/contracts';
import { type FileBridge, installFileBridge } from '../helpers/bridge-files';
import { installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { cleanRoster } from '../fixtures/roster/generate';

jest.setTimeout(120_000);

const ADMIN = 'o_roster_drive_admin';

let sandbox: SandboxProcess;
let files: FileBridge;
let clockSeconds = 0;
/** Every roster action the device sent to the sandbox, in order. */
let sent: string[];
/** Makes the device's network drop `run` calls (the request never leaves the phone). */
let dropRuns = false;
/** Runs once, right after the next `run` call has been sent. */
let afterNextRun: (() => Promise<void>) | undefined;

type Request = (option: {
  url: string;
  data?: unknown;
  fail?: (err: { errMsg: string }) => void;
  complete?: (res: { errMsg: string }) => void;
}) => unknown;
const device = wx as unknown as Record<string, unknown>;

beforeAll(async () => {
  // Slices of one batch (1000 rows), so a 3000-row file needs several `run` calls.
  sandbox = await startSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN, ROSTER_SLICE_SECONDS: '0' } });
  config.sandboxUrl = sandbox.url;
});

afterAll(async () => {
  await sandbox.stop();
});

beforeEach(() => {
  config.mode = 'sandbox';
  config.sandboxOpenid = ADMIN;
  installBridge();
  files = installFileBridge();
  sent = [];
  dropRuns = false;
  afterNextRun = undefined;
  const request = device.request as Request;
  device.request = (option: Parameters<Request>[0]) => {
    if (!option.url.endsWith('/gateway/functions/roster')) return request(option);
    const action = String((option.data as { action?: string }).action);
    if (action === 'run' && dropRuns) {
      setTimeout(() => {
        option.fail?.({ errMsg: 'request:fail timeout' });
        option.complete?.({ errMsg: 'request:fail timeout' });
      }, 0);
      return { abort() {} };
    }
    sent.push(action);
    const task = request(option);
    const hook = action === 'run' ? afterNextRun : undefined;
    if (hook) {
      afterNextRun = undefined;
      void hook();
    }
    return task;
  };
});

afterEach(async () => {
  files.cleanup();
  await postJson('/sandbox/quota', {});
  await setClock(0);
});

async function setClock(seconds: number): Promise<void> {
  clockSeconds = seconds;
  expect((await postJson('/sandbox/clock', { offsetSeconds: seconds })).status).toBe(200);
}

/** The driver's wait: the sandbox clock moves by `ms`, no real time passes. */
const waits: number[] = [];
async function advanceClock(ms: number): Promise<void> {
  waits.push(ms);
  await setClock(clockSeconds + ms / 1000);
}

async function jobDoc(jobId: string): Promise<Record<string, unknown>> {
  const res = await postJson('/admin', {
    action: 'database.getDocument',
    collectionName: 'roster_jobs',
    queryType: 'WHERE',
    query: JSON.stringify({ _id: jobId }),
    limit: 1,
  });
  const [doc] = (res.body.data as { list: string[] }).list;
  return JSON.parse(doc!) as Record<string, unknown>;
}

/** The job's lease (ms), from the database's extended JSON (`{ "$numberLong": "…" }`). */
async function leaseOf(jobId: string): Promise<number> {
  const lease = (await jobDoc(jobId)).leaseUntil as Record<string, string> | number;
  const value =
    typeof lease === 'number' ? lease : Number(lease.$numberInt ?? lease.$numberLong ?? lease.$numberDouble);
  if (!Number.isFinite(value)) throw new Error(`unreadable lease ${JSON.stringify(lease)}`);
  return value;
}

async function rosterCount(): Promise<number> {
  const res = await postJson('/admin', { action: 'database.calculateDocument', collectionName: 'roster', query: '{}' });
  return (res.body.data as { total: number }).total;
}

/** Uploads `rows` clean rows and starts the import (its first slice: one batch). */
async function startJob(rows: number, name: string): Promise<string> {
  const upload = await uploadRosterFile(files.writeFile(name, cleanRoster(rows)), () => undefined);
  if (!upload.ok) throw new Error(upload.message);
  const started = await importRoster({ fileID: upload.fileID });
  if (!started.ok) throw new Error(started.message);
  return started.jobId;
}

/**
 * Arms a crash of the next `run`: once that invocation has taken the job's lease, its instance is
 * killed, so the lease stays behind for 75 s as after a real crash. The run's first roster lookup
 * is held for 5 s (a database fault with latency alone), so it is caught after the lease and before
 * it can write anything, however slow the machine.
 */
async function crashNextRun(jobId: string): Promise<{ killed: Promise<number> }> {
  const before = await leaseOf(jobId);
  const held = await postJson('/sandbox/db/faults', {
    action: 'database.getDocument',
    collection: 'roster',
    latencyMs: 5000,
  });
  expect(held.status).toBe(200);
  let settle: (n: number | Error) => void = () => undefined;
  const outcome = new Promise<number | Error>((resolve) => (settle = resolve));
  afterNextRun = async () => {
    try {
      let lease = before;
      for (let i = 0; i < 400 && lease === before; i += 1) lease = await leaseOf(jobId);
      if (lease === before) throw new Error('the run never took the lease');
      const res = await postJson('/sandbox/functions/crash', { name: 'roster' });
      settle(Number(res.body.killed));
    } catch (err) {
      settle(err as Error);
    }
  };
  const killed = outcome.then((n) => {
    if (n instanceof Error) throw n;
    return n;
  });
  return { killed };
}

describe('driveRosterJob against the sandbox', () => {
  it('after a crashed run: retries, waits out the lease with its defaults, and finishes without duplicates', async () => {
    const jobId = await startJob(3000, '名单-崩溃.xlsx');
    const { killed } = await crashNextRun(jobId);
    waits.length = 0;
    const seen: RosterJobStatus[] = [];
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const started = Date.now();
    const res = await driveRosterJob(jobId, (status) => seen.push(status), { wait: advanceClock });
    const elapsedMs = Date.now() - started;
    const warnings = warn.mock.calls.slice();
    warn.mockRestore();

    expect(await killed).toBe(1);
    // The crashed run reached the client as the platform's failure (the gateway's 502), once.
    expect(warnings).toContainEqual(['[callCloud] roster.run failed:', 'sandbox gateway answered 502']);
    expect(res).toMatchObject({ ok: true, state: 'done', total: 3000, inserted: 3000, failed: 0 });
    expect(await rosterCount()).toBe(3000);
    // The first wait is the retry after the failed call; the stalls that follow outlast the 75 s
    // lease within the default 30 (3 s each).
    // Real time passes too (more of it on a busy machine), so the count of 3 s waits is not exact:
    // the waits and the real time together outlast the lease (the driver kept asking until it was
    // free), and at most 31 waits show its defaults were enough.
    expect(waits.every((ms) => ms === 3000)).toBe(true);
    expect(waits.length * 3000 + elapsedMs).toBeGreaterThanOrEqual(75_000 - 3000);
    expect(waits.length).toBeLessThanOrEqual(31);
    // Progress was reported and never went backwards.
    const processed = seen.map((s) => s.processed);
    expect(processed).toEqual([...processed].sort((a, b) => a - b));
    expect(processed[processed.length - 1]).toBe(3000);
  });

  it('gives up after 30 answers without progress, and the same job finishes once the lease has run out', async () => {
    const jobId = await startJob(2500, '名单-停滞.xlsx');
    const { killed } = await crashNextRun(jobId);
    waits.length = 0;
    sent = [];
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const stuck = await driveRosterJob(jobId, () => undefined, {
      wait: async (ms) => {
        waits.push(ms); // time does not move: the lease never runs out
      },
    });
    const warnings = warn.mock.calls.slice();
    warn.mockRestore();
    expect(await killed).toBe(1);
    expect(warnings).toContainEqual(['[callCloud] roster.run failed:', 'sandbox gateway answered 502']);
    expect(stuck).toEqual({ ok: false, code: 'ROSTER_JOB_STALLED', message: '导入任务长时间没有进展，请稍后重新导入' });
    // One failed call (retried once), one answer that counts as the first status, 31 without progress.
    expect(sent.filter((a) => a === 'run')).toHaveLength(33);
    expect(waits).toHaveLength(31);

    await setClock(80);
    const res = await driveRosterJob(jobId, () => undefined, { wait: advanceClock });
    expect(res).toMatchObject({ ok: true, state: 'done', total: 2500, failed: 0 });
  });

  it('gives up after 3 retries when the network drops every call, and answers the network error', async () => {
    const jobId = await startJob(1500, '名单-断网.xlsx');
    dropRuns = true;
    waits.length = 0;
    sent = [];
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const res = await driveRosterJob(jobId, () => undefined, {
      wait: async (ms) => {
        waits.push(ms);
      },
    });
    expect(res).toEqual({ ok: false, code: 'NETWORK', message: '网络异常，请检查网络后重试' });
    expect(waits).toEqual([3000, 3000, 3000]);
    expect(sent).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(4);
    expect(warn).toHaveBeenCalledWith('[callCloud] roster.run failed:', 'request:fail timeout');
    warn.mockRestore();

    // The network is back: the job is where it was and finishes.
    dropRuns = false;
    const done = await driveRosterJob(jobId, () => undefined, { wait: advanceClock });
    expect(done).toMatchObject({ ok: true, state: 'done', total: 1500 });
  });

  it('answers what the server refuses at once, without retrying', async () => {
    waits.length = 0;
    const res = await driveRosterJob('f'.repeat(24), () => undefined, { wait: advanceClock });
    expect(res).toMatchObject({ ok: false, code: 'ROSTER_JOB_NOT_FOUND' });
    expect(sent).toEqual(['run']);
    expect(waits).toEqual([]);

    config.sandboxOpenid = 'o_not_an_admin';
    const forbidden = await driveRosterJob('f'.repeat(24), () => undefined, { wait: advanceClock });
    expect(forbidden).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(waits).toEqual([]);
  });
});
