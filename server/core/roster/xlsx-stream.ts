/**
 * A streaming .xlsx reader on Node built-ins only. SheetJS builds the whole workbook as objects
 * (~260 MB peak at 100k rows, over a 256 MB function); this reader keeps the zip as one Buffer,
 * the shared strings as one array, and inflates the sheet XML in 64 KB chunks, cutting complete
 * `<row>` elements out of a small text window: memory stays flat whatever the row count.
 *
 * Scope: the zip central directory (stored or deflated entries, ZIP64 sizes and offsets, `\` in
 * entry names; encrypted entries refused), the
 * workbook + its relationships (sheet names, paths, hidden state, 1904 dates), shared strings
 * (rich-text runs concatenated, phonetic runs dropped), cell types s / str / inlineStr / n / b / e
 * / d, formulas through their cached `<v>` (none cached → empty), `<mergeCell ref>`, XML entities
 * and Excel's `_xHHHH_` escapes, XML parts in UTF-8 or UTF-16. Any namespace prefix (`<x:row>`) is
 * accepted. Every scan is linear in the text (no position is searched twice), and the caps below
 * (rows, columns, merges, shared strings, element size) each fail with their own code.
 */
import { pipeline, Readable } from 'stream';
import { StringDecoder } from 'string_decoder';
import { createInflateRaw, inflateRawSync } from 'zlib';
import {
  cappedText,
  EMPTY,
  RosterFileError,
  type Cell,
  type CellRange,
  type Checkpoint,
  type SheetInfo,
  type SheetRow,
  type RosterFileErrorCode,
  type WorkbookSource,
} from './types';

/** Workbook and relationships are read whole; larger is a zip bomb, not a roster. */
const WHOLE_ENTRY_LIMIT = 16 * 1024 * 1024;
/**
 * Shared-string text kept, in UTF-8 bytes (see `SharedStrings`). A roster costs ~40 bytes of it
 * per row (ID, phone and staff number are distinct texts), so Excel's 1,048,576 rows fit; past it
 * the file is refused (ROSTER_TOO_MANY_STRINGS).
 */
export const SHARED_STRINGS_LIMIT = 80 * 1024 * 1024;
const CHUNK = 64 * 1024;
/**
 * Characters one element (a row, a shared string) may span. A roster row is ~200 characters and
 * Excel's widest (16,384 columns of short values) about 1M; longer is a zip bomb.
 */
export const ELEMENT_LIMIT = 2 * 1024 * 1024;
/** Excel's own limits: 1,048,576 rows, 16,384 columns (XFD). */
export const MAX_ROWS = 1_048_576;
export const MAX_COLUMNS = 16_384;
/** Merged ranges kept for a sheet (a roster with merged departments has a few per group). */
export const MAX_MERGES = 100_000;
/** Days from Excel's 1900 epoch (1899-12-30) to its 1904 epoch. */
export const DAYS_1900_TO_1904 = 1462;
/** The longest end tag (`</prefix:row >`) looked for across a chunk boundary. */
const TAG_SPAN = 256;

/** Random access to a file that is not held in memory (e.g. HTTP Range requests on the stored upload). */
export interface ByteSource {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
}

/** An entry's compressed data: in memory (`data`), or at `local` (its local header) in `source`. */
interface ZipEntry {
  method: number;
  data?: Buffer;
  /** The compressed size. */
  packed: number;
  /** The uncompressed size the central directory declares. */
  size: number;
  local: number;
  source?: ByteSource;
}

/**
 * Uncompressed bytes a streamed part (a sheet, the shared strings) may declare: ~1 KB per row at
 * Excel's 1,048,576 rows, where a roster row is ~300 bytes of XML. A larger declaration is refused
 * before a byte is inflated (ROSTER_FILE_TOO_LARGE), and a part that inflates to more than it
 * declared is refused as soon as it does (ROSTER_FILE_UNREADABLE): a zip bomb is never read through.
 */
export const PART_LIMIT = 1024 * 1024 * 1024;

/** Bytes asked of a `ByteSource` at once while streaming an entry. */
const RANGE_READ = 1024 * 1024;

const unreadable = () => new RosterFileError('ROSTER_FILE_UNREADABLE');
const noCheckpoint: Checkpoint = () => undefined;

/** The end of central directory record, or -1. */
function endOfDirectory(zip: Buffer): number {
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i -= 1) {
    if (zip.readUInt32LE(i) === 0x06054b50) return i;
  }
  return -1;
}

/**
 * The compressed size and local header offset of the central directory entry at `pos`: a value
 * written as 0xFFFFFFFF is in the ZIP64 extra field (0x0001), in the order uncompressed size,
 * compressed size, offset, each present only when its 32-bit field is 0xFFFFFFFF.
 */
function zip64Fields(zip: Buffer, pos: number, nameEnd: number): { size: number; local: number; uncompressed: number } {
  const FULL = 0xffffffff;
  let size = zip.readUInt32LE(pos + 20);
  let local = zip.readUInt32LE(pos + 42);
  let uncompressed = zip.readUInt32LE(pos + 24);
  if (size !== FULL && local !== FULL && uncompressed !== FULL) return { size, local, uncompressed };
  const extraEnd = Math.min(zip.length, nameEnd + zip.readUInt16LE(pos + 30));
  for (let at = nameEnd; at + 4 <= extraEnd; at += 4 + zip.readUInt16LE(at + 2)) {
    if (zip.readUInt16LE(at) !== 0x0001) continue;
    let field = at + 4;
    const next = () => {
      if (field + 8 > extraEnd) throw unreadable();
      const value = Number(zip.readBigUInt64LE(field));
      field += 8;
      return value;
    };
    if (uncompressed === FULL) uncompressed = next(); // the uncompressed size comes first
    if (size === FULL) size = next();
    if (local === FULL) local = next();
    return { size, local, uncompressed };
  }
  throw unreadable();
}

/** An entry's compressed data in a zip held whole, its local header checked. */
function dataInMemory(zip: Buffer, local: number, size: number): Buffer {
  if (local + 30 > zip.length || zip.readUInt32LE(local) !== 0x04034b50) throw unreadable();
  const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
  if (start + size > zip.length) throw unreadable();
  return zip.subarray(start, start + size);
}

/**
 * Entry names → compressed data. Names are lower-cased (some writers vary the case) and `\` is read
 * as `/` (Windows export tools write `xl\workbook.xml`, and Excel opens those files).
 */
function readZipDirectory(zip: Buffer, source?: { base: number; bytes: ByteSource }): Map<string, ZipEntry> {
  const end = endOfDirectory(zip);
  if (end < 0) throw unreadable();
  const entries = new Map<string, ZipEntry>();
  // `zip` is the whole file, or (ranged) its tail from `base`: the directory's offset is absolute.
  const base = source?.base ?? 0;
  let pos = zip.readUInt32LE(end + 16) - base;
  if (pos < 0) throw unreadable();
  for (let n = zip.readUInt16LE(end + 10); n > 0; n -= 1) {
    if (pos + 46 > zip.length || zip.readUInt32LE(pos) !== 0x02014b50) throw unreadable();
    const nameEnd = pos + 46 + zip.readUInt16LE(pos + 28);
    const { size, local, uncompressed } = zip64Fields(zip, pos, nameEnd);
    // Ranged: its local header is checked when it is read.
    if (source && local + 30 + size > source.bytes.size) throw unreadable();
    const data = source ? undefined : dataInMemory(zip, local, size);
    // Bit 0 of the flags: encrypted. Only stored (0) and deflated (8) entries are readable.
    const method = zip.readUInt16LE(pos + 8) & 1 ? -1 : zip.readUInt16LE(pos + 10);
    const name = zip
      .toString('utf8', pos + 46, nameEnd)
      .replace(/\\/g, '/')
      .replace(/^\/+/, '')
      .toLowerCase();
    const entry = { method, packed: size, size: uncompressed, local };
    entries.set(name, { ...entry, ...(data ? { data } : { source: source?.bytes }) });
    pos = nameEnd + zip.readUInt16LE(pos + 30) + zip.readUInt16LE(pos + 32);
  }
  return entries;
}

/** A readable entry that declares at most `limit` bytes (a stored one holds what it declares). */
function checkedEntry(entry: ZipEntry, limit = PART_LIMIT): ZipEntry {
  if (entry.method !== 0 && entry.method !== 8) throw unreadable();
  if (entry.size > limit) throw inflatedTooLarge();
  if (entry.method === 0 && entry.packed !== entry.size) throw inflatedMismatch();
  return entry;
}

const inflatedTooLarge = () =>
  new RosterFileError('ROSTER_FILE_TOO_LARGE', '文件解压后过大：请只保留名单所需的工作表和列，或拆分后分批导入');
const inflatedMismatch = () =>
  new RosterFileError('ROSTER_FILE_UNREADABLE', '无法读取该文件：压缩包已损坏（解压后的大小与文件记录的不符）');

/** Where a ranged entry's data starts (its local header read), checked against the file's size. */
async function dataStart(entry: ZipEntry, source: ByteSource): Promise<number> {
  const header = await source.read(entry.local, 30);
  if (header.length < 30 || header.readUInt32LE(0) !== 0x04034b50) throw unreadable();
  const start = entry.local + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (start + entry.packed > source.size) throw unreadable();
  return start;
}

/** A ranged entry's compressed data read into memory (small parts only: workbook, relationships). */
async function loadEntry(entry: ZipEntry | undefined): Promise<void> {
  if (!entry || entry.data || !entry.source) return;
  if (entry.packed > WHOLE_ENTRY_LIMIT) throw inflatedTooLarge();
  const data = await entry.source.read(await dataStart(entry, entry.source), entry.packed);
  if (data.length !== entry.packed) throw unreadable();
  entry.data = data;
}

/** The entry's compressed data in pieces: from memory, or read range by range. */
async function* compressed(entry: ZipEntry): AsyncGenerator<Buffer> {
  if (entry.data) {
    yield* slices(entry.data);
    return;
  }
  const source = entry.source as ByteSource;
  const start = await dataStart(entry, source);
  for (let at = 0; at < entry.packed; at += RANGE_READ) {
    const piece = await source.read(start + at, Math.min(RANGE_READ, entry.packed - at));
    if (piece.length === 0) throw unreadable();
    yield* slices(piece);
  }
}

/**
 * Decodes an XML part: UTF-8, or UTF-16 (by its BOM, or by `<?` written in two bytes, as some
 * Windows writers do without a BOM). Line ends are normalised as an XML parser does (XML 1.0
 * §2.11: CR LF and a lone CR become LF), so a line break reads as Excel shows it; a CR written as
 * `&#13;` or `_x000D_` is decoded later and stays.
 */
class XmlDecoder {
  private decoder: StringDecoder | undefined;
  private swap = false;
  private carry: Buffer | undefined;
  private cr = false;

  private start(head: Buffer): Buffer {
    if (head[0] === 0xff && head[1] === 0xfe) return this.use('utf16le', false, head.subarray(2));
    if (head[0] === 0xfe && head[1] === 0xff) return this.use('utf16le', true, head.subarray(2));
    if (head[0] === 0x3c && head[1] === 0x00) return this.use('utf16le', false, head);
    if (head[0] === 0x00 && head[1] === 0x3c) return this.use('utf16le', true, head);
    const bom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
    return this.use('utf8', false, bom ? head.subarray(3) : head);
  }

  private use(encoding: 'utf8' | 'utf16le', swap: boolean, rest: Buffer): Buffer {
    this.decoder = new StringDecoder(encoding);
    this.swap = swap;
    return rest;
  }

  write(chunk: Buffer): string {
    let bytes = this.decoder ? chunk : this.start(chunk);
    if (this.swap) {
      if (this.carry) bytes = Buffer.concat([this.carry, bytes]);
      const even = bytes.length - (bytes.length % 2);
      this.carry = even < bytes.length ? Buffer.from(bytes.subarray(even)) : undefined;
      bytes = Buffer.from(bytes.subarray(0, even)).swap16();
    }
    return this.lines((this.decoder as StringDecoder).write(bytes));
  }

  private lines(text: string): string {
    let out = this.cr ? '\r' + text : text;
    this.cr = out.endsWith('\r');
    if (this.cr) out = out.slice(0, -1);
    return out.includes('\r') ? out.replace(/\r\n?/g, '\n') : out;
  }

  end(): string {
    const tail = this.cr ? '\n' : '';
    this.cr = false;
    return tail;
  }
}

function readWhole(entries: Map<string, ZipEntry>, path: string): string | undefined {
  const entry = entries.get(path.toLowerCase());
  if (!entry) return undefined;
  const { method, data, size } = checkedEntry(entry, WHOLE_ENTRY_LIMIT);
  if (!data) throw unreadable(); // a ranged entry not loaded: openXlsxRanged loads every part read whole
  let bytes: Buffer;
  try {
    // One byte more than declared is enough to know the declaration was a lie.
    bytes = method === 0 ? data : inflateRawSync(data, { maxOutputLength: size + 1 });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw inflatedMismatch();
    throw unreadable();
  }
  if (bytes.length !== size) throw inflatedMismatch();
  const decoder = new XmlDecoder();
  return decoder.write(bytes) + decoder.end();
}

function* slices(data: Buffer): Generator<Buffer> {
  for (let i = 0; i < data.length; i += CHUNK) yield data.subarray(i, i + CHUNK);
}

/**
 * The entry's text, inflated and decoded chunk by chunk (sequences split across chunks are kept
 * whole). Inflating stops as soon as it outgrows the declared size; `checkpoint` runs before each
 * chunk (it throws when the invocation's time is up).
 */
async function* textChunks(entry: ZipEntry, checkpoint: Checkpoint = noCheckpoint): AsyncGenerator<string> {
  const { method, size } = checkedEntry(entry);
  const decoder = new XmlDecoder();
  if (method === 0) {
    for await (const slice of compressed(entry)) {
      checkpoint();
      yield decoder.write(slice);
    }
    yield decoder.end();
    return;
  }
  // A failing read of the stored file is not the file's fault: it is thrown as is (the job retries).
  const failure: { read?: unknown } = {};
  async function* reads(): AsyncGenerator<Buffer> {
    try {
      yield* compressed(entry);
    } catch (err) {
      failure.read = err;
      throw err;
    }
  }
  const inflated = pipeline(Readable.from(reads()), createInflateRaw({ chunkSize: CHUNK }), () => undefined);
  let total = 0;
  try {
    const chunks = inflated[Symbol.asyncIterator]();
    for (;;) {
      checkpoint();
      let next: IteratorResult<unknown>;
      try {
        next = await chunks.next();
      } catch {
        if ('read' in failure) throw failure.read;
        throw unreadable(); // corrupt or truncated deflate data
      }
      if (next.done) break;
      const chunk = next.value as Buffer;
      total += chunk.length;
      if (total > size) throw inflatedMismatch();
      yield decoder.write(chunk);
    }
  } finally {
    inflated.destroy(); // stopped early (a cap, the checkpoint, or the reader): no more inflating
  }
  if (total !== size) throw inflatedMismatch();
  yield decoder.end();
}

/** One element: its attributes, and its content (undefined when self-closing). */
export interface XmlElement {
  attrs: string;
  body: string | undefined;
}

const openTag = (tag: string) => new RegExp(`<(?:[\\w.-]+:)?${tag}(?=[\\s/>])`, 'g');
const closeTag = (tag: string) => new RegExp(`</(?:[\\w.-]+:)?${tag}\\s*>`, 'g');

/**
 * Every `<tag>` element of a text given in chunks, in document order, in time linear in the text:
 * no position is searched twice (an unfinished element resumes its search where the last one
 * stopped), and only the unfinished element stays buffered (at most `ELEMENT_LIMIT` characters).
 */
export async function* scanElements(
  chunks: AsyncIterable<string>,
  tag: string,
  tooLarge: RosterFileErrorCode,
): AsyncGenerator<XmlElement> {
  const open = openTag(tag);
  const close = closeTag(tag);
  let pending = '';
  let pos = 0; // where the next start tag is looked for
  let at = -1; // the unfinished element's `<`, or -1
  let attrsFrom = 0;
  let gtFrom = 0; // where its start tag's `>` is looked for
  let bodyFrom = -1; // its content's start, once its start tag is complete
  let closeFrom = 0; // where its end tag is looked for
  for await (const text of chunks) {
    pending += text;
    for (;;) {
      if (at < 0) {
        open.lastIndex = pos;
        const m = open.exec(pending);
        if (!m) {
          pos = Math.max(pos, pending.length - TAG_SPAN);
          break;
        }
        at = m.index;
        attrsFrom = gtFrom = at + m[0].length;
      }
      if (bodyFrom < 0) {
        const gt = pending.indexOf('>', gtFrom);
        if (gt < 0) {
          gtFrom = pending.length;
          break;
        }
        if (pending.charAt(gt - 1) === '/') {
          yield { attrs: pending.slice(attrsFrom, gt - 1), body: undefined };
          pos = gt + 1;
          at = -1;
          continue;
        }
        bodyFrom = closeFrom = gt + 1;
      }
      close.lastIndex = closeFrom;
      const c = close.exec(pending);
      if (!c) {
        closeFrom = Math.max(closeFrom, pending.length - TAG_SPAN);
        break;
      }
      yield { attrs: pending.slice(attrsFrom, bodyFrom - 1), body: pending.slice(bodyFrom, c.index) };
      pos = close.lastIndex;
      at = bodyFrom = -1;
    }
    // Keep only the unfinished element (or the tail a start tag may begin in).
    const cut = at >= 0 ? at : Math.min(pos, pending.length);
    if (cut > 0) {
      pending = pending.slice(cut);
      pos -= cut;
      if (at >= 0) {
        at -= cut;
        attrsFrom -= cut;
        gtFrom -= cut;
        if (bodyFrom >= 0) {
          bodyFrom -= cut;
          closeFrom -= cut;
        }
      }
    }
    if (pending.length > ELEMENT_LIMIT) throw new RosterFileError(tooLarge);
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

/**
 * Attribute runs stop at the next `<` as well as at `>` (a raw `<` cannot appear inside a tag): an
 * unclosed tag repeated many times then costs one scan each up to the next tag, not to the end.
 */
function elements(xml: string, tag: string): string[] {
  const re = new RegExp(`<(?:[\\w.-]+:)?${tag}(?=[\\s/>])([^<>]*?)\\/?>`, 'g');
  return Array.from(xml.matchAll(re), (m) => m[1] ?? '');
}

const PLAIN_TEXT = /^<(?:[\w.-]+:)?t(?:\s[^<>]*)?>([^<]*)<\/(?:[\w.-]+:)?t>$/;
/** The tags that matter in a string's content: `<t>` runs, and `<rPh>` (phonetic) runs to drop. */
const TEXT_TAG = /<(\/?)(?:[\w.-]+:)?(t|rPh)(?=[\s/>])[^<>]*?(\/?)>/g;

/** `<t>` texts of a shared or inline string, rich-text runs concatenated, phonetic runs dropped (linear). */
function richText(xml: string): string {
  const plain = PLAIN_TEXT.exec(xml);
  if (plain) return decodeXml(plain[1] ?? '');
  let text = '';
  let phonetic = 0;
  let textFrom = -1;
  TEXT_TAG.lastIndex = 0;
  for (let m = TEXT_TAG.exec(xml); m; m = TEXT_TAG.exec(xml)) {
    const [, closing, tag, selfClosing] = m;
    if (tag === 'rPh') {
      if (!selfClosing) phonetic = closing ? Math.max(0, phonetic - 1) : phonetic + 1;
    } else if (closing) {
      if (textFrom >= 0 && phonetic === 0) text += xml.slice(textFrom, m.index);
      textFrom = -1;
    } else if (!selfClosing) textFrom = TEXT_TAG.lastIndex;
  }
  return decodeXml(text);
}

/**
 * The shared strings, compact: UTF-8 in 4 MB blocks with a start offset per string, not one JS
 * string each (a JS string costs ~40 bytes of overhead: 3M distinct texts, a 1M-row roster's IDs,
 * phones and staff numbers, would take ~150 MB as strings, ~50 MB here).
 */
export class SharedStrings {
  private static readonly BLOCK = 1 << 22;
  private readonly blocks: Buffer[] = [];
  private used = SharedStrings.BLOCK;
  private starts = new Uint32Array(1024);
  /** Texts too long for a block, by index (rare: a cell of more than ~1M characters). */
  private readonly long = new Map<number, string>();
  length = 0;
  bytes = 0;

  push(text: string): void {
    if (this.length === this.starts.length) {
      const grown = new Uint32Array(this.starts.length * 2);
      grown.set(this.starts);
      this.starts = grown;
    }
    const size = Buffer.byteLength(text, 'utf8');
    this.bytes += size;
    if (size + 4 > SharedStrings.BLOCK) {
      this.long.set(this.length, text);
      this.length += 1;
      return;
    }
    if (this.used + size + 4 > SharedStrings.BLOCK) {
      this.blocks.push(Buffer.allocUnsafe(SharedStrings.BLOCK));
      this.used = 0;
    }
    const block = this.blocks[this.blocks.length - 1] as Buffer;
    block.writeUInt32LE(size, this.used);
    block.write(text, this.used + 4, 'utf8');
    this.starts[this.length] = (this.blocks.length - 1) * SharedStrings.BLOCK + this.used;
    this.used += size + 4;
    this.length += 1;
  }

  get(index: number): string | undefined {
    if (!(index >= 0 && index < this.length)) return undefined;
    const long = this.long.get(index);
    if (long !== undefined) return long;
    const start = this.starts[index] as number;
    const block = this.blocks[Math.floor(start / SharedStrings.BLOCK)] as Buffer;
    const at = start % SharedStrings.BLOCK;
    return block.toString('utf8', at + 4, at + 4 + block.readUInt32LE(at));
  }
}

/** Shared strings kept at most (their offsets cost 4 bytes each): 1M rows × 8 distinct texts. */
export const MAX_SHARED_STRINGS = 8 * 1024 * 1024;

/** The shared strings table, streamed (it holds every distinct text of the workbook). */
async function readSharedStrings(entry: ZipEntry | undefined, checkpoint: Checkpoint): Promise<SharedStrings> {
  const strings = new SharedStrings();
  if (!entry) return strings;
  for await (const { body } of scanElements(textChunks(entry, checkpoint), 'si', 'ROSTER_TOO_MANY_STRINGS')) {
    strings.push(cappedText(richText(body ?? '')));
    if (strings.bytes > SHARED_STRINGS_LIMIT || strings.length > MAX_SHARED_STRINGS) {
      throw new RosterFileError('ROSTER_TOO_MANY_STRINGS');
    }
  }
  return strings;
}

/** Relationship targets resolve against the part's folder; a leading `/` is the package root. */
function resolvePath(base: string, target: string): string {
  const parts = target.startsWith('/') ? [] : base.split('/').slice(0, -1);
  for (const part of target.replace(/\\/g, '/').split('/')) {
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

/** "AB" → 27 (A = 0). Past Excel's last column (XFD) the file is refused. */
function columnIndex(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + ch.charCodeAt(0) - 64;
  if (n > MAX_COLUMNS) throw new RosterFileError('ROSTER_TOO_MANY_COLUMNS');
  return n - 1;
}

/** A row number as written; past Excel's last row the file is refused. */
function rowIndex(digits: string): number {
  const n = Number(digits);
  if (n > MAX_ROWS) throw new RosterFileError('ROSTER_TOO_MANY_ROWS');
  return n;
}

/** A `<row>`'s number: as written, else after the previous one; past Excel's last row the file is refused. */
function rowNumberOf(attrs: string, previous: number): number {
  const r = ROW_NUMBER.exec(attrs)?.[1];
  const n = r ? rowIndex(r) : previous + 1;
  if (n > MAX_ROWS) throw new RosterFileError('ROSTER_TOO_MANY_ROWS');
  return n;
}

const ROW_NUMBER = /(?:^|\s)r\s*=\s*["'](\d+)["']/;
const CELL_REF = /(?:^|\s)r\s*=\s*["']\$?([A-Za-z]{1,3})\$?\d*["']/;
const CELL_TYPE = /(?:^|\s)t\s*=\s*["'](\w+)["']/;
const VALUE = /<(?:[\w.-]+:)?v(?:\s[^<>]*)?>([^<]*)</;
const MERGE_REF = /(?:^|\s)ref\s*=\s*["']\$?([A-Za-z]{1,3})\$?(\d+)(?::\$?([A-Za-z]{1,3})\$?(\d+))?["']/;
const CELL_OPEN = openTag('c');
const CELL_CLOSE = closeTag('c');
/** An ISO 8601 date, date-time or time (`t="d"`), read as the wall-clock time written. */
const ISO_DATE =
  /^(?:(\d{4})-(\d{2})-(\d{2}))?(?:[T ]?(\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?)?(?:Z|[+-]\d{2}:?\d{2})?$/;

const stringCell = (value: string | undefined): Cell => (value ? { value: cappedText(value), type: 'string' } : EMPTY);

/**
 * The Excel serial of an ISO date-time (`t="d"`): the time as written, whatever the zone suffix
 * and whatever the server's time zone (Excel shows the written wall-clock time). Undefined when
 * it is not one.
 */
export function isoSerial(text: string): number | undefined {
  const m = ISO_DATE.exec(text.trim());
  if (!m || (m[1] === undefined && m[4] === undefined)) return undefined;
  const [, y, mo, d, h = '0', mi = '0', sec = '0'] = m;
  const days =
    y === undefined ? 0 : (Date.UTC(Number(y), Number(mo) - 1, Number(d)) - Date.UTC(1899, 11, 30)) / 86_400_000;
  const serial = days + (Number(h) * 3600 + Number(mi) * 60 + Number(sec)) / 86_400;
  return Number.isFinite(serial) ? serial : undefined;
}

function cellOf(type: string | undefined, body: string, sst: SharedStrings, date1904: boolean): Cell {
  if (type === 'inlineStr') return stringCell(richText(body));
  const v = VALUE.exec(body)?.[1];
  if (v === undefined || v === '') return EMPTY; // a formula without a cached value, or no value at all
  switch (type) {
    case 's':
      return stringCell(sst.get(Number(v)));
    case 'str':
    case 'e':
      return stringCell(decodeXml(v));
    case 'b':
      return { value: v === '1' || v === 'true', type: 'boolean' };
    case 'd': {
      const serial = isoSerial(decodeXml(v));
      if (serial === undefined) return stringCell(decodeXml(v));
      return { value: date1904 ? serial - DAYS_1900_TO_1904 : serial, type: 'number' };
    }
    default: {
      const value = Number(v);
      return Number.isNaN(value) ? EMPTY : { value, type: 'number' };
    }
  }
}

/** Puts a cell at its reference (or after the previous one); answers its column. */
function placeCell(cells: Cell[], previous: number, attrs: string, cell: Cell): number {
  const ref = CELL_REF.exec(attrs)?.[1];
  const column = ref ? columnIndex(ref) : previous + 1;
  if (column >= MAX_COLUMNS) throw new RosterFileError('ROSTER_TOO_MANY_COLUMNS');
  if (cell.type !== 'empty') {
    while (cells.length < column) cells.push(EMPTY);
    cells[column] = cell;
  }
  return column;
}

/**
 * The cells of a row's content, in one pass: a cell ends at its `</c>` or, when a writer (or an
 * attacker) left it unclosed, where the next cell starts. The next `</c>` is searched once and
 * remembered, so a row of unclosed cells costs linear time, not quadratic.
 */
function cellsInto(cells: Cell[], body: string, sst: SharedStrings, date1904: boolean): void {
  let column = -1;
  let close = -1;
  CELL_OPEN.lastIndex = 0;
  let m = CELL_OPEN.exec(body);
  while (m) {
    const gt = body.indexOf('>', m.index + m[0].length);
    if (gt < 0) return;
    const selfClosing = body.charAt(gt - 1) === '/';
    const attrs = body.slice(m.index + m[0].length, selfClosing ? gt - 1 : gt);
    CELL_OPEN.lastIndex = gt + 1;
    const next = CELL_OPEN.exec(body);
    let inner = '';
    if (!selfClosing) {
      if (close < gt && close !== Infinity) {
        CELL_CLOSE.lastIndex = gt + 1;
        close = CELL_CLOSE.exec(body)?.index ?? Infinity;
      }
      inner = body.slice(gt + 1, Math.min(close, next ? next.index : body.length));
    }
    column = placeCell(cells, column, attrs, cellOf(CELL_TYPE.exec(attrs)?.[1], inner, sst, date1904));
    m = next;
  }
}

/** What a reader is opened with: `checkpoint` runs before each 64 KB of a streamed part is inflated. */
export interface XlsxOptions {
  checkpoint?: Checkpoint;
}

/** Opens an .xlsx Buffer; throws ROSTER_FILE_UNREADABLE unless it is a zip holding a workbook. */
export function openXlsx(zip: Buffer, options: XlsxOptions = {}): WorkbookSource {
  return workbookOf(readZipDirectory(zip), options);
}

/** The end of the file read to find the central directory: its end record and the longest comment. */
const TAIL = 22 + 0xffff;

/**
 * Opens an .xlsx that is not held in memory: the central directory is read from the file's end,
 * the workbook and its relationships whole, and the sheet and shared strings as ranges while
 * they are streamed. Memory holds one range at a time, whatever the file's size.
 */
export async function openXlsxRanged(source: ByteSource, options: XlsxOptions = {}): Promise<WorkbookSource> {
  const tailFrom = Math.max(0, source.size - TAIL);
  const tail = await source.read(tailFrom, source.size - tailFrom);
  const end = endOfDirectory(tail);
  if (end < 0) throw unreadable();
  // The directory itself (usually a few KB) may start before the tail read.
  const dirOffset = tail.readUInt32LE(end + 16);
  const dirSize = tail.readUInt32LE(end + 12);
  if (dirOffset + dirSize > source.size || dirSize > WHOLE_ENTRY_LIMIT) throw unreadable();
  const base = Math.min(tailFrom, dirOffset);
  const zip = base < tailFrom ? Buffer.concat([await source.read(base, tailFrom - base), tail]) : tail;
  const entries = readZipDirectory(zip, { base, bytes: source });
  const relsOf = (part: string) => {
    const slash = part.lastIndexOf('/');
    return `${part.slice(0, slash + 1)}_rels/${part.slice(slash + 1)}.rels`.toLowerCase();
  };
  await loadEntry(entries.get(relsOf('')));
  const workbookPath = workbookPathOf(entries);
  await loadEntry(entries.get(workbookPath.toLowerCase()));
  await loadEntry(entries.get(relsOf(workbookPath)));
  return workbookOf(entries, options);
}

function workbookPathOf(entries: Map<string, ZipEntry>): string {
  return relationships(entries, '').find((rel) => rel.type.endsWith('/officeDocument'))?.path ?? 'xl/workbook.xml';
}

function workbookOf(entries: Map<string, ZipEntry>, { checkpoint = noCheckpoint }: XlsxOptions): WorkbookSource {
  if (entries.has('xl/workbook.bin')) throw new RosterFileError('ROSTER_FILE_XLSB');
  if (entries.has('content.xml') && entries.has('mimetype')) throw new RosterFileError('ROSTER_FILE_ODS');
  const workbookPath = workbookPathOf(entries);
  if (workbookPath.toLowerCase().endsWith('.bin')) throw new RosterFileError('ROSTER_FILE_XLSB');
  const workbook = readWhole(entries, workbookPath);
  if (workbook === undefined) throw unreadable();
  const rels = relationships(entries, workbookPath);
  const date1904 = /^(1|true)$/.test(attr(elements(workbook, 'workbookPr')[0] ?? '', 'date1904') ?? '');
  const sheets = elements(workbook, 'sheet').flatMap((attrs) => {
    const path = rels.find((rel) => rel.id === attr(attrs, '(?:[\\w.-]+:)?id'))?.path;
    const entry = path === undefined ? undefined : entries.get(path.toLowerCase());
    const state = attr(attrs, 'state');
    return entry
      ? [{ name: attr(attrs, 'name') ?? '', hidden: state === 'hidden' || state === 'veryHidden', entry }]
      : [];
  });
  const sstPath = rels.find((rel) => rel.type.endsWith('/sharedStrings'))?.path ?? 'xl/sharedStrings.xml';
  const sstEntry = entries.get(sstPath.toLowerCase());
  let sst: SharedStrings | undefined;

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
      const chunks = textChunks(sheetEntry(name), checkpoint);
      for await (const { attrs } of scanElements(chunks, 'mergeCell', 'ROSTER_TOO_MANY_MERGES')) {
        const m = MERGE_REF.exec(attrs);
        if (!m) continue;
        if (ranges.length >= MAX_MERGES) throw new RosterFileError('ROSTER_TOO_MANY_MERGES');
        const [, c1 = 'A', r1 = '1', c2 = c1, r2 = r1] = m;
        ranges.push({
          s: { r: rowIndex(r1) - 1, c: columnIndex(c1) },
          e: { r: rowIndex(r2) - 1, c: columnIndex(c2) },
        });
      }
      return ranges;
    },
    async *rows(name, options = {}): AsyncGenerator<SheetRow> {
      const entry = sheetEntry(name);
      const skip = options.skip ?? (() => false);
      sst ??= await readSharedStrings(sstEntry, checkpoint);
      let rowNumber = 0;
      // Some writers (Open XML SDK style) write one <row r="N"> per cell: the cells of consecutive
      // elements with one number are one row, as Excel shows them.
      let current: SheetRow | undefined;
      const chunks = textChunks(entry, checkpoint);
      for await (const { attrs, body } of scanElements(chunks, 'row', 'ROSTER_TOO_MANY_COLUMNS')) {
        const next = rowNumberOf(attrs, rowNumber);
        if (current && next !== rowNumber) {
          if (current.cells.length > 0) yield current;
          current = undefined;
        }
        rowNumber = next;
        if (skip(rowNumber)) continue; // read by an earlier slice: its cells are not parsed
        current ??= { rowNumber, cells: [] };
        if (body) cellsInto(current.cells, body, sst, date1904);
      }
      if (current && current.cells.length > 0) yield current;
    },
  };
}
