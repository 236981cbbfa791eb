/** Row validation: one spreadsheet row → a normalised record, or every problem of the row. */
import type { RosterRowError } from '../../../miniprogram/shared/contracts';
import { ERRORS, type ErrorCode } from '../../../miniprogram/shared/errors';
import { checkIdCard } from '../../../miniprogram/shared/idcard';
import { normalizeText } from '../../../miniprogram/shared/normalize';
import { checkName, checkPhone } from '../../../miniprogram/shared/person';
import type { RosterColumn, RosterField } from './columns';
import { IdIndex } from './id-index';
import { TEMPLATE_EXAMPLE_ID } from './template-marker';
import { DAYS_1900_TO_1904 } from './xlsx-stream';
import { EMPTY, type Cell, type SheetRow } from './types';

export interface RosterRecord {
  /** The spreadsheet's own row number. */
  row: number;
  name: string;
  /** 18 characters, upper-case X. */
  idCard: string;
  /** 11 digits, +86 and separators removed. */
  phone?: string;
  department?: string;
  employeeNo?: string;
  note?: string;
  /** YYYY-MM-DD when the cell was a date (serial number or a recognised text form), else as written. */
  startDate?: string;
}

export interface ValidateOptions {
  /** Upper bound of ID birth dates (default: now). */
  now?: Date;
  /** The workbook counts date serials from 1904. */
  date1904?: boolean;
  /** IDs seen so far (a prepare resumed in a later slice carries them over). */
  ids?: IdIndex;
}

/** The cell's text as a person reads it: NFKC + trim; numbers in plain digits. */
export function cellText(cell: Cell): string {
  if (cell.type === 'string') return normalizeText(cell.value as string);
  return cell.type === 'empty' ? '' : String(cell.value);
}

export function isBlankRow(row: SheetRow): boolean {
  return row.cells.every((cell) => cellText(cell) === '');
}

/** An ID that went through a number: Excel shows "4.40306E+17" and a CSV export keeps exactly that. */
const SCIENTIFIC = /^\d+(\.\d+)?e\+?\d+$/i;
const DATE_TEXT = /^(\d{4})(?:[-/.年])(\d{1,2})(?:[-/.月])(\d{1,2})日?$|^(\d{4})(\d{2})(\d{2})$/;

function isoDate(year: number, month: number, day: number): string | undefined {
  const date = new Date(Date.UTC(year, month - 1, day));
  if (year < 1900 || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return date.toISOString().slice(0, 10);
}

/**
 * Excel serials count days from 1899-12-30 (so 1900-03-01 = 61: Lotus's phantom 1900-02-29 is 60),
 * or from 1904-01-01 in 1904 workbooks; the fraction is the time of day. Text dates in the usual
 * forms (2024-01-02, 2024/1/2, 2024.1.2, 2024年1月2日, 20240102) are normalised too.
 */
export function dateText(cell: Cell, date1904 = false): string | undefined {
  const text = cellText(cell);
  if (cell.type === 'number' && !/^\d{8}$/.test(text)) {
    const serial = Math.floor(cell.value as number) + (date1904 ? DAYS_1900_TO_1904 : 0);
    if (serial <= 0) return text;
    if (!(serial <= MAX_SERIAL)) return undefined; // past 9999-12-31 (or not a number): no date Excel shows
    const epoch = Date.UTC(1899, 11, serial < 61 ? 31 : 30);
    return new Date(epoch + serial * 86_400_000).toISOString().slice(0, 10);
  }
  const m = DATE_TEXT.exec(text);
  if (!m) return text;
  const [year, month, day] = (m[1] ? m.slice(1, 4) : m.slice(4, 7)).map(Number) as [number, number, number];
  return isoDate(year, month, day) ?? text;
}

/** Excel's last date, 9999-12-31. */
const MAX_SERIAL = 2_958_465;

const OPTIONAL_TEXT = ['department', 'employeeNo', 'note'] as const;

/**
 * The longest text each optional field takes (ROW_FIELD_TOO_LONG, a row error): what a person's
 * phone, department, staff number, note or date can sensibly be. Without them one long text
 * referenced by every row would be stored, encrypted, a million times.
 */
export const FIELD_MAX_CHARS = { phone: 32, department: 64, employeeNo: 32, note: 200, startDate: 32 } as const;

/** The longest header text a row error repeats (a header cell may hold up to 32,767 characters). */
export const MAX_COLUMN_CHARS = 64;

const columnLabel = (header: string) =>
  header.length > MAX_COLUMN_CHARS ? `${header.slice(0, MAX_COLUMN_CHARS)}…` : header;

type Fail = (field: RosterField, code: ErrorCode, message?: string) => undefined;

/** Validates rows in file order; remembers ID numbers to flag in-file duplicates. */
export class RowValidator {
  /** Normalised ID → the row where it first appeared (with or without other errors). */
  private readonly firstRows: IdIndex;
  private readonly columns: Partial<Record<RosterField, RosterColumn>>;

  constructor(
    columns: readonly RosterColumn[],
    private readonly options: ValidateOptions = {},
  ) {
    this.firstRows = options.ids ?? new IdIndex();
    this.columns = Object.fromEntries(columns.map((column) => [column.field, column]));
  }

  /** The row is the template's example (its ID is the template's marker): it is never imported. */
  isExample(row: SheetRow): boolean {
    return this.read(row, 'idCard').text.toUpperCase() === TEMPLATE_EXAMPLE_ID;
  }

  /** The field's cell (the first non-blank one when its header is merged) and its text. */
  private read(row: SheetRow, field: RosterField): { cell: Cell; text: string } {
    for (const index of this.columns[field]?.indexes ?? []) {
      const cell = row.cells[index] ?? EMPTY;
      const text = cellText(cell);
      if (text !== '') return { cell, text };
    }
    return { cell: EMPTY, text: '' };
  }

  private idCard(row: SheetRow, fail: Fail): string | undefined {
    const { cell, text } = this.read(row, 'idCard');
    if (text === '') return fail('idCard', 'ROW_REQUIRED');
    if (cell.type === 'number' || SCIENTIFIC.test(text)) return fail('idCard', 'ROW_ID_NUMERIC');
    const check = checkIdCard(text, this.options.now);
    if (!check.ok) return fail('idCard', check.code);
    const first = this.firstRows.get(check.value);
    if (first !== undefined) return fail('idCard', 'ROW_DUPLICATE', `与第 ${first} 行身份证号重复`);
    this.firstRows.set(check.value, row.rowNumber);
    return check.value;
  }

  private error(row: SheetRow, field: RosterField, code: ErrorCode, message: string = ERRORS[code]): RosterRowError {
    return { row: row.rowNumber, column: columnLabel(this.columns[field]?.header ?? field), code, message };
  }

  /**
   * One row, in isolation: whatever a cell holds, the answer is a record or this row's errors (an
   * unexpected failure becomes ROW_UNREADABLE), never an exception that stops the import.
   */
  validate(row: SheetRow): RosterRecord | RosterRowError[] {
    try {
      return this.check(row);
    } catch {
      return [{ row: row.rowNumber, column: '', code: 'ROW_UNREADABLE', message: ERRORS.ROW_UNREADABLE }];
    }
  }

  /** Each optional field longer than it may be is one error of the row; answers which. */
  private tooLong(row: SheetRow, fail: Fail): Set<RosterField> {
    const fields = new Set<RosterField>();
    for (const [field, max] of Object.entries(FIELD_MAX_CHARS) as [keyof typeof FIELD_MAX_CHARS, number][]) {
      if (this.read(row, field).text.length <= max) continue;
      fields.add(field);
      fail(field, 'ROW_FIELD_TOO_LONG', `内容过长：该列最多 ${max} 个字符`);
    }
    return fields;
  }

  private check(row: SheetRow): RosterRecord | RosterRowError[] {
    const errors: RosterRowError[] = [];
    const fail: Fail = (field, code, message) => {
      errors.push(this.error(row, field, code, message));
      return undefined;
    };
    const nameText = this.read(row, 'name').text;
    const nameCheck = checkName(nameText);
    const name =
      nameText === '' ? fail('name', 'ROW_REQUIRED') : nameCheck.ok ? nameCheck.value : fail('name', nameCheck.code);
    const idCard = this.idCard(row, fail);
    // A phone stored as a number keeps all 11 digits (a double holds 15) and mobiles have no leading
    // zero to lose: it is accepted when its digits form a valid mobile number.
    const tooLong = this.tooLong(row, fail);
    const phoneText = this.read(row, 'phone').text;
    let phone: string | undefined;
    if (phoneText !== '' && !tooLong.has('phone')) {
      const check = checkPhone(phoneText);
      if (check.ok) phone = check.value;
      else fail('phone', check.code);
    }

    if (name === undefined || idCard === undefined || errors.length > 0) return errors;
    const record: RosterRecord = { row: row.rowNumber, name, idCard };
    if (phone !== undefined) record.phone = phone;
    for (const field of OPTIONAL_TEXT) {
      const { text } = this.read(row, field);
      if (text !== '') record[field] = text;
    }
    const startDate = dateText(this.read(row, 'startDate').cell, this.options.date1904);
    if (startDate === undefined) return [...errors, this.error(row, 'startDate', 'ROW_DATE_INVALID')];
    if (startDate !== '') record.startDate = startDate;
    return record;
  }
}
