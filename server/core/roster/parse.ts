/**
 * The roster import entry point: file → sheet → header row → validated records, in batches.
 *
 *   const roster = await openRoster(buffer, { fileName, sheet });   // throws RosterFileError
 *   for await (const batch of roster.batches({ size: 1000, afterRow })) {
 *     await upsert(batch.records); report(batch.errors);
 *     saveCursor(batch.lastRow);   // resume later with { afterRow: batch.lastRow }
 *     if (batch.done) total = batch.dataRows;
 *   }
 *
 * Each call of `batches` streams the sheet again from the start: rows up to `afterRow` are still
 * validated (so a duplicate of an earlier ID is caught after a resume) but not returned.
 */
import type { RosterRowError } from '../../../miniprogram/shared/contracts';
import { mapHeader, ROSTER_FIELDS, type FieldSpec, type RosterColumn } from './columns';
import { openWorkbook, openWorkbookRanged, type XlsxReader } from './read';
import type { ByteSource } from './xlsx-stream';
import {
  EMPTY,
  RosterFileError,
  type Cell,
  type CellRange,
  type Checkpoint,
  type FileFormat,
  type SheetRow,
  type WorkbookSource,
} from './types';
import type { IdIndex } from './id-index';
import { isBlankRow, RowValidator, type RosterRecord } from './validate';

/** A header row is looked for among the first non-blank rows of a sheet (title rows come first). */
export const HEADER_SCAN_ROWS = 10;
export const DEFAULT_BATCH_SIZE = 1000;

export interface RosterOptions {
  /** Only used to refuse text files that are not .csv/.txt/.tsv. */
  fileName?: string;
  /** Sheet name; default: the first visible sheet with a recognisable header row. */
  sheet?: string;
  /** Upper bound for ID birth dates (default: now). */
  now?: Date;
  /** .xlsx only: the streaming reader (default) or SheetJS. */
  reader?: XlsxReader;
  fields?: readonly FieldSpec[];
  /** Called every `CHECKPOINT_ROWS` rows (and by the .xlsx reader every 64 KB); throws when time is up. */
  checkpoint?: Checkpoint;
}

/** Rows between two checkpoints. */
export const CHECKPOINT_ROWS = 256;

export interface RosterBatch {
  /** At most `size` records. */
  records: RosterRecord[];
  /** Row errors of the rows in this batch. */
  errors: RosterRowError[];
  /** Spreadsheet row number of the last row in this batch (0 when empty): the resume cursor. */
  lastRow: number;
  /** Non-blank data rows so far, from the top of the sheet (on the `done` batch: the total). */
  dataRows: number;
  /** The last batch (possibly empty). */
  done: boolean;
}

export interface BatchOptions {
  size?: number;
  /** Rows up to this one are not returned (still validated, unless `resume`). */
  afterRow?: number;
  /** IDs seen so far, kept up to date (a prepare that pauses saves them). */
  ids?: IdIndex;
  /**
   * Rows up to `afterRow` were validated by an earlier slice (their IDs are in `ids`): they are
   * skipped unread, and data rows are counted from `dataRows`.
   */
  resume?: { dataRows: number };
}

export interface RosterImport {
  format: FileFormat;
  sheet: string;
  headerRow: number;
  columns: RosterColumn[];
  batches(options?: BatchOptions): AsyncGenerator<RosterBatch>;
}

export interface RosterParseResult {
  format: FileFormat;
  sheet: string;
  headerRow: number;
  columns: RosterColumn[];
  /** Non-blank data rows. */
  total: number;
  records: RosterRecord[];
  errors: RosterRowError[];
}

/**
 * Work one pass over a sheet may do, in cells: a roster of 1,048,576 rows × 16 columns is 17M, so
 * this only stops files whose cost is out of proportion to their size (a 30-byte cell at column XFD
 * on every row, or merged ranges stacked over the whole sheet), quickly and with their own code.
 */
export const CELL_BUDGET = 40_000_000;
export const MERGE_BUDGET = 40_000_000;
/**
 * Characters of cell text one pass over a sheet may read (ROSTER_TOO_MUCH_TEXT): 256 per row at
 * Excel's 1,048,576 rows, where a roster row is ~100. A cell is at most 32,767 characters, but one
 * shared string may be referenced by every cell: 32 KB × 1M cells would be 32G characters to
 * normalise, validate and store; this stops such a file after ~8,000 of them.
 */
export const TEXT_BUDGET = 256 * 1024 * 1024;

/** Characters of text a row's cells hold. */
function textOf(cells: readonly Cell[]): number {
  let chars = 0;
  for (const cell of cells) if (cell.type === 'string') chars += (cell.value as string).length;
  return chars;
}

/** The empty cells of `range`'s columns in a row take the range's value. */
function fill(cells: Cell[], range: CellRange, cell: Cell): void {
  for (let c = range.s.c; c <= range.e.c; c += 1) {
    while (cells.length <= c) cells.push(EMPTY);
    if (cells[c]?.type === 'empty') cells[c] = cell;
  }
}

/**
 * Merged ranges show their top-left value in every cell of the range: filled in so that a merged
 * header labels each of its columns and a merged department covers each of its rows.
 */
async function* withMerges(
  rows: AsyncIterable<SheetRow>,
  merges: readonly CellRange[],
  checkpoint: Checkpoint = () => undefined,
): AsyncGenerator<SheetRow> {
  const starts = [...merges].sort((a, b) => a.s.r - b.s.r);
  let next = 0;
  let active: { range: CellRange; cell: Cell }[] = [];
  let cellWork = 0;
  let mergeWork = 0;
  let textWork = 0;
  const spend = (cells: readonly Cell[]) => {
    textWork += textOf(cells);
    if (textWork > TEXT_BUDGET) throw new RosterFileError('ROSTER_TOO_MUCH_TEXT');
  };
  let seen = 0;
  for await (const row of rows) {
    if (++seen % CHECKPOINT_ROWS === 0) checkpoint();
    cellWork += row.cells.length + 1;
    if (cellWork > CELL_BUDGET) throw new RosterFileError('ROSTER_TOO_MANY_COLUMNS');
    const r = row.rowNumber - 1;
    mergeWork += active.length;
    if (mergeWork > MERGE_BUDGET) throw new RosterFileError('ROSTER_TOO_MANY_MERGES');
    active = active.filter(({ range }) => range.e.r >= r);
    for (let range = starts[next]; range && range.s.r <= r; range = starts[++next]) {
      if (range.e.r >= r) active.push({ range, cell: range.s.r === r ? (row.cells[range.s.c] ?? EMPTY) : EMPTY });
    }
    const fills = active.filter(({ cell }) => cell.type !== 'empty');
    if (fills.length === 0) {
      spend(row.cells);
      yield row;
      continue;
    }
    const cells = [...row.cells];
    for (const { range, cell } of fills) {
      mergeWork += range.e.c - range.s.c + 1;
      if (mergeWork > MERGE_BUDGET) throw new RosterFileError('ROSTER_TOO_MANY_MERGES');
      fill(cells, range, cell);
    }
    spend(cells);
    yield { rowNumber: row.rowNumber, cells };
  }
}

async function findHeader(
  rows: () => AsyncIterable<SheetRow>,
  merges: readonly CellRange[],
  fields: readonly FieldSpec[],
): Promise<{ headerRow: number; columns: RosterColumn[] } | null> {
  let header: { headerRow: number; columns: RosterColumn[] } | null = null;
  let seen = 0;
  for await (const row of rows()) {
    if (isBlankRow(row)) continue;
    const columns = mapHeader(row.cells, fields);
    if (columns) header = { headerRow: row.rowNumber, columns };
    seen += 1;
    if (header || seen >= HEADER_SCAN_ROWS) break;
  }
  // A two-level header: cells merged down from the header row (姓名 over A2:A3) make the block's
  // bottom row the real header; thanks to the fill it holds every label (手机号 under 联系方式).
  if (!header) return null;
  const top = header.headerRow;
  const bottom = Math.max(top, ...merges.filter((m) => m.s.r === top - 1).map((m) => m.e.r + 1));
  if (bottom === top) return header;
  for await (const row of rows()) {
    if (row.rowNumber < bottom) continue;
    const columns = row.rowNumber === bottom ? mapHeader(row.cells, fields) : null;
    return { headerRow: bottom, columns: columns ?? header.columns };
  }
  return { headerRow: bottom, columns: header.columns };
}

function isDataRow(row: SheetRow, headerRow: number, validator: RowValidator): boolean {
  return row.rowNumber > headerRow && !isBlankRow(row) && !validator.isExample(row);
}

/** A data row below the header that is neither blank nor the template's example. */
async function hasData(rows: AsyncIterable<SheetRow>, headerRow: number, validator: RowValidator): Promise<boolean> {
  for await (const row of rows) {
    if (row.rowNumber > headerRow && !isBlankRow(row) && !validator.isExample(row)) return true;
  }
  return false;
}

/** Picks the sheet and its header row over any `WorkbookSource` (the readers, or a test double). */
export async function openRosterSource(source: WorkbookSource, options: RosterOptions = {}): Promise<RosterImport> {
  const fields = options.fields ?? ROSTER_FIELDS;
  const candidates =
    options.sheet === undefined
      ? source.sheets.filter((s) => !s.hidden)
      : source.sheets.filter((s) => s.name === options.sheet);
  if (candidates.length === 0)
    throw new RosterFileError(options.sheet === undefined ? 'ROSTER_NO_HEADER' : 'ROSTER_SHEET_NOT_FOUND');
  for (const { name: sheet } of candidates) {
    const merges = await source.merges(sheet);
    const rows = (skipThrough = 0) => {
      // A merged range that starts at or before `skipThrough` and ends after it fills later rows:
      // its top row is still read.
      const tops = new Set(merges.filter((m) => m.s.r < skipThrough && m.e.r >= skipThrough).map((m) => m.s.r + 1));
      const skip = skipThrough > 0 ? (r: number) => r <= skipThrough && !tops.has(r) : undefined;
      return withMerges(source.rows(sheet, skip ? { skip } : {}), merges, options.checkpoint);
    };
    const header = await findHeader(rows, merges, fields);
    if (!header) continue;
    const { headerRow, columns } = header;
    const roster: RosterImport = {
      format: source.format,
      sheet,
      headerRow,
      columns,
      async *batches({ size = DEFAULT_BATCH_SIZE, afterRow = 0, ids, resume }: BatchOptions = {}) {
        const validator = new RowValidator(columns, { now: options.now, date1904: source.date1904, ids });
        let dataRows = resume?.dataRows ?? 0;
        const start = (): RosterBatch => ({ records: [], errors: [], lastRow: 0, dataRows, done: false });
        let batch = start();
        let rowsInBatch = 0;
        const readBefore = resume ? afterRow : 0; // rows an earlier slice validated
        for await (const row of rows(readBefore)) {
          if (!isDataRow(row, headerRow, validator) || row.rowNumber <= readBefore) continue;
          dataRows += 1;
          const outcome = validator.validate(row);
          if (row.rowNumber <= afterRow) continue;
          if (Array.isArray(outcome)) batch.errors.push(...outcome);
          else batch.records.push(outcome);
          batch.lastRow = row.rowNumber;
          batch.dataRows = dataRows;
          rowsInBatch += 1;
          if (rowsInBatch >= size) {
            yield batch;
            batch = start();
            rowsInBatch = 0;
          }
        }
        yield { ...batch, dataRows, done: true };
      },
    };
    if (!(await hasData(rows(), headerRow, new RowValidator(columns)))) throw new RosterFileError('ROSTER_NO_DATA');
    return roster;
  }
  throw new RosterFileError('ROSTER_NO_HEADER');
}

/** Opens a roster file: format, sheet and header row. Throws RosterFileError. */
export async function openRoster(buffer: Buffer, options: RosterOptions = {}): Promise<RosterImport> {
  return openRosterSource(await openWorkbook(buffer, options), options);
}

/** Opens a roster file read by ranges (see read.ts `openWorkbookRanged`). Throws RosterFileError. */
export async function openRosterRanged(
  file: ByteSource & { head: Buffer },
  options: RosterOptions = {},
): Promise<RosterImport> {
  return openRosterSource(await openWorkbookRanged(file, options), options);
}

/** The whole file in memory at once: for small files, tests and dry runs (prefer `openRoster().batches()`). */
export async function parseRoster(buffer: Buffer, options: RosterOptions = {}): Promise<RosterParseResult> {
  const { format, sheet, headerRow, columns, batches } = await openRoster(buffer, options);
  const result: RosterParseResult = { format, sheet, headerRow, columns, total: 0, records: [], errors: [] };
  for await (const batch of batches()) {
    result.records.push(...batch.records);
    result.errors.push(...batch.errors);
    result.total = batch.dataRows;
  }
  return result;
}
