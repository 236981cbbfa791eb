import * as iconv from 'iconv-lite';
import * as corpus from '../../fixtures/roster/generate';
import { csvRecords, decodeText, detectFormat, openWorkbook, XLS_MAX_BYTES } from '../../../server/core/roster/read';
import { RosterFileError } from '../../../server/core/roster/types';
import { collect, nodeXlsxRows } from './helpers';

async function fileError(make: () => Promise<unknown>): Promise<RosterFileError> {
  try {
    await make();
  } catch (err) {
    if (err instanceof RosterFileError) return err;
    throw err;
  }
  throw new Error('expected a RosterFileError');
}

describe('detectFormat', () => {
  it('goes by the content, not the name', async () => {
    expect(detectFormat(corpus.cleanRoster(1))).toBe('xlsx');
    expect(detectFormat(corpus.xlsRoster(1))).toBe('xls');
    expect(detectFormat(corpus.csv(corpus.csvRows(1)))).toBe('csv');
    expect((await openWorkbook(corpus.cleanRoster(1), { fileName: 'roster.xls' })).format).toBe('xlsx');
    expect((await openWorkbook(corpus.xlsRoster(1), { fileName: 'roster.xlsx' })).format).toBe('xls');
    expect((await openWorkbook(corpus.csv(corpus.csvRows(1)), { fileName: '名单.CSV' })).format).toBe('csv');
    expect((await openWorkbook(corpus.csv(corpus.csvRows(1)), { fileName: 'export.txt' })).format).toBe('csv');
  });

  it('keeps text files that are not tables out', async () => {
    expect((await fileError(() => openWorkbook(corpus.csv(corpus.csvRows(1)), { fileName: 'notes.json' }))).code).toBe(
      'ROSTER_FILE_UNREADABLE',
    );
  });

  it.each(['empty', 'pdf', 'random', 'truncatedZip', 'docx', 'doc'] as const)('refuses %s', async (kind) => {
    const error = await fileError(() => openWorkbook(corpus.junk()[kind]));
    expect(error.code).toBe('ROSTER_FILE_UNREADABLE');
    expect(error.message).toBe('无法读取该文件，请上传 .xlsx、.xls 或 .csv 表格');
  });

  it('sends a large .xls back to be saved as .xlsx (SheetJS would not fit in 256 MB)', async () => {
    const big = Buffer.concat([corpus.xlsRoster(1), Buffer.alloc(XLS_MAX_BYTES)]);
    const error = await fileError(() => openWorkbook(big));
    expect(error.code).toBe('ROSTER_FILE_TOO_LARGE');
    expect(error.message).toContain('.xlsx');
  });

  it('explains a password-protected workbook', async () => {
    const error = await fileError(() => openWorkbook(corpus.junk().encrypted, { fileName: '名单.xlsx' }));
    expect(error.code).toBe('ROSTER_FILE_ENCRYPTED');
    expect(error.message).toContain('密码');
  });

  it('explains an "xls" that is really a web page', async () => {
    const html = Buffer.from('<html><body><table><tr><td>姓名</td><td>身份证号</td></tr></table></body></html>');
    const error = await fileError(() => openWorkbook(html, { fileName: 'export.xls' }));
    expect(error.code).toBe('ROSTER_FILE_UNREADABLE');
    expect(error.message).toContain('HTML');
  });
});

describe('decodeText', () => {
  const text = '姓名,身份证号\r\n张三,11010519491231002X\r\n';

  it.each([
    ['UTF-8', Buffer.from(text, 'utf8')],
    ['UTF-8 with BOM', Buffer.from(`\ufeff${text}`, 'utf8')],
    ['GBK', iconv.encode(text, 'gbk')],
    ['GB18030 (a character outside GBK)', iconv.encode(text.replace('张三', '张𠀾'), 'gb18030')],
    ['UTF-16LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])],
  ])('%s', (label, buffer) => {
    expect(decodeText(buffer)).toBe(label.startsWith('GB18030') ? text.replace('张三', '张𠀾') : text);
  });

  it('refuses bytes that are neither UTF-8 nor GB18030, and binary control characters', async () => {
    expect((await fileError(async () => decodeText(Buffer.from([0x41, 0xff, 0x42])))).code).toBe(
      'ROSTER_FILE_UNREADABLE',
    );
    expect((await fileError(async () => decodeText(Buffer.from('a,b\u0000c')))).code).toBe('ROSTER_FILE_UNREADABLE');
  });
});

describe('csvRecords', () => {
  it('splits RFC 4180 records: quotes, doubled quotes, separators and line breaks inside quotes', () => {
    const text = 'a,"b,c","say ""hi"""\r\n"multi\nline",,x\rlast';
    expect([...csvRecords(text)]).toEqual([['a', 'b,c', 'say "hi"'], ['multi\nline', '', 'x'], ['last']]);
  });

  it('detects tab and semicolon separators from the first line', () => {
    expect([...csvRecords('姓名\t身份证号\n张三\t1,2\n')]).toEqual([
      ['姓名', '身份证号'],
      ['张三', '1,2'],
    ]);
    expect([...csvRecords('姓名;身份证号\n张三;1,2\n')]).toEqual([
      ['姓名', '身份证号'],
      ['张三', '1,2'],
    ]);
  });
});

describe('openWorkbook', () => {
  it('reads CSV cells as text (an ID never becomes a number) and numbers rows as Excel would', async () => {
    const buffer = corpus.csv([['姓名', '身份证号'], ['张三', '440106199001011235'], [], ['李四', 'a\nb']], 'gbk');
    const rows = await collect(await openWorkbook(buffer), 'Sheet1');
    expect(rows).toEqual([
      {
        rowNumber: 1,
        cells: [
          { value: '姓名', type: 'string' },
          { value: '身份证号', type: 'string' },
        ],
      },
      {
        rowNumber: 2,
        cells: [
          { value: '张三', type: 'string' },
          { value: '440106199001011235', type: 'string' },
        ],
      },
      {
        rowNumber: 4,
        cells: [
          { value: '李四', type: 'string' },
          { value: 'a\nb', type: 'string' },
        ],
      },
    ]);
  });

  it('reads .xls through SheetJS with the same cells as node-xlsx', async () => {
    const buffer = corpus.workbook(
      [
        {
          name: '名单',
          rows: [corpus.HEADER, ['张三', { t: 'n', v: Number('440106199001011235') }, 13800000000, true]],
        },
      ],
      { bookType: 'biff8' },
    );
    const source = await openWorkbook(buffer);
    expect(source.format).toBe('xls');
    const rows = await collect(source, '名单');
    expect(rows).toEqual(nodeXlsxRows(buffer)['名单']);
    expect(rows[1]?.cells[1]?.type).toBe('number');
  }, 60_000);

  it('gives the same rows for .xlsx through the streaming reader and through SheetJS', async () => {
    const buffer = corpus.severalSheets();
    const stream = await openWorkbook(buffer);
    const sheetjs = await openWorkbook(buffer, { reader: 'sheetjs' });
    expect(sheetjs.sheets).toEqual(stream.sheets);
    for (const { name } of stream.sheets) {
      expect(await collect(sheetjs, name)).toEqual(await collect(stream, name));
      expect(await sheetjs.merges(name)).toEqual(await stream.merges(name));
    }
  });
});
