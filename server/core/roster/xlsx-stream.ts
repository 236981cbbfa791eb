/**
 * A streaming .xlsx reader on Node built-ins only. SheetJS builds the whole workbook as objects
 * (~260 MB peak at 100k rows, over a 256 MB function); this reader keeps the zip as one Buffer,
 * the shared strings as one array, and inflates the sheet XML in 64 KB chunks, cutting complete
 * `<row>` elements out of a small text window: memory stays flat whatever the row count.
 *
 * Scope: the zip central directory (stored or deflated entries, no ZIP64, no encryption), the
 * workbook + its relationships (sheet names, paths, hidden state, 1904 dates), shared strings
 * (rich-text runs concatenated, phonetic runs dropped), cell types s / str / inlineStr / n / b / e
 * / d, formulas through their cached `<v>` (none cached → empty), `<mergeCell ref>`, XML entities
 * and Excel's `_xHHHH_` escapes. Any namespace prefix (`<x:row>`) is accepted.
 */
import { pipeline, Readable } from 'stream';
import { StringDecoder } from 'string_decoder';
import { createInflateRaw, inflateRawSync } from 'zlib';
import {
  EMPTY,
  RosterFileError,
  type Cell,
  type CellRange,
  type SheetInfo,
  type SheetRow,
  type WorkbookSource,
} from './types';

/** Workbook and relationships are read whole; larger is a zip bomb, not a roster. */
const WHOLE_ENTRY_LIMIT = 16 * 1024 * 1024;
/**
 * Shared-strings XML kept, in characters. A roster costs ~85 chars of it per row (ID, phone and
 * staff number are distinct texts), so 20M is ~240k rows: measured here, 300k rows peak at ~245 MB,
 * too close to a 256 MB function. Past it the file is refused as too large (split it).
 */
const SHARED_STRINGS_LIMIT = 20 * 1024 * 1024;
const CHUNK = 64 * 1024;
/** Characters one element may span (a 16,384-column row is well under 1M): longer is a zip bomb. */
const ELEMENT_LIMIT = 8 * 1024 * 1024;
/** Days from Excel's 1900 epoch (1899-12-30) to its 1904 epoch. */
export const DAYS_1900_TO_1904 = 1462;

interface ZipEntry {
  method: number;
  data: Buffer;
}

const unreadable = () => new RosterFileError('ROSTER_FILE_UNREADABLE');

/** Entry names (lower-cased: some writers vary the case) → compressed data. */
function readZipDirectory(zip: Buffer): Map<string, ZipEntry> {
  let end = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff) && end < 0; i -= 1) {
    if (zip.readUInt32LE(i) === 0x06054b50) end = i;
  }
  if (end < 0) throw unreadable();
  const entries = new Map<string, ZipEntry>();
  let pos = zip.readUInt32LE(end + 16);
  for (let n = zip.readUInt16LE(end + 10); n > 0; n -= 1) {
    if (pos + 46 > zip.length || zip.readUInt32LE(pos) !== 0x02014b50) throw unreadable();
    const nameEnd = pos + 46 + zip.readUInt16LE(pos + 28);
    const local = zip.readUInt32LE(pos + 42);
    if (local + 30 > zip.length || zip.readUInt32LE(local) !== 0x04034b50) throw unreadable();
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const size = zip.readUInt32LE(pos + 20);
    if (start + size > zip.length) throw unreadable();
    // Bit 0 of the flags: encrypted. Only stored (0) and deflated (8) entries are readable.
    const method = zip.readUInt16LE(pos + 8) & 1 ? -1 : zip.readUInt16LE(pos + 10);
    entries.set(zip.toString('utf8', pos + 46, nameEnd).toLowerCase(), {
      method,
      data: zip.subarray(start, start + size),
    });
    pos = nameEnd + zip.readUInt16LE(pos + 30) + zip.readUInt16LE(pos + 32);
  }
  return entries;
}

function checkedEntry(entry: ZipEntry): ZipEntry {
  if (entry.method !== 0 && entry.method !== 8) throw unreadable();
  return entry;
}

function readWhole(entries: Map<string, ZipEntry>, path: string): string | undefined {
  const entry = entries.get(path.toLowerCase());
  if (!entry) return undefined;
  const { method, data } = checkedEntry(entry);
  try {
    return (method === 0 ? data : inflateRawSync(data, { maxOutputLength: WHOLE_ENTRY_LIMIT })).toString('utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new RosterFileError('ROSTER_FILE_TOO_LARGE');
    throw unreadable();
  }
}

function* slices(data: Buffer): Generator<Buffer> {
  for (let i = 0; i < data.length; i += CHUNK) yield data.subarray(i, i + CHUNK);
}

/** The entry's text, inflated and decoded chunk by chunk (UTF-8 sequences split across chunks are kept whole). */
async function* textChunks(entry: ZipEntry): AsyncGenerator<string> {
  const { method, data } = checkedEntry(entry);
  const decoder = new StringDecoder('utf8');
  if (method === 0) {
    for (const slice of slices(data)) yield decoder.write(slice);
    return;
  }
  const inflated = pipeline(Readable.from(slices(data)), createInflateRaw({ chunkSize: CHUNK }), () => undefined);
  try {
    for await (const chunk of inflated) yield decoder.write(chunk as Buffer);
  } catch {
    throw unreadable(); // corrupt or truncated deflate data
  }
}

/**
 * Every complete element matching `pattern` (a global regex whose source starts with the element's
 * opening `<`), in document order, while only the unfinished tail of the text stays buffered.
 */
async function* scanElements(entry: ZipEntry, pattern: RegExp, start: RegExp): AsyncGenerator<RegExpExecArray> {
  const re = new RegExp(pattern.source, 'g');
  let pending = '';
  for await (const text of textChunks(entry)) {
    pending += text;
    if (pending.length > ELEMENT_LIMIT) throw new RosterFileError('ROSTER_FILE_TOO_LARGE');
    if (!text.includes('>')) continue; // nothing can have been completed: no rescan of a long element
    re.lastIndex = 0;
    let consumed = 0;
    for (let m = re.exec(pending); m; m = re.exec(pending)) {
      consumed = re.lastIndex;
      yield m;
    }
    const rest = pending.slice(consumed);
    const open = rest.search(start);
    const lastTag = rest.lastIndexOf('<');
    pending = open >= 0 ? rest.slice(open) : lastTag >= 0 ? rest.slice(lastTag) : '';
  }
}

const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#(\d+)|#x([\da-fA-F]+));|_x([\da-fA-F]{4})_/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML entities and Excel's `_xHHHH_` escapes (`_x000D_` is a carriage return; `_x005F_` escapes `_`). */
export function decodeXml(text: string): string {
  if (!text.includes('&') && !text.includes('_x')) return text;
  return text.replace(ENTITY, (match, name?: string, dec?: string, hex?: string, excel?: string) => {
    if (name) return NAMED[name] ?? match;
    const code = dec ? Number(dec) : parseInt((hex ?? excel) as string, 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : match;
  });
}

function attr(attrs: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  return m ? decodeXml(m[1] ?? m[2] ?? '') : undefined;
}

function elements(xml: string, tag: string): string[] {
  const re = new RegExp(`<(?:\\w+:)?${tag}\\b([^>]*?)\\/?>`, 'g');
  return Array.from(xml.matchAll(re), (m) => m[1] ?? '');
}

const PLAIN_TEXT = /^<(?:\w+:)?t(?:\s[^>]*)?>([^<]*)<\/(?:\w+:)?t>$/;

/** `<t>` texts of a shared or inline string, rich-text runs concatenated, phonetic (`<rPh>`) runs dropped. */
function richText(xml: string): string {
  const plain = PLAIN_TEXT.exec(xml);
  if (plain) return decodeXml(plain[1] ?? '');
  let text = '';
  const runs = xml.replace(/<(?:\w+:)?rPh\b[\s\S]*?<\/(?:\w+:)?rPh>/g, '');
  for (const m of runs.matchAll(/<(?:\w+:)?t\b[^>]*?(?:\/>|>([^<]*)<\/(?:\w+:)?t>)/g)) text += m[1] ?? '';
  return decodeXml(text);
}

/**
 * A copy that does not keep its source alive: V8 makes substrings of 13+ characters "sliced" views
 * of their parent, so each kept shared string would pin its whole 64 KB text window.
 */
const detached = (text: string) => (text.length < 13 ? text : (' ' + text).slice(1));

/** The shared strings table, streamed (it holds every distinct text of the workbook). */
async function readSharedStrings(entry: ZipEntry | undefined): Promise<string[]> {
  const strings: string[] = [];
  let size = 0;
  if (!entry) return strings;
  for await (const m of scanElements(entry, SHARED_STRING, SHARED_STRING_START)) {
    size += m[0].length;
    if (size > SHARED_STRINGS_LIMIT) throw new RosterFileError('ROSTER_FILE_TOO_LARGE');
    strings.push(detached(richText(m[1] ?? '')));
  }
  return strings;
}

/** Relationship targets resolve against the part's folder; a leading `/` is the package root. */
function resolvePath(base: string, target: string): string {
  const parts = target.startsWith('/') ? [] : base.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '' && part !== '.') parts.push(part);
  }
  return parts.join('/');
}

function relationships(entries: Map<string, ZipEntry>, part: string): { id: string; type: string; path: string }[] {
  const slash = part.lastIndexOf('/');
  const xml = readWhole(entries, `${part.slice(0, slash + 1)}_rels/${part.slice(slash + 1)}.rels`) ?? '';
  return elements(xml, 'Relationship').map((attrs) => ({
    id: attr(attrs, 'Id') ?? '',
    type: attr(attrs, 'Type') ?? '',
    path: resolvePath(part, attr(attrs, 'Target') ?? ''),
  }));
}

/** "AB" → 27 (A = 0). */
function columnIndex(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + ch.charCodeAt(0) - 64;
  return n - 1;
}

const SHARED_STRING = /<(?:\w+:)?si\b[^>]*?(?:\/>|>([\s\S]*?)<\/(?:\w+:)?si>)/g;
const SHARED_STRING_START = /<(?:\w+:)?si\b/;
const ROW = /<(?:\w+:)?row\b([^>]*?)(?:\/>|>([\s\S]*?)<\/(?:\w+:)?row>)/g;
const ROW_START = /<(?:\w+:)?row\b/;
const CELL = /<(?:\w+:)?c\b([^>]*?)(?:\/>|>([\s\S]*?)<\/(?:\w+:)?c>)/g;
const ROW_NUMBER = /(?:^|\s)r\s*=\s*["'](\d+)["']/;
const CELL_REF = /(?:^|\s)r\s*=\s*["']([A-Za-z]{1,3})\d*["']/;
const CELL_TYPE = /(?:^|\s)t\s*=\s*["'](\w+)["']/;
const VALUE = /<(?:\w+:)?v\b[^>]*>([^<]*)</;
const MERGE = /<(?:\w+:)?mergeCell\b[^>]*?\sref\s*=\s*["']([A-Za-z]+)(\d+)(?::([A-Za-z]+)(\d+))?["']/g;
const MERGE_START = /<(?:\w+:)?mergeCell\b/;

const stringCell = (value: string | undefined): Cell => (value ? { value, type: 'string' } : EMPTY);

function cellOf(type: string | undefined, body: string, sst: string[], date1904: boolean): Cell {
  if (type === 'inlineStr') return stringCell(richText(body));
  const v = VALUE.exec(body)?.[1];
  if (v === undefined || v === '') return EMPTY; // a formula without a cached value, or no value at all
  switch (type) {
    case 's':
      return stringCell(sst[Number(v)]);
    case 'str':
    case 'e':
      return stringCell(decodeXml(v));
    case 'b':
      return { value: v === '1' || v === 'true', type: 'boolean' };
    case 'd': {
      // ISO 8601 date: the serial number SheetJS gives with `cellDates: false`.
      const days = (Date.parse(v) - Date.UTC(1899, 11, 30)) / 86_400_000;
      return Number.isNaN(days) ? stringCell(v) : { value: date1904 ? days - DAYS_1900_TO_1904 : days, type: 'number' };
    }
    default: {
      const value = Number(v);
      return Number.isNaN(value) ? EMPTY : { value, type: 'number' };
    }
  }
}

function cellsOf(body: string, sst: string[], date1904: boolean): Cell[] {
  const cells: Cell[] = [];
  let column = -1;
  CELL.lastIndex = 0;
  for (let m = CELL.exec(body); m; m = CELL.exec(body)) {
    const attrs = m[1] ?? '';
    const ref = CELL_REF.exec(attrs)?.[1];
    column = ref ? columnIndex(ref) : column + 1;
    const cell = cellOf(CELL_TYPE.exec(attrs)?.[1], m[2] ?? '', sst, date1904);
    if (cell.type === 'empty') continue;
    while (cells.length < column) cells.push(EMPTY);
    cells[column] = cell;
  }
  return cells;
}

/** Opens an .xlsx Buffer; throws ROSTER_FILE_UNREADABLE unless it is a zip holding a workbook. */
export function openXlsx(zip: Buffer): WorkbookSource {
  const entries = readZipDirectory(zip);
  const workbookPath =
    relationships(entries, '').find((rel) => rel.type.endsWith('/officeDocument'))?.path ?? 'xl/workbook.xml';
  const workbook = readWhole(entries, workbookPath);
  if (workbook === undefined) throw unreadable();
  const rels = relationships(entries, workbookPath);
  const date1904 = /^(1|true)$/.test(attr(elements(workbook, 'workbookPr')[0] ?? '', 'date1904') ?? '');
  const sheets = elements(workbook, 'sheet').flatMap((attrs) => {
    const path = rels.find((rel) => rel.id === attr(attrs, '(?:\\w+:)?id'))?.path;
    const entry = path === undefined ? undefined : entries.get(path.toLowerCase());
    const state = attr(attrs, 'state');
    return entry
      ? [{ name: attr(attrs, 'name') ?? '', hidden: state === 'hidden' || state === 'veryHidden', entry }]
      : [];
  });
  const sstPath = rels.find((rel) => rel.type.endsWith('/sharedStrings'))?.path ?? 'xl/sharedStrings.xml';
  const sstEntry = entries.get(sstPath.toLowerCase());
  let sst: string[] | undefined;

  const sheetEntry = (name: string): ZipEntry => {
    const sheet = sheets.find((s) => s.name === name);
    if (!sheet) throw new RosterFileError('ROSTER_SHEET_NOT_FOUND');
    return sheet.entry;
  };

  return {
    format: 'xlsx',
    sheets: sheets.map(({ name, hidden }): SheetInfo => ({ name, hidden })),
    date1904,
    async merges(name) {
      const ranges: CellRange[] = [];
      for await (const m of scanElements(sheetEntry(name), MERGE, MERGE_START)) {
        const [, c1 = 'A', r1 = '1', c2 = c1, r2 = r1] = m;
        ranges.push({ s: { r: Number(r1) - 1, c: columnIndex(c1) }, e: { r: Number(r2) - 1, c: columnIndex(c2) } });
      }
      return ranges;
    },
    async *rows(name): AsyncGenerator<SheetRow> {
      const entry = sheetEntry(name);
      sst ??= await readSharedStrings(sstEntry);
      let rowNumber = 0;
      for await (const m of scanElements(entry, ROW, ROW_START)) {
        const r = ROW_NUMBER.exec(m[1] ?? '')?.[1];
        rowNumber = r ? Number(r) : rowNumber + 1;
        const cells = cellsOf(m[2] ?? '', sst, date1904);
        if (cells.length > 0) yield { rowNumber, cells };
      }
    },
  };
}
