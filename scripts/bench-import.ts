/**
 * `npm run bench:import -- [--rows <n>] [--timeout <s>] [--format xlsx|csv]`: a generated roster
 * imported into a fresh sandbox with the basic plan's quota model on (30 QPS, 20 concurrent, 15 ms
 * per request): the seed tutorial's way, the straightforward peer's way (node-xlsx, arrays of 1000,
 * no upsert), and through the real `roster` function; one JSON line per approach:
 *   { approach, rows, timeoutSeconds, seconds, cpuSeconds, rowsPerSec, dbCalls, dbWrites, rosterWrites, peakRssMB, completed, written }
 * "seconds" is function time (what the timeout counts), summed over invocations; "cpuSeconds" the CPU
 * time the function spent (not stretched by a loaded machine, nor by waiting for the database);
 * "peakRssMB" the largest peak resident memory of one invocation's instance (its own, not the sandbox's). The seed and the
 * peer run in one invocation each under their own 60 s. A last line re-imports the unchanged file.
 * `--timeout` deploys `roster` with that timeout instead of the manifest's (each line reports the
 * timeout it ran under); `--format csv` imports the same people as a UTF-8 CSV.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { buildSync } from 'esbuild';
import { startSandbox, type Sandbox } from '../sandbox';
import { BASIC_PLAN } from '../sandbox/tcb';
import { csv, csvRows } from '../test/fixtures/roster/generate';
import { bigRoster } from './bench/big-roster';
import { buildFunctions, ROOT } from './build';
import { deploySandbox, sandboxApi } from './lib/sandbox-deploy';
import { zip } from './lib/zip';

const ADMIN = 'o_bench_admin';

interface Line {
  approach: string;
  rows: number;
  format?: string;
  /** The deployed function timeout, seconds. */
  timeoutSeconds?: number;
  seconds: number;
  cpuSeconds: number;
  rowsPerSec: number;
  dbCalls: number;
  dbWrites: number;
  /** Invocations of the function (import, status, each run). */
  invocations?: number;
  peakRssMB: number;
  completed: boolean;
  written: number;
  /** Documents of `roster` this import wrote (a re-import of an unchanged file: 0). */
  rosterWrites?: number;
  outcome?: unknown;
}

const COMPARED = ['seed', 'peer'] as const;

/** Builds `roster` (deployed as usual) and the seed tutorial's import as a function of its own. */
function prepareFunctions(): string {
  buildFunctions(['roster']);
  const dir = path.join(ROOT, '.tmp/bench-functions');
  fs.rmSync(dir, { recursive: true, force: true });
  for (const name of COMPARED) {
    buildSync({
      entryPoints: [path.join(__dirname, `bench/${name}-import.ts`)],
      outfile: path.join(dir, `${name}/index.js`),
      bundle: true,
      platform: 'node',
      target: 'node16',
      format: 'cjs',
      logLevel: 'warning',
    });
  }
  return dir;
}

/** The compared functions are not in the manifest: they are created through the same management API. */
async function deployCompared(sandbox: Sandbox, functionsDir: string, name: string): Promise<void> {
  const code = zip(new Map([['index.js', fs.readFileSync(path.join(functionsDir, `${name}/index.js`))]]));
  await sandboxApi(sandbox).call('scf', 'CreateFunction', {
    FunctionName: name,
    Namespace: sandbox.env,
    Runtime: 'Nodejs20.19',
    Handler: 'index.main',
    Timeout: 60,
    MemorySize: 256,
    InstallDependency: 'FALSE',
    Code: { ZipFile: code.toString('base64') },
  });
}

async function upload(sandbox: Sandbox, content: Buffer, name: string): Promise<string> {
  return sandbox.storage.write(`roster-uploads/${name}`, content);
}

function count(sandbox: Sandbox, collection: string): number {
  return sandbox.db.hasCollection(collection) ? sandbox.db.dump(collection).length : 0;
}

interface Run {
  rows: number;
  format: 'xlsx' | 'csv';
  timeoutSeconds: number;
}

async function ours(sandbox: Sandbox, file: Buffer, run: Run, label: string): Promise<Line> {
  const { rows } = run;
  // The place reserveUpload names (roster.import reads no other), before the counted calls: the
  // figures are the import's, as they were.
  const reserved = await sandbox.invoke(
    'roster',
    { action: 'reserveUpload', fileName: `${label}.${run.format}` },
    ADMIN,
  );
  if (!reserved.ok) throw new Error(reserved.error);
  const cloudPath = String((reserved.result as { cloudPath?: unknown }).cloudPath);
  sandbox.tcb.resetStats();
  const fileID = sandbox.storage.write(cloudPath, file);
  let seconds = 0;
  let cpuSeconds = 0;
  let peakRssMB = 0;
  let invocations = 0;
  const invoke = async (event: Record<string, unknown>) => {
    // A fresh instance per call: its peak RSS is this invocation's alone.
    const result = await sandbox.invoke('roster', event, ADMIN, true);
    seconds += result.durationMs / 1000;
    cpuSeconds += (result.cpuMs ?? 0) / 1000;
    peakRssMB = Math.max(peakRssMB, result.maxRssMB ?? 0);
    invocations += 1;
    if (process.env.BENCH_VERBOSE)
      console.error(
        `  ${String(event.action)}: ${result.durationMs} ms (CPU ${result.cpuMs} ms), ${result.maxRssMB} MB`,
      );
    if (!result.ok) throw new Error(result.error);
    return result.result as Record<string, unknown>;
  };
  const started = await invoke({ action: 'import', fileID });
  const line = (fields: Pick<Line, 'rowsPerSec' | 'completed' | 'written' | 'rosterWrites' | 'outcome'>): Line => {
    const { reads, writes } = sandbox.tcb.stats;
    return {
      approach: label,
      rows,
      format: run.format,
      timeoutSeconds: run.timeoutSeconds,
      seconds: round(seconds),
      cpuSeconds: round(cpuSeconds),
      dbCalls: reads + writes,
      dbWrites: writes,
      invocations,
      peakRssMB,
      ...fields,
    };
  };
  if (!started.ok) {
    // Refused at once (e.g. a timeout too short to read the file): the line says so, with the code.
    const outcome = { code: started.code, message: started.message };
    return line({ rowsPerSec: 0, completed: false, written: 0, rosterWrites: 0, outcome });
  }
  let status = await invoke({ action: 'status', jobId: started.jobId });
  while (status.state === 'running') status = await invoke({ action: 'run', jobId: started.jobId });
  const rosterWrites = sandbox.db.hasCollection('roster')
    ? sandbox.db.dump('roster').filter((d) => (d as { jobId?: unknown }).jobId === started.jobId).length
    : 0;
  return line({
    rowsPerSec: Math.round(rows / seconds),
    completed: status.state === 'done',
    written: Number(status.inserted) + Number(status.updated),
    rosterWrites,
    ...(status.state === 'failed' ? { outcome: status.failure } : {}),
  });
}

/** The seed tutorial's or the peer's import: one invocation under its own 60 s. */
async function compared(sandbox: Sandbox, name: (typeof COMPARED)[number], file: Buffer, rows: number): Promise<Line> {
  const collection = name === 'seed' ? 'users' : 'peer_users';
  sandbox.db.createCollection(collection);
  sandbox.tcb.resetStats();
  const fileID = await upload(sandbox, file, `${name}.xlsx`);
  const result = await sandbox.invoke(name, { fileID }, ADMIN, true);
  const { reads, writes } = sandbox.tcb.stats;
  const written = count(sandbox, collection);
  const seconds = result.durationMs / 1000;
  const completed = result.ok && (result.result as { added?: number }).added === rows;
  return {
    approach: name,
    rows,
    format: 'xlsx',
    timeoutSeconds: 60,
    seconds: round(seconds),
    cpuSeconds: round((result.cpuMs ?? 0) / 1000),
    rowsPerSec: Math.round(written / seconds),
    dbCalls: reads + writes + sandbox.tcb.stats.rejected,
    dbWrites: writes,
    peakRssMB: result.maxRssMB ?? 0,
    completed,
    written,
    // The tutorial's Promise.all either dies (memory, the 60 s limit) or fails on the first over-quota answer.
    ...(result.ok ? { outcome: result.result } : { outcome: { error: result.error } }),
  };
}

const round = (n: number) => Math.round(n * 100) / 100;

async function withSandbox<T>(
  functionsDir: string,
  run: (sandbox: Sandbox) => Promise<T>,
  timeoutSeconds?: number,
): Promise<T> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-import-'));
  const sandbox = await startSandbox({
    port: 0,
    dataDir,
    quota: BASIC_PLAN,
    echoLogs: Boolean(process.env.BENCH_VERBOSE),
  });
  try {
    // The management API is outside the database's quota model: the deploy is not what is measured.
    await deploySandbox(sandbox, {
      env: { ROSTER_ADMIN_OPENIDS: ADMIN },
      only: ['roster'],
      ...(timeoutSeconds ? { timeouts: { roster: timeoutSeconds } } : {}),
    });
    for (const name of COMPARED) await deployCompared(sandbox, functionsDir, name);
    return await run(sandbox);
  } finally {
    await sandbox.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function option(args: string[], flag: string): string | undefined {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
}

function options(args: string[]): {
  rows: number;
  timeoutRaw?: string;
  timeoutSeconds: number;
  format: 'xlsx' | 'csv';
} {
  const rows = Number(option(args, '--rows') ?? 100_000);
  if (!Number.isInteger(rows) || rows < 1) throw new Error('--rows must be a positive integer');
  const timeoutRaw = option(args, '--timeout');
  const timeoutSeconds = timeoutRaw === undefined ? 60 : Number(timeoutRaw);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 900) {
    throw new Error('--timeout must be a whole number of seconds, 1–900');
  }
  const format = option(args, '--format') ?? 'xlsx';
  if (format !== 'xlsx' && format !== 'csv') throw new Error('--format must be xlsx or csv');
  return { rows, timeoutSeconds, format, ...(timeoutRaw === undefined ? {} : { timeoutRaw }) };
}

export async function main(args: string[]): Promise<number> {
  const { rows, timeoutRaw, timeoutSeconds, format } = options(args);
  const functionsDir = prepareFunctions();
  const file = format === 'csv' ? csv(csvRows(rows)) : bigRoster(rows);
  const run: Run = { rows, format, timeoutSeconds };
  console.error(
    `bench: ${rows} rows, ${(file.length / 1024 / 1024).toFixed(1)} MB .${format}, roster timeout ${timeoutSeconds} s, quota ${JSON.stringify(BASIC_PLAN)}`,
  );
  // Each approach gets its own sandbox: the seed's abandoned requests must not count against ours.
  // The seed and the peer read .xlsx only and always run under their own 60 s; `--skip-compared`
  // leaves them out (e.g. for the timeout lines, where they would only repeat themselves).
  if (format === 'xlsx' && !args.includes('--skip-compared')) {
    for (const name of COMPARED) {
      console.log(JSON.stringify(await withSandbox(functionsDir, (sandbox) => compared(sandbox, name, file, rows))));
    }
  }
  await withSandbox(
    functionsDir,
    async (sandbox) => {
      console.log(JSON.stringify(await ours(sandbox, file, run, 'ours')));
      console.log(JSON.stringify(await ours(sandbox, file, run, 'ours-reimport')));
    },
    timeoutRaw === undefined ? undefined : timeoutSeconds,
  );
  return 0;
}
