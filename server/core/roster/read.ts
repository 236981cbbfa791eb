/**
 * Format detection and the two non-streaming readers behind one `WorkbookSource`:
 * - .xlsx → the streaming reader (./xlsx-stream), whatever the size, so a file never changes
 *   behaviour at a size threshold (`reader: 'sheetjs'` exists for cross-checks);
 * - .xls (at most 65,536 rows by format) → SheetJS, the engine of node-xlsx, called directly with
 *   node-xlsx's lean options because `node-xlsx.parse` drops `!merges` and the cell types, in a
 *   worker thread with a heap and a time limit (./xls-worker.ts); password-protected → its own code;
 * - .csv → decoded here (UTF-8 with or without BOM, UTF-16 with BOM, else GB18030) and split by a
 *   small RFC 4180 parser. SheetJS is not used for text: it reads a UTF-8 buffer as Latin-1, garbles
 *   a BOM, mis-detects tab- and semicolon-separated text, and turns IDs into numbers unless `raw`.
 */
import { parseXlsHere, parseXlsIsolated, type XlsSheet, type XlsValue, type XlsWorkbook } from './xls-worker';
import { MAX_COLUMNS, openXlsx, openXlsxRanged, type ByteSource } from './xlsx-stream';
import {
  cappedText,
  EMPTY,
  RosterFileError,
  type Cell,
  type Checkpoint,
  type FileFormat,
  type SheetRow,
  type WorkbookSource,
} from './types';

export type XlsxReader = 'stream' | 'sheetjs';

export { SHEETJS_LEAN_OPTIONS } from './xls-worker';

/**
 * SheetJS holds a whole .xls as objects: measured RSS growth ~70 MB at 5k rows (0.8 MB), ~103 MB at
 * 12k (1.9 MB), ~143 MB at 20k (3.2 MB). Past this size (~9k rows) the admin is asked to save as
 * .xlsx, which is read as a stream; below it, the parse runs in a worker whose heap is capped and
 * whose process RSS growth is watched (./xls-worker.ts), well inside a 256 MB function.
 */
export const XLS_MAX_BYTES = 1.5 * 1024 * 1024;

const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const OLE_MAGIC = Buffer.from([0xd0, 0xcf, 0x11, 0xe0]);
const TEXT_EXTENSIONS = /\.(csv|txt|tsv)$/i;

const unreadable = (detail?: string) =>
  new RosterFileError('ROSTER_FILE_UNREADABLE', detail ? `无法读取该文件：${detail}` : undefined);

/** 'xlsx' | 'xls' | 'csv' from the content (zip, OLE, anything else is read as text). */
export function detectFormat(buffer: Buffer): FileFormat {
  if (buffer.length === 0) throw unreadable();
  if (buffer.subarray(0, 4).equals(ZIP_MAGIC)) return 'xlsx';
  if (buffer.subarray(0, 4).equals(OLE_MAGIC)) return 'xls';
  return 'csv';
}

/**
 * UTF-16 by its BOM; else UTF-8 when valid (BOM optional), else GB18030 (a superset of GBK).
 * TextDecoder drops the BOM. Text with control characters (a binary file) is unreadable.
 */
export function decodeText(buffer: Buffer): string {
  const utf16 =
    buffer[0] === 0xff && buffer[1] === 0xfe
      ? 'utf-16le'
      : buffer[0] === 0xfe && buffer[1] === 0xff
        ? 'utf-16be'
        : undefined;
  for (const encoding of utf16 ? [utf16] : ['utf-8', 'gb18030']) {
    let text: string;
    try {
      text = new TextDecoder(encoding, { fatal: true }).decode(buffer);
    } catch {
      continue;
    }
    // eslint-disable-next-line no-control-regex -- control characters are what marks a binary file
    if (text.startsWith('%PDF') || /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text)) break;
    if (/^\s*</.test(text)) throw unreadable('这是网页（HTML/XML）格式，请用 Excel 打开后另存为 .xlsx 再上传');
    return text;
  }
  throw unreadable();
}

/** The separator among `,` tab `;` that the first line uses most (comma when none). */
function separatorOf(text: string): string {
  const firstLine = text.slice(0, text.search(/[\r\n]|$/));
  let best = ',';
  let bestCount = 0;
  for (const sep of [',', '\t', ';']) {
    const count = firstLine.split(sep).length - 1;
    if (count > bestCount) [best, bestCount] = [sep, count];
  }
  return best;
}

/** A quoted field from the quote at `start`: its text and the index after the closing quote ("" is one quote). */
function quotedField(text: string, start: number): [string, number] {
  let field = '';
  for (let from = start + 1; ;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return [field + text.slice(from), text.length];
    field += text.slice(from, quote);
    if (text.charAt(quote + 1) !== '"') return [field, quote + 1];
    field += '"';
    from = quote + 2;
  }
}

/** RFC 4180 records: quoted fields may hold separators, quotes and line breaks; CRLF, LF or CR end a record. */
export function* csvRecords(text: string): Generator<string[]> {
  const sep = separatorOf(text);
  const plain = new RegExp(`[^"${sep}\\r\\n]+`, 'y');
  let record: string[] = [];
  let field = '';
  let i = 0;
  while (i < text.length) {
    const ch = text.charAt(i);
    if (ch === '"' && field === '') {
      [field, i] = quotedField(text, i);
    } else if (ch === sep || ch === '\n' || ch === '\r') {
      if (record.length >= MAX_COLUMNS) throw new RosterFileError('ROSTER_TOO_MANY_COLUMNS');
      record.push(field);
      field = '';
      i += ch === '\r' && text.charAt(i + 1) === '\n' ? 2 : 1;
      if (ch !== sep) {
        yield record;
        record = [];
      }
    } else {
      plain.lastIndex = i;
      const run = plain.exec(text)?.[0] ?? ch;
      field += run;
      i += run.length;
    }
  }
  if (field !== '' || record.length > 0) yield [...record, field];
}

/** The file name only keeps text that is not a table (.json, .xml...) out. */
function openCsv(buffer: Buffer, fileName?: string): WorkbookSource {
  const text = decodeText(buffer);
  if (fileName !== undefined && /\.[^./\\]+$/.test(fileName) && !TEXT_EXTENSIONS.test(fileName)) throw unreadable();
  return {
    format: 'csv',
    sheets: [{ name: 'Sheet1', hidden: false }],
    date1904: false,
    merges: async () => [],
    async *rows(): AsyncGenerator<SheetRow> {
      let rowNumber = 0;
      for (const record of csvRecords(text)) {
        rowNumber += 1;
        const cells = trimCells(
          record.map((value): Cell => (value === '' ? EMPTY : { value: cappedText(value), type: 'string' })),
        );
        if (cells.length > 0) yield { rowNumber, cells };
      }
    },
  };
}

function trimCells(cells: Cell[]): Cell[] {
  let end = cells.length;
  while (end > 0 && cells[end - 1]?.type === 'empty') end -= 1;
  return end === cells.length ? cells : cells.slice(0, end);
}

const cellOfValue = (value: XlsValue): Cell =>
  value === null
    ? EMPTY
    : typeof value === 'string'
      ? { value: cappedText(value), type: 'string' }
      : typeof value === 'number'
        ? { value, type: 'number' }
        : { value, type: 'boolean' };

/** A workbook SheetJS parsed (in the worker for .xls) as a `WorkbookSource`. */
function sheetJsSource(workbook: XlsWorkbook, format: FileFormat): WorkbookSource {
  const sheet = (name: string): XlsSheet => {
    const found = workbook.sheets.find((s) => s.name === name);
    if (!found) throw new RosterFileError('ROSTER_SHEET_NOT_FOUND');
    return found;
  };
  return {
    format,
    sheets: workbook.sheets.map(({ name, hidden }) => ({ name, hidden })),
    date1904: workbook.date1904,
    merges: async (name) => sheet(name).merges,
    async *rows(name): AsyncGenerator<SheetRow> {
      for (const [rowNumber, values] of sheet(name).rows) yield { rowNumber, cells: values.map(cellOfValue) };
    },
  };
}

const ENCRYPTED_PACKAGE = Buffer.from('EncryptedPackage', 'utf16le');

/** An OLE file: a password-protected .xlsx/.xlsb (EncryptedPackage), else an .xls read in the worker. */
async function openOle(buffer: Buffer): Promise<WorkbookSource> {
  if (buffer.includes(ENCRYPTED_PACKAGE)) throw new RosterFileError('ROSTER_FILE_ENCRYPTED');
  if (buffer.length > XLS_MAX_BYTES) {
    throw new RosterFileError('ROSTER_FILE_TOO_LARGE', '.xls 文件过大：请在 Excel 中“另存为” .xlsx 格式后上传');
  }
  const outcome = await parseXlsIsolated(buffer);
  if (outcome.ok) return sheetJsSource(outcome.workbook, 'xls');
  if (outcome.reason === 'encrypted') throw new RosterFileError('ROSTER_FILE_ENCRYPTED');
  if (outcome.reason === 'too-complex') throw new RosterFileError('ROSTER_XLS_TOO_COMPLEX');
  throw unreadable();
}

/**
 * Opens any supported file; throws RosterFileError (ROSTER_FILE_UNREADABLE, ROSTER_FILE_TOO_LARGE,
 * ROSTER_FILE_XLSB, ROSTER_FILE_ODS, ROSTER_FILE_ENCRYPTED, ROSTER_XLS_TOO_COMPLEX...).
 */
export async function openWorkbook(
  buffer: Buffer,
  options: { fileName?: string; reader?: XlsxReader; checkpoint?: Checkpoint } = {},
): Promise<WorkbookSource> {
  const format = detectFormat(buffer);
  if (format === 'csv') return openCsv(buffer, options.fileName);
  if (format === 'xls') return openOle(buffer);
  if (options.reader !== 'sheetjs') return openXlsx(buffer, { checkpoint: options.checkpoint });
  // Cross-checks only: SheetJS on an .xlsx, in this thread.
  const outcome = parseXlsHere(buffer);
  if (!outcome.ok) throw unreadable();
  return sheetJsSource(outcome.workbook, 'xlsx');
}

/**
 * Text files are decoded whole (a CSV's UTF-16 text costs twice its size): past this the admin is
 * asked to save as .xlsx, which is read as ranges whatever its size.
 */
export const WHOLE_FILE_MAX_BYTES = 32 * 1024 * 1024;

/**
 * Opens a file that is not in memory (`head`: its first bytes, for the format): an .xlsx is read
 * by ranges (openXlsxRanged); .xls and text, which are read whole, up to their own size caps.
 */
export async function openWorkbookRanged(
  file: ByteSource & { head: Buffer },
  options: { fileName?: string; checkpoint?: Checkpoint } = {},
): Promise<WorkbookSource> {
  const format = detectFormat(file.head);
  if (format === 'xlsx') return openXlsxRanged(file, { checkpoint: options.checkpoint });
  const cap = format === 'xls' ? XLS_MAX_BYTES : WHOLE_FILE_MAX_BYTES;
  if (file.size > cap) {
    throw new RosterFileError(
      'ROSTER_FILE_TOO_LARGE',
      `${format === 'xls' ? '.xls' : 'CSV'} 文件过大：请在 Excel 中“另存为” .xlsx 格式后上传`,
    );
  }
  return openWorkbook(await file.read(0, file.size), options);
}
