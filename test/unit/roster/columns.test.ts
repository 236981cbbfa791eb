import { mapHeader, normalizeHeader, ROSTER_FIELDS } from '../../../server/core/roster/columns';
import type { Cell } from '../../../server/core/roster/types';

const cells = (...values: (string | number | null)[]): Cell[] =>
  values.map((value) =>
    value === null
      ? { value: null, type: 'empty' }
      : typeof value === 'number'
        ? { value, type: 'number' }
        : { value, type: 'string' },
  );

describe('normalizeHeader', () => {
  it.each([
    ['姓名（必填）', '姓名'],
    ['*姓名', '姓名'],
    [' 身份证号码\n(18位) ', '身份证号码'],
    ['【必填】手机号', '手机号'],
    ['ＩＤ Card', 'idcard'],
    ['employee_no', 'employeeno'],
    ['身份证号：', '身份证号'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeHeader(input)).toBe(expected);
  });
});

describe('mapHeader', () => {
  it('maps every synonym of the table', () => {
    for (const spec of ROSTER_FIELDS) {
      for (const header of spec.headers) {
        const row =
          spec.field === 'name'
            ? cells(header, '身份证号')
            : spec.field === 'idCard'
              ? cells('姓名', header)
              : cells('姓名', '身份证号', header);
        const index = spec.field === 'name' ? 0 : spec.field === 'idCard' ? 1 : 2;
        expect(mapHeader(row)?.find((column) => column.field === spec.field)).toEqual({
          field: spec.field,
          header,
          indexes: [index],
        });
      }
    }
  });

  it('keeps the header as written, and column indexes as in the file; unknown columns are ignored', () => {
    expect(mapHeader(cells('序号', null, '姓名 （必填）', '年龄', '*身份证号码', '联系电话'))).toEqual([
      { field: 'name', header: '姓名 （必填）', indexes: [2] },
      { field: 'idCard', header: '*身份证号码', indexes: [4] },
      { field: 'phone', header: '联系电话', indexes: [5] },
    ]);
  });

  it('needs both name and ID number', () => {
    expect(mapHeader(cells('姓名', '手机号'))).toBeNull();
    expect(mapHeader(cells('身份证号', '手机号'))).toBeNull();
    expect(mapHeader(cells('2024 年职工名单'))).toBeNull();
  });

  it('prefers the better synonym when two columns match one field', () => {
    const columns = mapHeader(cells('姓名', '身份证号', '联系电话', '手机号'));
    expect(columns?.find((c) => c.field === 'phone')).toEqual({ field: 'phone', header: '手机号', indexes: [3] });
  });

  it('keeps every column of an equally good header (a merged header cell filled across)', () => {
    const columns = mapHeader(cells('姓名', '身份证号', '身份证号'));
    expect(columns?.find((c) => c.field === 'idCard')?.indexes).toEqual([1, 2]);
  });

  it('ignores numbers in the header row', () => {
    expect(mapHeader(cells(2024, '姓名', '身份证号'))?.map((c) => c.indexes[0])).toEqual([1, 2]);
  });
});
