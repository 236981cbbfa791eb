/**
 * Roster CLI for a PC:
 *   npm run roster -- import <file> [--dry-run] [--json] [--sheet <name>] [--sandbox <url>] [--as <openid>]
 *   npm run roster -- template <out.xlsx> [--sandbox <url>]
 * Runs the same import through the `roster` function of a running sandbox (default
 * http://127.0.0.1:8787, as the seeded demo admin): upload to storage, `import`, then `run` until
 * the job is done. With --json it prints one JSON object; it exits 2 when the file could not be
 * read at all, 1 on any other failure.
 */
import fs from 'fs';
import path from 'path';
import type { RosterJobStatus } from '../miniprogram/shared/contracts';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../sandbox';
import { DEMO_ADMIN_OPENID } from '../sandbox/demo';
import { sessionHeaders } from '../sandbox/session';

interface Options {
  command: string;
  file: string;
  dryRun: boolean;
  json: boolean;
  sheet?: string;
  sandbox: string;
  openid: string;
  /** The running sandbox's token when it wants one (read from its data dir, SANDBOX_DATA_DIR or .sandbox/). */
  headers: Record<string, string>;
}

function parseArgs(args: string[]): Options {
  const value = (flag: string) => {
    const at = args.indexOf(flag);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const positional = args.filter(
    (a, i) => !a.startsWith('--') && !['--sheet', '--sandbox', '--as'].includes(args[i - 1] ?? ''),
  );
  const sandbox = (value('--sandbox') ?? `http://127.0.0.1:${process.env.SANDBOX_PORT ?? DEFAULT_PORT}`).replace(
    /\/+$/,
    '',
  );
  return {
    command: positional[0] ?? '',
    file: positional[1] ?? '',
    dryRun: args.includes('--dry-run'),
    json: args.includes('--json'),
    sheet: value('--sheet'),
    sandbox,
    openid: value('--as') ?? DEMO_ADMIN_OPENID,
    headers: sessionHeaders(path.resolve(process.env.SANDBOX_DATA_DIR ?? DEFAULT_DATA_DIR), sandbox),
  };
}

async function call(o: Options, event: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(`${o.sandbox}/gateway/functions/roster`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-WX-OPENID': o.openid, ...o.headers },
    body: JSON.stringify(event),
  });
  if (res.status !== 200) throw new Error(`sandbox answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

async function upload(o: Options, content: Buffer): Promise<string> {
  const cloudPath = `roster-uploads/cli-${Date.now()}-${path.basename(o.file).replace(/[^\w.-]+/g, '_')}`;
  const res = await fetch(`${o.sandbox}/sandbox/storage/upload?cloudPath=${encodeURIComponent(cloudPath)}`, {
    method: 'POST',
    headers: { 'X-WX-OPENID': o.openid, ...o.headers },
    body: content,
  });
  if (res.status !== 200) throw new Error(`upload failed: ${res.status}`);
  return String(((await res.json()) as { fileID: string }).fileID);
}

async function runImport(o: Options): Promise<number> {
  if (!o.file || !fs.existsSync(o.file)) {
    console.error(`file not found: ${o.file || '(none given)'}`);
    return 2;
  }
  const fileID = await upload(o, fs.readFileSync(o.file));
  const started = await call(o, { action: 'import', fileID, dryRun: o.dryRun, ...(o.sheet ? { sheet: o.sheet } : {}) });
  if (!started.ok) {
    if (o.json) console.log(JSON.stringify({ error: { code: started.code, message: started.message } }));
    else console.error(`导入失败：${String(started.message)} (${String(started.code)})`);
    return String(started.code).startsWith('ROSTER_FILE') || started.code === 'ROSTER_NO_HEADER' ? 2 : 1;
  }
  let status = (await call(o, { action: 'status', jobId: started.jobId })) as unknown as RosterJobStatus & {
    ok: boolean;
  };
  while (status.ok && status.state === 'running') {
    if (!o.json) process.stderr.write(`\r已处理 ${status.processed} 行…`);
    status = (await call(o, { action: 'run', jobId: started.jobId })) as unknown as RosterJobStatus & { ok: boolean };
  }
  printResult(o, status);
  return 0;
}

function printResult(o: Options, status: RosterJobStatus): void {
  const { total, inserted, updated, unchanged, failed, errors } = status;
  if (o.json) {
    console.log(JSON.stringify({ total, inserted, updated, unchanged, failed, errors, dryRun: o.dryRun }));
    return;
  }
  console.log(
    `\r${o.dryRun ? '预检（未写入）' : '导入完成'}：共 ${total} 行，新增 ${inserted}，更新 ${updated}，未变 ${unchanged}，有误 ${failed}`,
  );
  for (const e of errors.slice(0, 20)) console.log(`  第 ${e.row} 行 [${e.column}] ${e.message}`);
  if (errors.length > 20 || failed > errors.length) console.log('  …完整列表见错误报告（roster.report）');
}

async function template(o: Options): Promise<number> {
  const res = await call(o, { action: 'template' });
  if (!res.ok) {
    console.error(String(res.message));
    return 1;
  }
  const out = o.file || 'roster-template.xlsx';
  const content = Buffer.from(await (await fetch(encodeURI(String(res.tempFileURL)))).arrayBuffer());
  fs.writeFileSync(out, content);
  console.log(`模板已保存：${out}`);
  return 0;
}

export async function main(args: string[]): Promise<number> {
  const o = parseArgs(args);
  try {
    if (o.command === 'import') return await runImport(o);
    if (o.command === 'template') return await template(o);
  } catch (err) {
    const message = (err as Error).message;
    console.error(
      /fetch failed|ECONNREFUSED/.test(message)
        ? `cannot reach the sandbox at ${o.sandbox}: start it with \`npm start\``
        : message,
    );
    return 1;
  }
  console.error(
    'usage: npm run roster -- import <file> [--dry-run] [--json] [--sheet <name>] [--sandbox <url>]\n       npm run roster -- template [out.xlsx]',
  );
  return 1;
}
