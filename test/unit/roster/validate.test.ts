import { ERRORS } from '../../../miniprogram/shared/errors';
import { makeIdCard } from '../../../miniprogram/shared/idcard';
import { mapHeader } from '../../../server/core/roster/columns';
import type { Cell, SheetRow } from '../../../server/core/roster/types';
import { cellText, dateText, isBlankRow, RowValidator } from '../../../server/core/roster/validate';
import { NOW } from './helpers';

type Input = string | number | boolean | null;
const cell = (value: Input): Cell =>
  value === null
    ? { value: null, type: 'empty' }
    : { value, type: typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'boolean' : 'string' };
const row = (rowNumber: number, ...values: Input[]): SheetRow => ({ rowNumber, cells: values.map(cell) });

const HEADER = ['姓名', '身份证号', '手机号码', '科室', '工号', '备注', '入职日期'];
const columns = mapHeader(HEADER.map(cell))!;
const ID_A = makeIdCard('440106', '19900101', '123');
const ID_B = makeIdCard('110101', '19851231', '002');
const toFullWidth = (text: string) => text.replace(/[0-9X]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));

describe('RowValidator', () => {
  it('normalises a good row: NFKC, trim, upper-case X, phone digits, optional fields', () => {
    const validator = new RowValidator(columns, { now: NOW });
    expect(validator.validate(row(2, ' 张　三 ', ID_A, '+86 138-0013-8000', ' 内科 ', 1001, '', 45293))).toEqual({
      row: 2,
      name: '张 三',
      idCard: ID_A,
      phone: '13800138000',
      department: '内科',
      employeeNo: '1001',
      startDate: '2024-01-02',
    });
    expect(validator.validate(row(3, '李四', `${toFullWidth(ID_B).toLowerCase()} `, null))).toEqual({
      row: 3,
      name: '李四',
      idCard: ID_B,
    });
    expect(new RowValidator(columns, { now: NOW }).validate(row(4, '王五', '11010519491231002x'))).toMatchObject({
      idCard: '11010519491231002X',
    });
  });

  it('reports every error of a row, with the header as written and the message of ERRORS', () => {
    const validator = new RowValidator(columns, { now: NOW });
    expect(validator.validate(row(7, 'A', '110105491231002', '12345'))).toEqual([
      { row: 7, column: '姓名', code: 'NAME_INVALID', message: ERRORS.NAME_INVALID },
      { row: 7, column: '身份证号', code: 'ID_15_DIGIT', message: ERRORS.ID_15_DIGIT },
      { row: 7, column: '手机号码', code: 'PHONE_INVALID', message: ERRORS.PHONE_INVALID },
    ]);
    expect(validator.validate(row(8, '   ', null, null, '外科'))).toEqual([
      { row: 8, column: '姓名', code: 'ROW_REQUIRED', message: ERRORS.ROW_REQUIRED },
      { row: 8, column: '身份证号', code: 'ROW_REQUIRED', message: ERRORS.ROW_REQUIRED },
    ]);
  });

  it.each([
    ['a number cell, even with valid-looking digits', Number('440106199001011235')],
    ['a small number', 12345],
    ['Excel scientific notation kept as text (CSV export)', '4.40106E+17'],
    ['scientific notation in full-width', '４.４０１０６Ｅ＋１７'],
  ])('flags an ID stored as %s with ROW_ID_NUMERIC', (_label, value) => {
    expect(new RowValidator(columns, { now: NOW }).validate(row(2, '张三', value))).toEqual([
      { row: 2, column: '身份证号', code: 'ROW_ID_NUMERIC', message: ERRORS.ROW_ID_NUMERIC },
    ]);
  });

  it.each([
    [makeIdCard('440106', '19900230', '123'), 'ID_DATE'],
    [makeIdCard('990101', '19900101', '123'), 'ID_REGION'],
    [`${ID_A.slice(0, 17)}${ID_A.endsWith('0') ? '1' : '0'}`, 'ID_CHECKSUM'],
    ['44010619900101123', 'ID_FORMAT'],
    [makeIdCard('440106', '20270101', '123'), 'ID_DATE'],
  ])('passes checkIdCard codes through: %s → %s', (id, code) => {
    expect(new RowValidator(columns, { now: NOW }).validate(row(2, '张三', id))).toEqual([
      { row: 2, column: '身份证号', code, message: ERRORS[code as keyof typeof ERRORS] },
    ]);
  });

  it('accepts a phone stored as a number when it forms a valid mobile, and rejects one that does not', () => {
    const validator = new RowValidator(columns, { now: NOW });
    expect(validator.validate(row(2, '张三', ID_A, 13800138000))).toMatchObject({ phone: '13800138000' });
    expect(validator.validate(row(3, '李四', ID_B, 2345678))).toEqual([
      { row: 3, column: '手机号码', code: 'PHONE_INVALID', message: ERRORS.PHONE_INVALID },
    ]);
  });

  it('keeps the first occurrence of an ID and flags every later one, naming the first row', () => {
    const validator = new RowValidator(columns, { now: NOW });
    expect(validator.validate(row(5, '张三', ID_A))).toMatchObject({ row: 5 });
    expect(validator.validate(row(9, '李四', toFullWidth(ID_A)))).toEqual([
      { row: 9, column: '身份证号', code: 'ROW_DUPLICATE', message: '与第 5 行身份证号重复' },
    ]);
    expect(validator.validate(row(12, 'B', ` ${ID_A} `))).toEqual([
      { row: 12, column: '姓名', code: 'NAME_INVALID', message: ERRORS.NAME_INVALID },
      { row: 12, column: '身份证号', code: 'ROW_DUPLICATE', message: '与第 5 行身份证号重复' },
    ]);
  });

  it('counts an ID as seen even when its row has other errors', () => {
    const validator = new RowValidator(columns, { now: NOW });
    expect(validator.validate(row(3, 'X', ID_B))).toHaveLength(1);
    expect(validator.validate(row(4, '李四', ID_B))).toEqual([
      { row: 4, column: '身份证号', code: 'ROW_DUPLICATE', message: '与第 3 行身份证号重复' },
    ]);
  });

  it('reads a merged header field from the first non-blank of its columns', () => {
    const merged = mapHeader(['姓名', '身份证号', '身份证号'].map(cell))!;
    const validator = new RowValidator(merged, { now: NOW });
    expect(validator.validate(row(2, '张三', null, ID_A))).toMatchObject({ idCard: ID_A });
    expect(validator.validate(row(3, '李四', ID_B, 'ignored'))).toMatchObject({ idCard: ID_B });
  });
});

describe('dateText', () => {
  it.each([
    [45293, false, '2024-01-02'],
    [45293.75, false, '2024-01-02'],
    [1, false, '1900-01-01'],
    [59, false, '1900-02-28'],
    [61, false, '1900-03-01'],
    [45293 - 1462, true, '2024-01-02'],
    [0, true, '1904-01-01'],
    [20240607, false, '2024-06-07'],
    ['2024/3/5', false, '2024-03-05'],
    ['2024.03.05', false, '2024-03-05'],
    ['２０２４年3月5日', false, '2024-03-05'],
    ['2024-02-30', false, '2024-02-30'],
    ['下周一', false, '下周一'],
    [null, false, ''],
  ])('%j (1904: %s) → %j', (value, date1904, expected) => {
    expect(dateText(cell(value), date1904)).toBe(expected);
  });
});

describe('cellText and isBlankRow', () => {
  it('reads numbers in plain digits and folds width and spaces', () => {
    expect(cellText(cell(13800138000))).toBe('13800138000');
    expect(cellText(cell(' １２３\u200b '))).toBe('123');
    expect(cellText(cell(true))).toBe('true');
  });

  it('treats a row of spaces and zero-width characters as blank, a row with a 0 as not', () => {
    expect(isBlankRow(row(3, '  ', '\u3000', '\u200b', null))).toBe(true);
    expect(isBlankRow(row(3, null, 0))).toBe(false);
  });
});
