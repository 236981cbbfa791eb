/**
 * Roster CLI for a PC (see USAGE below). Runs the same import through the `roster` function: upload
 * to the place `reserveUpload` names, `import`, then `run` until the job is done. Either through a
 * running sandbox's gateway (default http://127.0.0.1:8787, as the seeded demo admin), or with
 * `--cloud` through a real CloudBase environment with the server SDK as a signed operator call
 * (scripts/lib/function-transport.ts; docs/roster-import.md → 导入到云端环境). Paths are relative to
 * the directory the command was typed in (`npm run` moves to the project root; npm keeps the
 * original in INIT_CWD).
 *
 * Exit codes: 0 every row imported (or unchanged); 1 some rows failed or conflicted (the error
 * report is saved next to the input file), or another failure; 2 the file could not be read.
 */
import fs from 'fs';
import path from 'path';
import type { RosterJobStatus } from '../miniprogram/shared/contracts';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../sandbox';
import { DEMO_ADMIN_OPENID } from '../sandbox/demo';
import { sessionHeaders } from '../sandbox/session';
import { ROOT } from './build';
import { cloudTransportFrom, gatewayTransport, type FunctionTransport } from './lib/function-transport';

const USAGE = `用法 / usage:
  npm run roster -- import <file> [options]     导入名单（.xlsx / .xls / .csv）
  npm run roster -- template [out.xlsx]         下载名单模板（默认 roster-template.xlsx）
  npm run roster -- --help                      显示本说明

import options:
  --dry-run            只校验并统计，不写入
  --replace            以表格为准：表格中有的列里留空的格子会清空已有信息（默认“补充更新”：留空保留）
  --accept-conflicts   身份证号已登记为其他姓名的行也按文件写入（默认作为冲突报告，不写入）
  --sheet <name>       指定工作表
  --json               输出一个 JSON 对象
  --sandbox <url>      沙箱地址（默认 http://127.0.0.1:${DEFAULT_PORT}）
  --as <openid>        以该 openid 调用（默认沙箱的演示管理员）

云端环境 / a real CloudBase environment (docs/roster-import.md):
  --cloud              用腾讯云 API 密钥（TENCENTCLOUD_SECRETID / TENCENTCLOUD_SECRETKEY）以操作员身份调用
  --env <envId>        云开发环境 ID（默认 CLOUD_ENV）
  --operator <name>    记录在审计日志中的操作员名（默认本机用户名）
  --values-file <path>  读取 OPERATOR_KEY 的文件（默认 .env.deploy；环境变量 OPERATOR_KEY 优先）

退出码 / exit codes: 0 全部成功；1 有行出错或冲突（错误报告保存在输入文件旁），或其他失败；2 文件无法读取`;

/** Job-level codes that mean the file itself could not be read as a roster: exit 2. */
const UNREADABLE = /^ROSTER_(FILE_|NO_HEADER|NO_DATA|SHEET_NOT_FOUND|XLS_TOO_COMPLEX|TOO_MANY_)/;

interface Options {
  command: string;
  file: string;
  dryRun: boolean;
  replace: boolean;
  acceptConflicts: boolean;
  json: boolean;
  sheet?: string;
  /** The sandbox gateway (default) or a cloud environment (`--cloud`). */
  transport: FunctionTransport;
}

const VALUE_FLAGS = ['--sheet', '--sandbox', '--as', '--env', '--operator', '--values-file', '--service-url'];

/** Where the user typed the command: `npm run` runs scripts from the project root. */
const userDir = () => process.env.INIT_CWD || process.cwd();

function parseArgs(args: string[]): Options {
  const value = (flag: string) => {
    const at = args.indexOf(flag);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const positional = args.filter((a, i) => !a.startsWith('-') && !VALUE_FLAGS.includes(args[i - 1] ?? ''));
  const sandbox = (value('--sandbox') ?? `http://127.0.0.1:${process.env.SANDBOX_PORT ?? DEFAULT_PORT}`).replace(
    /\/+$/,
    '',
  );
  return {
    command: positional[0] ?? '',
    file: positional[1] ? path.resolve(userDir(), positional[1]) : '',
    dryRun: args.includes('--dry-run'),
    replace: args.includes('--replace'),
    acceptConflicts: args.includes('--accept-conflicts'),
    json: args.includes('--json'),
    sheet: value('--sheet'),
    transport: args.includes('--cloud')
      ? cloudTransportFrom(value, process.env, ROOT)
      : gatewayTransport(
          sandbox,
          value('--as') ?? DEMO_ADMIN_OPENID,
          sessionHeaders(path.resolve(process.env.SANDBOX_DATA_DIR ?? DEFAULT_DATA_DIR), sandbox),
        ),
  };
}

function call(o: Options, event: Record<string, unknown>): Promise<Record<string, unknown>> {
  return o.transport.call('roster', event);
}

/**
 * The function names the place (with a random part) and schedules the file's deletion in case no
 * import takes it (roster.reserveUpload); the file goes there.
 */
async function upload(o: Options, content: Buffer): Promise<Record<string, unknown>> {
  const reserved = await call(o, { action: 'reserveUpload', fileName: path.basename(o.file) });
  if (!reserved.ok) return reserved;
  return { ok: true, fileID: await o.transport.upload(String(reserved.cloudPath), content) };
}

type Status = RosterJobStatus & { ok: boolean; code?: string; message?: string };

async function runImport(o: Options): Promise<number> {
  if (!o.file || !fs.existsSync(o.file)) {
    console.error(`file not found: ${o.file || '(none given)'}`);
    return 2;
  }
  const uploaded = await upload(o, fs.readFileSync(o.file));
  if (!uploaded.ok) return refused(o, String(uploaded.code), String(uploaded.message));
  const fileID = String(uploaded.fileID);
  const started = await call(o, importEvent(o, fileID));
  if (!started.ok) return refused(o, String(started.code), String(started.message));
  const jobId = String(started.jobId);
  if (!o.json) console.error(`任务 jobId: ${jobId}`);
  const status = await drive(o, jobId);
  if (!status.ok) return refused(o, String(status.code), String(status.message), jobId);
  if (status.state === 'failed') return failedJob(o, status, jobId);
  const report = status.reportFileID ? await saveReport(o, jobId) : undefined;
  printResult(o, status, jobId, report);
  return status.failed > 0 || (status.conflicts ?? 0) > 0 ? 1 : 0;
}

function importEvent(o: Options, fileID: string): Record<string, unknown> {
  const event: Record<string, unknown> = { action: 'import', fileID, dryRun: o.dryRun };
  event.mode = o.replace ? 'replace' : 'merge';
  event.acceptConflicts = o.acceptConflicts;
  if (o.sheet) event.sheet = o.sheet;
  return event;
}

/** A pause before the next `run` when the last one moved nothing (another call holds the job). */
const IDLE_PAUSE_MS = 2000;

/** `run` until the job has ended (or a call fails). */
async function drive(o: Options, jobId: string): Promise<Status> {
  let status = (await call(o, { action: 'status', jobId })) as unknown as Status;
  while (status.ok && status.state === 'running') {
    if (!o.json) process.stderr.write(`\r已处理 ${status.processed} 行…`);
    const before = status;
    status = (await call(o, { action: 'run', jobId })) as unknown as Status;
    if (status.ok && status.state === 'running' && progressOf(status) === progressOf(before)) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_PAUSE_MS));
    }
  }
  return status;
}

const progressOf = (s: Status) => `${s.processed}/${s.total}`;

function failedJob(o: Options, status: Status, jobId: string): number {
  const written = writtenBeforeFailure(status);
  if (written && !o.json) console.error(`\n${written}`);
  return refused(o, status.failure?.code ?? 'INTERNAL', status.failure?.message ?? '导入失败', jobId);
}

/** A job that ended part-way (a key rotation stops a running one) may have written rows: how many, if any. */
export function writtenBeforeFailure(
  status: Pick<RosterJobStatus, 'dryRun' | 'inserted' | 'updated'>,
): string | undefined {
  const written = status.inserted + status.updated;
  if (status.dryRun || written === 0) return undefined;
  return `停止前已写入 ${written} 行（新增 ${status.inserted}，更新 ${status.updated}），这些行保留`;
}

/** The import was refused or failed as a whole: 2 when the file itself could not be read. */
function refused(o: Options, code: string, message: string, jobId?: string): number {
  if (o.json) console.log(JSON.stringify({ ...(jobId ? { jobId } : {}), error: { code, message } }));
  else console.error(`\n导入失败：${message} (${code})`);
  return UNREADABLE.test(code) ? 2 : 1;
}

/** `<input>.errors.xlsx` beside the input file; answers its path. */
async function saveReport(o: Options, jobId: string): Promise<string> {
  const res = await call(o, { action: 'report', jobId });
  if (!res.ok) throw new Error(`the error report could not be fetched: ${String(res.message)}`);
  const content = await o.transport.download(String(res.tempFileURL));
  const { dir, name } = path.parse(o.file);
  const out = path.join(dir, `${name}.errors.xlsx`);
  fs.writeFileSync(out, content);
  return out;
}

function printResult(o: Options, status: Status, jobId: string, report: string | undefined): void {
  const { total, inserted, updated, unchanged, failed, errors } = status;
  const conflicts = status.conflicts ?? 0;
  const mode = o.replace ? 'replace' : 'merge';
  if (o.json) {
    console.log(
      JSON.stringify({
        jobId,
        total,
        inserted,
        updated,
        unchanged,
        conflicts,
        failed,
        errors,
        dryRun: o.dryRun,
        mode,
        ...(report ? { report } : {}),
      }),
    );
    return;
  }
  console.log(
    `\r${o.dryRun ? '预检（未写入）' : '导入完成'}：共 ${total} 行，新增 ${inserted}，更新 ${updated}，未变 ${unchanged}，冲突 ${conflicts}，有误 ${failed}`,
  );
  console.log(`jobId: ${jobId}`);
  for (const e of errors.slice(0, 20)) console.log(`  第 ${e.row} 行 [${e.column}] ${e.message}`);
  if (conflicts > 0 && !o.acceptConflicts)
    console.log('  冲突的行未写入；确认是同一个人后可加 --accept-conflicts 重新导入');
  if (report) console.log(`错误报告已保存：${report}`);
}

async function template(o: Options): Promise<number> {
  const res = await call(o, { action: 'template' });
  if (!res.ok) {
    console.error(String(res.message));
    return 1;
  }
  const out = o.file || path.resolve(userDir(), 'roster-template.xlsx');
  fs.writeFileSync(out, await o.transport.download(String(res.tempFileURL)));
  console.log(`模板已保存：${out}`);
  return 0;
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h') || args.find((a) => !a.startsWith('-')) === 'help') {
    console.log(USAGE);
    return 0;
  }
  let o: Options;
  try {
    o = parseArgs(args);
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  try {
    if (o.command === 'import') return await runImport(o);
    if (o.command === 'template') return await template(o);
  } catch (err) {
    const message = (err as Error).message;
    console.error(
      /fetch failed|ECONNREFUSED/.test(message)
        ? `cannot reach ${args.includes('--cloud') ? o.transport.target : `the sandbox at ${o.transport.target}: start it with \`npm start\``}`
        : message,
    );
    return 1;
  }
  console.error(USAGE);
  return 1;
}
