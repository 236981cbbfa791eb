/**
 * .xls files are read by SheetJS, which builds the whole workbook as objects, and a crafted 25 KB
 * .xls can make it allocate until the process dies. So it runs in a worker thread with its own
 * heap limit and a time limit: a file that exhausts either is refused (ROSTER_XLS_TOO_COMPLEX)
 * and the function instance lives on.
 *
 * The worker runs this very file: `__filename` is the function's bundle once built (the bundle
 * checks at load whether it was started as this worker), or this TypeScript source in tests and
 * scripts (stripped of types by esbuild in the worker, as scripts/register.js does).
 */
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';
import type * as XLSX from 'xlsx';
import { cappedText, type CellRange } from './types';

/** node-xlsx's leanest measured options (still ~260 MB peak for a 100k-row .xlsx, hence the stream reader). */
export const SHEETJS_LEAN_OPTIONS = {
  dense: true,
  cellDates: false,
  cellNF: false,
  cellStyles: false,
  cellHTML: false,
  cellText: false,
} as const;

/**
 * Heap of the worker. Measured: a 12k-row .xls (1.9 MB) parses in 80 MB and not in 64; a 16k-row
 * one (2.6 MB) needs 96. Files over 1.5 MB (~9k rows) are asked to be saved as .xlsx (read.ts).
 */
export const XLS_WORKER_HEAP_MB = 80;
/** Wall-clock limit of one parse: a real .xls of at most 4 MB parses in well under a second. */
export const XLS_WORKER_TIME_MS = 20_000;
/**
 * Growth of the whole process's RSS the parse may cause. The heap limit alone is not enough: when
 * the process runs with `--max-old-space-size` (the sandbox sets it from the function's memory, a
 * runtime may too), V8 takes that flag over the worker's `resourceLimits` (nodejs/node#43991), so
 * the parent also watches the process's RSS and stops the worker past this.
 */
export const XLS_WORKER_RSS_GROWTH_MB = 112;
/** How often the parent samples RSS while the worker parses. */
const RSS_POLL_MS = 25;

const MARK = 'realname-starter/roster-xls';

/** A cell as a plain value: string, number, boolean, or null (empty). */
export type XlsValue = string | number | boolean | null;

export interface XlsSheet {
  name: string;
  hidden: boolean;
  merges: CellRange[];
  /** Rows holding a value: [row number (1-based), values from column A]. */
  rows: [number, XlsValue[]][];
}

export interface XlsWorkbook {
  sheets: XlsSheet[];
  date1904: boolean;
}

/** Which limit stopped a parse: the worker's heap, the process's RSS, the time, the text sent back, or an exit. */
export type XlsLimit = 'heap' | 'rss' | 'time' | 'transfer' | 'exit';

export type XlsOutcome =
  | { ok: true; workbook: XlsWorkbook }
  | { ok: false; reason: 'encrypted' | 'unreadable' }
  | { ok: false; reason: 'too-complex'; limit: XlsLimit };

/**
 * Characters of cell text a parse may send back. SheetJS keeps one shared string once however many
 * cells use it, but each copy sent to the parent is a string of its own: a 30 KB string in 3 cells
 * of 65,536 rows is a 2 MB .xls and 6G characters once copied. A roster of 65,536 rows is ~7M.
 */
export const XLS_TRANSFER_CHARS = 16 * 1024 * 1024;
/** Rows per message from the worker: no single copy holds the whole sheet. */
export const XLS_MESSAGE_ROWS = 2000;

/** SheetJS error codes → the text Excel shows. */
const EXCEL_ERRORS: Record<number, string> = {
  0x00: '#NULL!',
  0x07: '#DIV/0!',
  0x0f: '#VALUE!',
  0x17: '#REF!',
  0x1d: '#NAME?',
  0x24: '#NUM!',
  0x2a: '#N/A',
  0x2b: '#GETTING_DATA',
};

function valueOf(cell: XLSX.CellObject | undefined): XlsValue {
  if (cell?.v === undefined || cell.v === '') return null; // no cell, a stub, or a formula without a cached value
  if (cell.t === 'e') return EXCEL_ERRORS[Number(cell.v)] ?? '#N/A';
  if (typeof cell.v === 'number' || typeof cell.v === 'boolean') return cell.v;
  return cappedText(String(cell.v));
}

/** A sheet's rows holding a value, each trimmed; undefined once their text outgrows `budget` (spent here). */
function rowsOf(data: (XLSX.CellObject[] | undefined)[], budget: { chars: number }): XlsSheet['rows'] | undefined {
  const rows: XlsSheet['rows'] = [];
  for (let r = 0; r < data.length; r += 1) {
    const values = Array.from(data[r] ?? [], valueOf);
    while (values.length > 0 && values[values.length - 1] === null) values.pop();
    if (values.length === 0) continue;
    for (const value of values) budget.chars -= typeof value === 'string' ? value.length : 1;
    if (budget.chars < 0) return undefined;
    rows.push([r + 1, values]);
  }
  return rows;
}

const isHidden = (workbook: XLSX.WorkBook, i: number) => Boolean(workbook.Workbook?.Sheets?.[i]?.Hidden);

/** SheetJS in the current thread (the worker); the rows' text is budgeted (`XLS_TRANSFER_CHARS`). */
export function parseXlsHere(buffer: Uint8Array, transferChars = XLS_TRANSFER_CHARS): XlsOutcome {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sheetjs = require('xlsx') as typeof XLSX;
  let workbook: XLSX.WorkBook;
  try {
    workbook = sheetjs.read(buffer, { type: 'buffer', ...SHEETJS_LEAN_OPTIONS, cellFormula: false });
  } catch (err) {
    return { ok: false, reason: /password|encrypt/i.test((err as Error).message) ? 'encrypted' : 'unreadable' };
  }
  if (workbook.SheetNames.length === 0) return { ok: false, reason: 'unreadable' };
  const budget = { chars: transferChars };
  const sheets: XlsSheet[] = [];
  for (const [i, name] of workbook.SheetNames.entries()) {
    const sheet = workbook.Sheets[name];
    const rows = rowsOf(sheet?.['!data'] ?? [], budget);
    if (!rows) return { ok: false, reason: 'too-complex', limit: 'transfer' };
    sheets.push({
      name,
      hidden: isHidden(workbook, i),
      merges: sheet?.['!merges'] ?? [],
      rows,
    });
  }
  return { ok: true, workbook: { sheets, date1904: Boolean(workbook.Workbook?.WBProps?.date1904) } };
}

/** What the worker posts: the outcome without rows, then each sheet's rows in bounded batches. */
type XlsMessage =
  | { kind: 'outcome'; outcome: XlsOutcome }
  | { kind: 'rows'; sheet: number; rows: [number, XlsValue[]][] }
  | { kind: 'done' };

/** Posts `outcome` as bounded messages: sheets without rows first, then the rows `XLS_MESSAGE_ROWS` at a time. */
function postOutcome(post: (message: XlsMessage) => void, outcome: XlsOutcome): void {
  if (!outcome.ok) {
    post({ kind: 'outcome', outcome });
    return;
  }
  const { sheets, date1904 } = outcome.workbook;
  post({
    kind: 'outcome',
    outcome: { ok: true, workbook: { date1904, sheets: sheets.map((s) => ({ ...s, rows: [] })) } },
  });
  sheets.forEach((sheet, index) => {
    for (let from = 0; from < sheet.rows.length; from += XLS_MESSAGE_ROWS) {
      post({ kind: 'rows', sheet: index, rows: sheet.rows.slice(from, from + XLS_MESSAGE_ROWS) });
    }
  });
  post({ kind: 'done' });
}

/** The code a TypeScript source needs to run in a worker: types stripped by esbuild on require. */
const TS_WORKER = `
const fs = require('fs');
const { transformSync } = require('esbuild');
require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), { loader: 'ts', format: 'cjs', target: 'node20' });
  module._compile(code, filename);
};
require(require('worker_threads').workerData.file);
`;

/** Parses an .xls in a worker with bounded heap and time; never throws for what the file holds. */
export function parseXlsIsolated(
  buffer: Buffer,
  limits: { heapMb: number; timeMs: number; rssGrowthMb: number; transferChars?: number } = {
    heapMb: XLS_WORKER_HEAP_MB,
    timeMs: XLS_WORKER_TIME_MS,
    rssGrowthMb: XLS_WORKER_RSS_GROWTH_MB,
  },
) {
  return new Promise<XlsOutcome>((resolve, reject) => {
    const ts = __filename.endsWith('.ts');
    const worker = new Worker(ts ? TS_WORKER : __filename, {
      eval: ts,
      workerData: { [MARK]: true, file: __filename, transferChars: limits.transferChars ?? XLS_TRANSFER_CHARS, buffer },
      resourceLimits: { maxOldGenerationSizeMb: limits.heapMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    let settled = false;
    const baseline = process.memoryUsage.rss();
    const tooComplex = (limit: XlsLimit): XlsOutcome => ({ ok: false, reason: 'too-complex', limit });
    const watch = setInterval(() => {
      if (process.memoryUsage.rss() - baseline > limits.rssGrowthMb * 1024 * 1024) settle(tooComplex('rss'));
    }, RSS_POLL_MS);
    const settle = (outcome: XlsOutcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(watch);
      // Answered once the thread has stopped: nothing of the parse outlives the call (a jest worker
      // or a function instance that ends right after it has no thread left behind).
      const answer = () => (outcome instanceof Error ? reject(outcome) : resolve(outcome));
      worker.terminate().then(answer, answer);
    };
    const timer = setTimeout(() => settle(tooComplex('time')), limits.timeMs);
    let received: XlsOutcome | undefined;
    worker.on('message', (message: XlsMessage) => {
      if (message.kind === 'outcome') received = message.outcome;
      else if (received?.ok && message.kind === 'rows')
        received.workbook.sheets[message.sheet]?.rows.push(...message.rows);
      if (!received?.ok || message.kind === 'done') settle(received ?? tooComplex('exit'));
    });
    worker.on('error', (err: Error & { code?: string }) => {
      // Out of heap (ERR_WORKER_OUT_OF_MEMORY) or of stack (a RangeError in the parser): the file's fault.
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') settle(tooComplex('heap'));
      else if (err instanceof RangeError) settle(tooComplex('heap'));
      else settle(new Error(`the .xls worker failed: ${err.message}`));
    });
    worker.on('exit', () => settle(tooComplex('exit')));
  });
}

// Started as the worker: parse, answer, done.
if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[MARK] === true) {
  const { buffer, transferChars } = workerData as { buffer: Uint8Array; transferChars: number };
  const port = parentPort;
  postOutcome((message) => port.postMessage(message), parseXlsHere(buffer, transferChars));
}
