import * as XLSX from 'xlsx';
import { parse } from 'node-xlsx';
import { checkIdCard } from '../../../miniprogram/shared/idcard';
import * as corpus from '../../fixtures/roster/generate';
import { person } from '../../fixtures/roster/generate';
import { buildErrorReport, buildTemplate, parseRoster, RosterFileError } from '../../../server/core/roster';
import { MAX_REPORT_ERRORS, TEMPLATE_EXAMPLE_ID, TEMPLATE_HEADERS } from '../../../server/core/roster/report';
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

describe('buildErrorReport bounds', () => {
  it('lists at most MAX_REPORT_ERRORS rows and says how many there were', () => {
    const errors = Array.from({ length: MAX_REPORT_ERRORS + 5 }, (_, i) => ({
      row: i + 2,
      column: '身份证号',
      code: 'ROW_REQUIRED',
      message: '必填项为空',
    }));
    const [sheet] = parse<unknown[]>(buildErrorReport(errors, 400_000));
    expect(sheet!.data).toHaveLength(1 + MAX_REPORT_ERRORS + 1);
    expect(String(sheet!.data[sheet!.data.length - 1]![2])).toContain('共 400000 个问题');
  });
});

describe('buildTemplate', () => {
  it('imports nothing when untouched: the example row is marked and the file says it has no data', async () => {
    const error = await parseRoster(buildTemplate(), { fileName: '名单模板.xlsx' }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RosterFileError);
    expect((error as RosterFileError).code).toBe('ROSTER_NO_DATA');
    expect(checkIdCard(TEMPLATE_EXAMPLE_ID)).toMatchObject({ ok: true });
  });

  it('imports the rows typed below the example, never the example itself', async () => {
    const book = XLSX.read(buildTemplate());
    const p = person(7);
    XLSX.utils.sheet_add_aoa(book.Sheets['名单']!, [[p.name, p.idCard, p.phone]], { origin: 'A3' });
    const result = await parseRoster(XLSX.write(book, { type: 'buffer', bookType: 'xlsx' }) as Buffer, {
      fileName: '名单.xlsx',
    });
    expect(result).toMatchObject({ sheet: '名单', headerRow: 1, total: 1, errors: [] });
    expect(result.columns.map((c) => c.header)).toEqual([...TEMPLATE_HEADERS]);
    expect(result.records).toEqual([{ row: 3, name: p.name, idCard: p.idCard, phone: p.phone }]);
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
