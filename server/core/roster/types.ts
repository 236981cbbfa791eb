/** The shapes shared by the roster readers (streaming .xlsx, SheetJS, CSV) and the pipeline above them. */
import type { ErrorCode } from '../../../miniprogram/shared/errors';
import { AppError } from '../errors';

export type FileFormat = 'xlsx' | 'xls' | 'csv';

export type CellValue = string | number | boolean | null;
export type CellType = 'string' | 'number' | 'boolean' | 'empty';
export interface Cell {
  value: CellValue;
  type: CellType;
}

/** One spreadsheet row: `rowNumber` is 1-based as Excel shows it; `cells[i]` is column i (A = 0). */
export interface SheetRow {
  rowNumber: number;
  cells: Cell[];
}

/** A merged range, 0-based and inclusive (the `!merges` shape of SheetJS). */
export interface CellRange {
  s: { r: number; c: number };
  e: { r: number; c: number };
}

export interface SheetInfo {
  name: string;
  hidden: boolean;
}

/**
 * What every reader offers. `rows` yields, in order, only the rows that hold at least one value,
 * each trimmed after its last value; it may be iterated several times and stopped early.
 */
export interface WorkbookSource {
  format: FileFormat;
  sheets: SheetInfo[];
  /** The workbook counts dates from 1904 (old Mac Excel) instead of 1900. */
  date1904: boolean;
  merges(sheet: string): Promise<CellRange[]>;
  /** `skip`: rows the caller does not need (a reader may leave them out without parsing them). */
  rows(sheet: string, options?: { skip?: (rowNumber: number) => boolean }): AsyncIterable<SheetRow>;
}

export const EMPTY: Cell = Object.freeze({ value: null, type: 'empty' }) as Cell;

/**
 * Called by a reader every so often while it works (every 64 KB of a sheet, every few hundred
 * rows): it throws (ROSTER_TIMEOUT_TOO_SHORT) when the invocation's time is up.
 */
export type Checkpoint = () => void;

/** Excel's own limit of characters in a cell: every reader cuts longer text here. */
export const MAX_CELL_CHARS = 32_767;

/** Text as a cell holds it: at most `MAX_CELL_CHARS` characters (longer cannot come from Excel). */
export function cappedText(text: string): string {
  return text.length > MAX_CELL_CHARS ? text.slice(0, MAX_CELL_CHARS) : text;
}

export type RosterFileErrorCode = Extract<
  ErrorCode,
  | 'ROSTER_FILE_NOT_FOUND'
  | 'ROSTER_FILE_UNREADABLE'
  | 'ROSTER_FILE_TOO_LARGE'
  | 'ROSTER_SHEET_NOT_FOUND'
  | 'ROSTER_NO_HEADER'
  | 'ROSTER_NO_DATA'
  | 'ROSTER_FILE_XLSB'
  | 'ROSTER_FILE_ODS'
  | 'ROSTER_FILE_ENCRYPTED'
  | 'ROSTER_XLS_TOO_COMPLEX'
  | 'ROSTER_TOO_MANY_ROWS'
  | 'ROSTER_TOO_MANY_COLUMNS'
  | 'ROSTER_TOO_MANY_MERGES'
  | 'ROSTER_TOO_MANY_STRINGS'
  | 'ROSTER_TOO_MUCH_TEXT'
  | 'ROSTER_TIMEOUT_TOO_SHORT'
  | 'ROSTER_CHUNK_LOST'
  | 'ROSTER_FILE_CHANGED'
>;

/** A file-level failure: the whole import stops. `publicMessage` (also `message`) is Chinese and safe to show. */
export class RosterFileError extends AppError {
  override name = 'RosterFileError' as const;
  declare readonly code: RosterFileErrorCode;

  constructor(code: RosterFileErrorCode, publicMessage?: string) {
    super(code, { publicMessage });
  }
}

export function isRosterFileError(value: unknown): value is RosterFileError {
  return value instanceof RosterFileError;
}
