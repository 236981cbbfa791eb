import * as XLSX from 'xlsx';
import { parse } from 'node-xlsx';
import { checkIdCard } from '../../../miniprogram/shared/idcard';
import * as corpus from '../../fixtures/roster/generate';
import { buildErrorReport, buildTemplate, parseRoster } from '../../../server/core/roster';
import { TEMPLATE_EXAMPLE_ID, TEMPLATE_HEADERS } from '../../../server/core/roster/report';
import { NOW } from './helpers';

describe('buildErrorReport', () => {
  it('lists 行号 / 列 / 问题 for every row error of an import', async () => {
    const { errors } = await parseRoster(corpus.rowErrors(3), { now: NOW });
    const [sheet] = parse<unknown[]>(buildErrorReport(errors));
    expect(sheet?.name).toBe('错误明细');
    expect(sheet?.data[0]).toEqual(['行号', '列', '问题']);
    expect(sheet?.data.slice(1)).toEqual(errors.map((e) => [e.row, e.column, e.message]));
  });

  it('never contains a full ID number or a name from the file', async () => {
    const n = 3;
    const { errors } = await parseRoster(corpus.rowErrors(n), { now: NOW });
    // A message that quotes an ID (a custom detail) is masked too.
    const leaked = corpus.person(0).idCard;
    errors.push({ row: 99, column: `身份证号 ${leaked}`, code: 'ID_CHECKSUM', message: `校验位不正确：${leaked}` });
    const text = JSON.stringify(parse(buildErrorReport(errors)));
    for (let i = 0; i < n + 6; i += 1) {
      expect(text).not.toContain(corpus.person(i).idCard);
      expect(text).not.toContain(corpus.person(i).name);
    }
    expect(text).not.toContain('110105491231002');
    expect(text).toContain(`${leaked.slice(0, 4)}**********${leaked.slice(-4)}`);
  });
});

describe('buildTemplate', () => {
  it('re-parses cleanly: one record (the example), no errors', async () => {
    const result = await parseRoster(buildTemplate(), { fileName: '名单模板.xlsx' });
    expect(result).toMatchObject({ sheet: '名单', headerRow: 1, total: 1, errors: [] });
    expect(result.columns.map((c) => c.header)).toEqual([...TEMPLATE_HEADERS]);
    expect(result.records).toEqual([
      {
        row: 2,
        name: '张三',
        idCard: TEMPLATE_EXAMPLE_ID,
        phone: '13800000000',
        department: '内科',
        employeeNo: 'A0001',
        note: '示例行,导入前请删除', // NFKC folds the full-width comma, as in every field
      },
    ]);
    expect(checkIdCard(TEMPLATE_EXAMPLE_ID)).toMatchObject({ ok: true });
  });

  it('formats the ID and phone columns as text, below the example too, and explains the rules', () => {
    const book = XLSX.read(buildTemplate(), { cellNF: true, sheetStubs: true });
    expect(book.SheetNames).toEqual(['名单', '填写说明']);
    const sheet = book.Sheets['名单']!;
    expect(sheet['B2']).toMatchObject({ t: 's', v: TEMPLATE_EXAMPLE_ID, z: '@' });
    expect(sheet['C2']).toMatchObject({ t: 's', v: '13800000000', z: '@' });
    for (const ref of ['B3', 'C3', 'B500', 'C1001']) expect(sheet[ref]).toMatchObject({ z: '@' });
    const rules = XLSX.utils.sheet_to_json<string[]>(book.Sheets['填写说明']!, { header: 1 }).flat().join('\n');
    expect(rules).toContain('文本');
    expect(rules).toContain('18 位');
  });
});
