import * as corpus from '../../fixtures/roster/generate';
import { decodeXml, openXlsx, SHARED_STRINGS_LIMIT } from '../../../server/core/roster/xlsx-stream';
import { RosterFileError } from '../../../server/core/roster/types';
import { collect, nodeXlsxRows } from './helpers';

const s = (value: string) => ({ value, type: 'string' });
const n = (value: number) => ({ value, type: 'number' });
const EMPTY = { value: null, type: 'empty' };

describe('streaming .xlsx reader vs node-xlsx', () => {
  const files: [string, () => Buffer][] = [
    ['clean roster, shared strings', () => corpus.cleanRoster(200)],
    ['clean roster, inline strings', () => corpus.cleanRoster(200, { sst: false })],
    ['numeric, full-width, spaced and scientific cells', () => corpus.cellTraps().buffer],
    ['merged two-level header', () => corpus.mergedHeader()],
    ['several sheets, blank rows', () => corpus.severalSheets()],
    ['formulas with and without cached values', () => corpus.formulas()],
    ['row errors', () => corpus.rowErrors(20)],
    ['date serials', () => corpus.dates()],
    ['1904 workbook', () => corpus.dates({ date1904: true })],
  ];

  it.each(files)('%s: same sheets, rows, values and types', async (_label, make) => {
    const buffer = make();
    const expected = nodeXlsxRows(buffer);
    const source = openXlsx(buffer);
    expect(source.sheets.map((sheet) => sheet.name)).toEqual(Object.keys(expected));
    for (const { name } of source.sheets) {
      const rows = await collect(source, name);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows).toEqual(expected[name]);
    }
  });

  it('keeps a number typed into an ID cell a number (the digits Excel kept are not the ID)', async () => {
    const rows = await collect(openXlsx(corpus.cellTraps().buffer), '名单');
    expect(rows[1]?.cells[1]).toEqual({ value: expect.any(Number), type: 'number' });
    expect(rows[5]?.cells[2]).toEqual({ value: expect.any(Number), type: 'number' });
  });

  it('reads merges, hidden sheets and the 1904 flag', async () => {
    const merged = openXlsx(corpus.mergedHeader());
    expect(await merged.merges('名单')).toContainEqual({ s: { r: 1, c: 2 }, e: { r: 1, c: 3 } });
    expect(await merged.merges('名单')).toHaveLength(6);
    expect(merged.date1904).toBe(false);
    expect(openXlsx(corpus.severalSheets()).sheets).toEqual([
      { name: '填写说明', hidden: false },
      { name: '旧数据', hidden: true },
      { name: '名单', hidden: false },
    ]);
    expect(openXlsx(corpus.dates({ date1904: true })).date1904).toBe(true);
  });
});

describe('streaming .xlsx reader on XML that SheetJS does not write', () => {
  const sheetData =
    '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>' +
    '<c r="C1" t="inlineStr"><is><r><t>富</t></r><r><rPr><b/></rPr><t xml:space="preserve">文本 </t></r>' +
    '<rPh sb="0" eb="1"><t>フ</t></rPh></is></c><c r="D1" t="s"><v>3</v></c></row>' +
    // Row and cell references omitted: positions follow the previous ones.
    '<row><c t="str"><v>a&amp;b &lt;&gt; &quot;&apos; &#20013;&#x6587; x_x000D_y _x005F_x0041_</v></c>' +
    '<c><v>440106199001011235</v></c><c t="b"><v>1</v></c><c t="e"><v>#N/A</v></c>' +
    '<c t="d"><v>2024-01-02T00:00:00Z</v></c><c><f>1+1</f><v></v></c><c><f>1+1</f></c><c s="1"/><c t="n"><v>1.5</v></c></row>' +
    '<row r="4" spans="1:2"/><row r="5"><c r="AA5" t="s"><v>2</v></c></row>' +
    '<row r="7"><c r="AB7" t="b"><v>0</v></c></row>';
  const sharedStrings = [
    '<t>姓名</t>',
    '<r><t>身份</t></r><r><t>证号</t></r><rPh><t>シン</t></rPh>',
    '<t/>',
    '<t xml:space="preserve">R&amp;D 部 </t>',
  ];
  const expected = (date: number) => [
    { rowNumber: 1, cells: [s('姓名'), s('身份证号'), s('富文本 '), s('R&D 部 ')] },
    {
      rowNumber: 2,
      cells: [
        s('a&b <> "\' 中文 x\ry _x0041_'),
        n(Number('440106199001011235')), // what Excel kept of the digits typed,
        { value: true, type: 'boolean' },
        s('#N/A'),
        n(date),
        EMPTY,
        EMPTY,
        EMPTY,
        n(1.5),
      ],
    },
    { rowNumber: 7, cells: [...Array<typeof EMPTY>(27).fill(EMPTY), { value: false, type: 'boolean' }] },
  ];

  it.each([
    ['deflated', {}],
    ['stored (no compression)', { store: true }],
    ['namespace-prefixed (x:row, x:c)', { prefix: 'x' }],
  ])('%s', async (_label, options) => {
    const source = openXlsx(corpus.rawXlsx(sheetData, { sharedStrings, ...options }));
    expect(await collect(source, '名单')).toEqual(expected(45293));
  });

  it('counts ISO dates (t="d") from 1904 in a 1904 workbook', async () => {
    const source = openXlsx(corpus.rawXlsx(sheetData, { sharedStrings, date1904: true }));
    expect(source.date1904).toBe(true);
    expect(await collect(source, '名单')).toEqual(expected(45293 - 1462));
  });

  it('decodes entities and Excel escapes where SheetJS does not', () => {
    // SheetJS 0.20.3 gives "-\ufffd" for &#20013; and "A" for _x005F_x0041_ (an escaped underscore).
    expect(decodeXml('&#20013;&#x6587;&#128512;')).toBe('中文😀');
    expect(decodeXml('_x005F_x0041_ _x000D__x000A_')).toBe('_x0041_ \r\n');
    expect(decodeXml('&unknown; &amp;amp;')).toBe('&unknown; &amp;');
  });
});

describe('streaming .xlsx reader on broken files', () => {
  const codeOf = async (make: () => Promise<unknown>) => {
    try {
      await make();
    } catch (err) {
      return err instanceof RosterFileError ? err.code : (err as Error).message;
    }
    return 'no error';
  };

  it('refuses a zip without a workbook and a truncated zip', async () => {
    const { docx, truncatedZip } = corpus.junk();
    expect(await codeOf(async () => openXlsx(docx))).toBe('ROSTER_FILE_UNREADABLE');
    expect(await codeOf(async () => openXlsx(truncatedZip))).toBe('ROSTER_FILE_UNREADABLE');
  });

  it('fails with ROSTER_FILE_UNREADABLE when the sheet data does not inflate', async () => {
    const rows = Array.from({ length: 300 }, (_, i) => `<row r="${i + 1}"><c t="str"><v>value ${i}</v></c></row>`);
    const buffer = corpus.rawXlsx(rows.join(''), { corrupt: 'xl/worksheets/sheet1.xml' });
    const source = openXlsx(buffer);
    expect(await codeOf(() => collect(source, '名单'))).toBe('ROSTER_FILE_UNREADABLE');
  });

  it('refuses zip bombs: one endless cell, or more shared strings than a function can hold', async () => {
    const endless = corpus.rawXlsx(`<row r="1"><c t="inlineStr"><is><t>${'9'.repeat(9_000_000)}</t></is></c></row>`);
    expect(await codeOf(() => collect(openXlsx(endless), '名单'))).toBe('ROSTER_TOO_MANY_COLUMNS');
    // SHARED_STRINGS_LIMIT (80 MB of text, a million-row roster needs ~40): 2,700 strings of 32,000 characters.
    const strings = Array.from({ length: 2_700 }, (_, i) => `<t>${String(i).padStart(32_000, '0')}</t>`);
    expect(2_700 * 32_000).toBeGreaterThan(SHARED_STRINGS_LIMIT);
    const many = corpus.rawXlsx('<row r="1"><c t="s"><v>0</v></c></row>', { sharedStrings: strings });
    expect(await codeOf(() => collect(openXlsx(many), '名单'))).toBe('ROSTER_TOO_MANY_STRINGS');
  }, 60_000);

  it('answers ROSTER_SHEET_NOT_FOUND for an unknown sheet', async () => {
    expect(await codeOf(() => collect(openXlsx(corpus.cleanRoster(1)), 'Sheet9'))).toBe('ROSTER_SHEET_NOT_FOUND');
  });
});
