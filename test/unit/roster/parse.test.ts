import { ERRORS } from '../../../miniprogram/shared/errors';
import * as corpus from '../../fixtures/roster/generate';
import {
  openRoster,
  parseRoster,
  RosterFileError,
  type RosterBatch,
  type RosterOptions,
} from '../../../server/core/roster';
import { NOW } from './helpers';

const parse = (buffer: Buffer, options: RosterOptions = {}) => parseRoster(buffer, { now: NOW, ...options });
const fields = (result: { columns: { field: string }[] }) => result.columns.map((c) => c.field);
const codes = (result: { errors: { row: number; column: string; code: string }[] }) =>
  result.errors.map(({ row, column, code }) => [row, column, code]);
const rowsOf = (result: { records: { row: number }[] }) => result.records.map((r) => r.row);

async function fileErrorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RosterFileError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('parseRoster: a clean file', () => {
  it('returns every person, normalised, with the header mapped', async () => {
    const result = await parse(corpus.cleanRoster(30));
    expect(result).toMatchObject({ format: 'xlsx', sheet: '名单', headerRow: 1, total: 30, errors: [] });
    expect(fields(result)).toEqual(['name', 'idCard', 'phone', 'department', 'employeeNo', 'note']);
    const p = corpus.person(7);
    expect(result.records[7]).toEqual({
      row: 9,
      name: p.name,
      idCard: p.idCard,
      phone: p.phone,
      department: p.department,
      employeeNo: p.employeeNo,
    });
  });

  it.each([
    ['.xls (node-xlsx build, BIFF8)', () => corpus.xlsRoster(30)],
    ['CSV UTF-8 without BOM', () => corpus.csv(corpus.csvRows(30))],
    ['CSV UTF-8 with BOM', () => corpus.csv(corpus.csvRows(30), 'utf8-bom')],
    ['CSV GBK', () => corpus.csv(corpus.csvRows(30), 'gbk')],
    ['UTF-16 tab-separated text (Excel "Unicode text")', () => corpus.csv(corpus.csvRows(30), 'utf16le', '\t')],
  ])('%s gives the same records as the .xlsx', async (_label, make) => {
    const expected = await parse(corpus.cleanRoster(30));
    const result = await parse(make());
    expect(result.records).toEqual(expected.records);
    expect(result.total).toBe(30);
  });
});

describe('parseRoster: traps', () => {
  it('cell traps: numeric ID, full-width, lower-case x, spaces, numeric phone, scientific notation', async () => {
    const { buffer, people } = corpus.cellTraps();
    const result = await parse(buffer);
    expect(codes(result)).toEqual([
      [2, '身份证号', 'ROW_ID_NUMERIC'],
      [7, '身份证号', 'ROW_ID_NUMERIC'],
    ]);
    expect(result.errors[0]?.message).toBe(ERRORS.ROW_ID_NUMERIC);
    const [, p1, x, p3, p4] = people as [corpus.Person, corpus.Person, corpus.Person, corpus.Person, corpus.Person];
    expect(result.records).toEqual([
      { row: 3, name: p1.name, idCard: p1.idCard, phone: p1.phone },
      { row: 4, name: x.name, idCard: '11010519800101018X', phone: x.phone },
      { row: 5, name: p3.name, idCard: p3.idCard, phone: p3.phone, department: '内科' },
      { row: 6, name: p4.name, idCard: p4.idCard, phone: p4.phone },
    ]);
  });

  it('merged two-level header under a merged title: header on row 3, merged 科室 filled down', async () => {
    const result = await parse(corpus.mergedHeader());
    expect(result.headerRow).toBe(3);
    expect(result.columns).toEqual([
      { field: 'name', header: '姓名', indexes: [0] },
      { field: 'idCard', header: '身份证号', indexes: [1] },
      { field: 'phone', header: '手机号', indexes: [2] },
      { field: 'department', header: '科室', indexes: [4] },
    ]);
    expect(result.errors).toEqual([]);
    expect(result.records.map((r) => [r.row, r.idCard, r.phone, r.department])).toEqual(
      [0, 1, 2, 3].map((i) => [i + 4, corpus.person(i).idCard, corpus.person(i).phone, i === 3 ? '外科' : '内科']),
    );
  });

  it('a header merged across two columns reads the ID from whichever of them is filled', async () => {
    const [p0, p1] = [corpus.person(0), corpus.person(1)];
    const buffer = corpus.workbook([
      {
        name: '名单',
        rows: [
          ['姓名', '身份证号', null],
          [p0.name, null, p0.idCard],
          [p1.name, p1.idCard],
        ],
        merges: ['B1:C1'],
      },
    ]);
    const result = await parse(buffer);
    expect(result.columns[1]).toEqual({ field: 'idCard', header: '身份证号', indexes: [1, 2] });
    expect(result.records.map((r) => r.idCard)).toEqual([p0.idCard, p1.idCard]);
  });

  it('several sheets: skips the instructions and the hidden sheet, keeps row numbers across blank rows', async () => {
    const result = await parse(corpus.severalSheets());
    expect(result).toMatchObject({ sheet: '名单', headerRow: 3, total: 3, errors: [] });
    expect(rowsOf(result)).toEqual([4, 5, 8]);
    expect(result.records.map((r) => r.idCard)).toEqual([0, 1, 2].map((i) => corpus.person(i).idCard));
  });

  it('a named sheet is used as asked, even hidden; an unknown one is ROSTER_SHEET_NOT_FOUND', async () => {
    const old = await parse(corpus.severalSheets(), { sheet: '旧数据' });
    expect(old.records.map((r) => r.idCard)).toEqual([corpus.person(9).idCard]);
    expect(await fileErrorCode(parse(corpus.severalSheets(), { sheet: '填写说明' }))).toBe('ROSTER_NO_HEADER');
    expect(await fileErrorCode(parse(corpus.severalSheets(), { sheet: 'Sheet1' }))).toBe('ROSTER_SHEET_NOT_FOUND');
  });

  it('ROSTER_NO_HEADER when no sheet has name and ID columns within the first 10 non-blank rows', async () => {
    const title = Array.from({ length: 10 }, (_, i) => [`说明第 ${i + 1} 行`]);
    const late = corpus.workbook([{ name: 'S', rows: [...title, corpus.HEADER, corpus.personRow(corpus.person(0))] }]);
    expect(await fileErrorCode(parse(late))).toBe('ROSTER_NO_HEADER');
    const early = corpus.workbook([
      { name: 'S', rows: [...title.slice(1), corpus.HEADER, corpus.personRow(corpus.person(0))] },
    ]);
    expect((await parse(early)).headerRow).toBe(10);
    const noId = corpus.workbook([
      {
        name: 'S',
        rows: [
          ['姓名', '手机号'],
          ['张三', '13800138000'],
        ],
      },
    ]);
    expect(await fileErrorCode(parse(noId))).toBe('ROSTER_NO_HEADER');
    expect(await fileErrorCode(parse(corpus.csv([['name'], ['张三']])))).toBe('ROSTER_NO_HEADER');
  });

  it('formulas: the cached value is used, a formula without one is an empty cell', async () => {
    const result = await parse(corpus.formulas());
    expect(codes(result)).toEqual([[3, '身份证号', 'ROW_REQUIRED']]);
    expect(result.records).toEqual([
      { row: 2, name: corpus.person(0).name, idCard: corpus.person(0).idCard, phone: corpus.person(0).phone },
      { row: 4, name: corpus.person(2).name, idCard: corpus.person(2).idCard, phone: corpus.person(2).phone },
    ]);
  });

  it('row errors: 15-digit ID, duplicates, bad phone, missing fields, bad name, checksum', async () => {
    const n = 5;
    const result = await parse(corpus.rowErrors(n));
    expect(result.total).toBe(n + 6);
    expect(rowsOf(result)).toEqual([2, 3, 4, 5, 6]);
    expect(result.errors).toEqual([
      { row: 7, column: '身份证号', code: 'ID_15_DIGIT', message: ERRORS.ID_15_DIGIT },
      { row: 8, column: '身份证号', code: 'ROW_DUPLICATE', message: '与第 2 行身份证号重复' },
      { row: 9, column: '手机号', code: 'PHONE_INVALID', message: ERRORS.PHONE_INVALID },
      { row: 10, column: '姓名', code: 'ROW_REQUIRED', message: ERRORS.ROW_REQUIRED },
      { row: 10, column: '身份证号', code: 'ROW_REQUIRED', message: ERRORS.ROW_REQUIRED },
      { row: 11, column: '姓名', code: 'NAME_INVALID', message: ERRORS.NAME_INVALID },
      { row: 11, column: '身份证号', code: 'ROW_DUPLICATE', message: '与第 3 行身份证号重复' },
      { row: 12, column: '身份证号', code: 'ID_CHECKSUM', message: ERRORS.ID_CHECKSUM },
    ]);
  });

  it('CSV: an ID exported by Excel as 4.40106E+17 is ROW_ID_NUMERIC; real digits stay text', async () => {
    const [p0, p1] = [corpus.person(0), corpus.person(1)];
    const buffer = corpus.csv([corpus.HEADER, [p0.name, '4.40106E+17'], [p1.name, p1.idCard]], 'gbk');
    const result = await parse(buffer);
    expect(codes(result)).toEqual([[2, '身份证号', 'ROW_ID_NUMERIC']]);
    expect(result.records.map((r) => r.idCard)).toEqual([p1.idCard]);
  });

  it('.xls: a numeric ID cell is ROW_ID_NUMERIC and merges are honoured', async () => {
    const p0 = corpus.person(0);
    const buffer = corpus.workbook(
      [
        {
          name: '名单',
          rows: [
            ['名单'],
            corpus.HEADER,
            [p0.name, { t: 'n', v: Number(p0.idCard) }],
            corpus.personRow(corpus.person(1)),
          ],
          merges: ['A1:F1'],
        },
      ],
      { bookType: 'biff8' },
    );
    const result = await parse(buffer);
    expect(result).toMatchObject({ format: 'xls', headerRow: 2, total: 2 });
    expect(codes(result)).toEqual([[3, '身份证号', 'ROW_ID_NUMERIC']]);
    expect(rowsOf(result)).toEqual([4]);
  });

  it.each([
    ['1900', false],
    ['1904', true],
  ])('date column in a %s workbook: serials and text dates become YYYY-MM-DD', async (_label, date1904) => {
    const result = await parse(corpus.dates({ date1904 }));
    expect(result.records.map((r) => r.startDate)).toEqual(['2024-01-02', '2024-03-05', '2024-06-07']);
  });

  it.each(['empty', 'pdf', 'random', 'truncatedZip', 'docx'] as const)('%s → ROSTER_FILE_UNREADABLE', async (kind) => {
    expect(await fileErrorCode(parse(corpus.junk()[kind]))).toBe('ROSTER_FILE_UNREADABLE');
  });
});

describe('readers agree', () => {
  it.each([
    ['cell traps', () => corpus.cellTraps().buffer],
    ['merged header', () => corpus.mergedHeader()],
    ['several sheets', () => corpus.severalSheets({ sst: false })],
    ['formulas', () => corpus.formulas()],
    ['row errors', () => corpus.rowErrors(50)],
    ['1904 dates', () => corpus.dates({ date1904: true })],
  ])('%s: the streaming reader and SheetJS give the same result', async (_label, make) => {
    const buffer = make();
    expect(await parse(buffer)).toEqual(await parse(buffer, { reader: 'sheetjs' }));
  });
});

describe('openRoster().batches', () => {
  const drain = async (batches: AsyncGenerator<RosterBatch>) => {
    const all: RosterBatch[] = [];
    for await (const batch of batches) all.push(batch);
    return all;
  };

  it('yields at most `size` rows per batch, a resume cursor, and a final `done` batch with the total', async () => {
    const roster = await openRoster(corpus.rowErrors(2495), { now: NOW });
    const batches = await drain(roster.batches({ size: 1000 }));
    expect(batches.map((b) => [b.records.length, b.errors.length, b.lastRow, b.dataRows, b.done])).toEqual([
      [1000, 0, 1001, 1000, false],
      [1000, 0, 2001, 2000, false],
      [495, 8, 2502, 2501, true],
    ]);
  });

  it('ends with an empty `done` batch when the rows fill the last batch exactly', async () => {
    const roster = await openRoster(corpus.cleanRoster(2000), { now: NOW });
    const batches = await drain(roster.batches({ size: 1000 }));
    expect(batches.map((b) => [b.records.length, b.lastRow, b.dataRows, b.done])).toEqual([
      [1000, 1001, 1000, false],
      [1000, 2001, 2000, false],
      [0, 0, 2000, true],
    ]);
  });

  it('resumes after a row, still catching duplicates of rows before it', async () => {
    const roster = await openRoster(corpus.rowErrors(5), { now: NOW });
    const [batch, ...rest] = await drain(roster.batches({ size: 1000, afterRow: 7 }));
    expect(rest).toEqual([]);
    expect(batch?.records).toEqual([]);
    expect(batch?.errors.map((e) => [e.row, e.code, e.message])).toEqual([
      [8, 'ROW_DUPLICATE', '与第 2 行身份证号重复'],
      [9, 'PHONE_INVALID', ERRORS.PHONE_INVALID],
      [10, 'ROW_REQUIRED', ERRORS.ROW_REQUIRED],
      [10, 'ROW_REQUIRED', ERRORS.ROW_REQUIRED],
      [11, 'NAME_INVALID', ERRORS.NAME_INVALID],
      [11, 'ROW_DUPLICATE', '与第 3 行身份证号重复'],
      [12, 'ID_CHECKSUM', ERRORS.ID_CHECKSUM],
    ]);
    expect(batch).toMatchObject({ lastRow: 12, dataRows: 11, done: true });
  });

  it('can be iterated again from the start', async () => {
    const roster = await openRoster(corpus.cleanRoster(10), { now: NOW });
    const first = await drain(roster.batches());
    expect(await drain(roster.batches())).toEqual(first);
  });
});
