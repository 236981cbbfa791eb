/**
 * The reader's defects and caps on crafted files: each file reads as Excel shows it, or is refused
 * with its own code; none can take the process down. (The real files are in corpus.test.ts.)
 */
import * as corpus from '../../fixtures/roster/generate';
import { openRoster, parseRoster, RosterFileError } from '../../../server/core/roster';
import { parseXlsIsolated, XLS_MESSAGE_ROWS, XLS_TRANSFER_CHARS } from '../../../server/core/roster/xls-worker';
import { TEXT_BUDGET } from '../../../server/core/roster/parse';
import { MAX_CELL_CHARS } from '../../../server/core/roster/types';
import { FIELD_MAX_CHARS, MAX_COLUMN_CHARS } from '../../../server/core/roster/validate';
import { MAX_MERGES, openXlsx, PART_LIMIT } from '../../../server/core/roster/xlsx-stream';
import { collect, NOW } from './helpers';

const s = (value: string) => ({ value, type: 'string' });

async function codeOf(make: () => Promise<unknown>): Promise<string> {
  try {
    await make();
  } catch (err) {
    return err instanceof RosterFileError ? err.code : `not a RosterFileError: ${(err as Error).message}`;
  }
  return 'no error';
}

const header =
  '<row r="1"><c r="A1" t="inlineStr"><is><t>姓名</t></is></c><c r="B1" t="inlineStr"><is><t>身份证号</t></is></c><c r="C1" t="inlineStr"><is><t>入职日期</t></is></c></row>';
const personRow = (r: number, i: number, extra = '') =>
  `<row r="${r}"><c r="A${r}" t="inlineStr"><is><t>${corpus.person(i).name}</t></is></c>` +
  `<c r="B${r}" t="inlineStr"><is><t>${corpus.person(i).idCard}</t></is></c>${extra}</row>`;

describe('cells that are not closed', () => {
  it('reads a row of unclosed <c> elements as its cells (each ends where the next begins)', async () => {
    const data = '<row r="1"><c r="A1" t="str"><v>a</v><c r="B1" t="str"><v>b</v><c r="C1"><v>3</v></row>';
    expect(await collect(openXlsx(corpus.rawXlsx(data)), '名单')).toEqual([
      { rowNumber: 1, cells: [s('a'), s('b'), { value: 3, type: 'number' }] },
    ]);
  });

  it('reads rows of 16,000 unclosed cells each in one pass (quadratic before: minutes for a few KB zipped)', async () => {
    const row = (r: number) => `<row r="${r}">${'<c t="str"><v>x</v>'.repeat(16_000)}</row>`;
    const rows = await collect(openXlsx(corpus.rawXlsx([1, 2, 3, 4, 5].map(row).join(''))), '名单');
    expect(rows.map((r) => [r.rowNumber, r.cells.length])).toEqual([1, 2, 3, 4, 5].map((r) => [r, 16_000]));
  }, 60_000);
});

describe('tags that are never closed', () => {
  it('reads a cell of 100,000 unclosed <v and <t tags in one pass (each scan stops at the next tag)', async () => {
    const runs = `<v `.repeat(100_000);
    const cells = [`<c r="A1" t="str">${runs}</c>`, `<c r="A1" t="inlineStr"><is>${`<t `.repeat(100_000)}</is></c>`];
    for (const cell of cells) {
      expect(await codeOf(() => collect(openXlsx(corpus.rawXlsx(`<row r="1">${cell}</row>`)), '名单'))).toBe(
        'no error',
      );
    }
  }, 60_000);
});

describe('caps, each with its code', () => {
  it('refuses more merged ranges than a roster has (3M <mergeCell> would exhaust memory)', async () => {
    const merges = Array.from({ length: MAX_MERGES + 1 }, (_, i) => `<mergeCell ref="A${i + 2}:B${i + 2}"/>`).join('');
    const buffer = corpus.rawXlsx(
      `${header}${personRow(2, 0)}</sheetData><mergeCells>${merges}</mergeCells><sheetData>`,
    );
    expect(await codeOf(() => openRoster(buffer, { now: NOW }))).toBe('ROSTER_TOO_MANY_MERGES');
  }, 60_000);

  it('refuses rows past 1,048,576 and columns past XFD', async () => {
    const far = corpus.rawXlsx(`${header}<row r="1048577"><c r="A1048577" t="str"><v>x</v></c></row>`);
    expect(await codeOf(() => parseRoster(far, { now: NOW }))).toBe('ROSTER_TOO_MANY_ROWS');
    const wide = corpus.rawXlsx(`<row r="1"><c r="XFE1" t="str"><v>x</v></c></row>`);
    expect(await codeOf(() => collect(openXlsx(wide), '名单'))).toBe('ROSTER_TOO_MANY_COLUMNS');
  });
});

describe('work out of proportion to the file is refused, not ground through', () => {
  const rows = (n: number, cell: (r: number) => string) =>
    Array.from({ length: n }, (_, i) => `<row r="${i + 2}">${cell(i + 2)}</row>`).join('');

  it('a cell at column XFD on every row (30 bytes, 16,384 cells each)', async () => {
    const data = `${header}${rows(3000, (r) => `<c r="XFD${r}" t="str"><v>x</v></c>`)}`;
    expect(await codeOf(() => parseRoster(corpus.rawXlsx(data), { now: NOW }))).toBe('ROSTER_TOO_MANY_COLUMNS');
    // A hang detector, not a speed bound: it ran past 60 s beside a CPU hog at load 11–17.
  }, 300_000);

  it('a CSV line of more fields than Excel has columns', async () => {
    const line = Buffer.from(`姓名,身份证号\n${','.repeat(20_000)}x\n`);
    expect(await codeOf(() => parseRoster(line, { now: NOW }))).toBe('ROSTER_TOO_MANY_COLUMNS');
  });

  it('a merged range over the whole sheet', async () => {
    const data =
      `${header}${rows(3000, (r) => `<c r="A${r}" t="str"><v>x</v></c>`)}` +
      '</sheetData><mergeCells><mergeCell ref="A2:XFD1048576"/></mergeCells><sheetData>';
    expect(await codeOf(() => parseRoster(corpus.rawXlsx(data), { now: NOW }))).toBe('ROSTER_TOO_MANY_MERGES');
  }, 60_000);
});

describe('real-world XML', () => {
  it.each([
    ['UTF-16 LE with BOM', { encoding: 'utf16le', bom: true }],
    ['UTF-16 BE with BOM', { encoding: 'utf16be', bom: true }],
    ['UTF-16 LE without BOM', { encoding: 'utf16le', bom: false }],
    ['UTF-8 with BOM', { encoding: 'utf8', bom: true }],
    ['backslash entry names', { backslash: true }],
    ['ZIP64 sizes and offsets', { zip64: true }],
  ] as const)('%s: the same rows as plain UTF-8', async (_label, options) => {
    const data = `${header}${personRow(2, 0)}${personRow(3, 1)}`;
    const plain = await parseRoster(corpus.rawXlsx(data), { now: NOW });
    const variant = await parseRoster(corpus.rawXlsx(data, { ...options, sharedStrings: ['<t>未用</t>'] }), {
      now: NOW,
    });
    expect(variant.records).toEqual(plain.records);
    expect(variant.records).toHaveLength(2);
  });

  it('reads a literal CR LF (or a lone CR) as LF, and keeps an escaped CR', async () => {
    const data =
      '<row r="1"><c t="inlineStr"><is><t>a\r\nb</t></is></c><c t="str"><v>c\rd</v></c><c t="str"><v>e_x000D_\r\nf&#13;g</v></c></row>';
    expect(await collect(openXlsx(corpus.rawXlsx(data)), '名单')).toEqual([
      { rowNumber: 1, cells: [s('a\nb'), s('c\nd'), s('e\r\nf\rg')] },
    ]);
  });

  it('merges repeated <row r="N"> elements (one per cell) into row N', async () => {
    const data =
      '<row r="1"><c r="A1" t="str"><v>a</v></c></row><row r="1"><c r="B1" t="str"><v>b</v></c></row>' +
      '<row r="2"><c r="A2" t="str"><v>c</v></c></row><row r="2"><c r="C2" t="str"><v>d</v></c></row>';
    expect(await collect(openXlsx(corpus.rawXlsx(data)), '名单')).toEqual([
      { rowNumber: 1, cells: [s('a'), s('b')] },
      { rowNumber: 2, cells: [s('c'), { value: null, type: 'empty' }, s('d')] },
    ]);
  });
});

describe('one bad cell is one row error', () => {
  it('reports a date serial of 1e9 on its row and imports the rest', async () => {
    const data = `${header}${personRow(2, 0, '<c r="C2"><v>1e9</v></c>')}${personRow(3, 1, '<c r="C3"><v>45293</v></c>')}`;
    const result = await parseRoster(corpus.rawXlsx(data), { now: NOW });
    expect(result.errors).toEqual([expect.objectContaining({ row: 2, code: 'ROW_DATE_INVALID', column: '入职日期' })]);
    expect(result.records).toEqual([expect.objectContaining({ row: 3, startDate: '2024-01-02' })]);
  });
});

describe('.xls in a worker with bounded memory', () => {
  const loose = { heapMb: 512, timeMs: 120_000, rssGrowthMb: 4096 };

  it('stops the parse at the limit it outgrows, each named, and the process carries on', async () => {
    const xls = corpus.xlsRoster(3000);
    // The worker's own heap limit (resourceLimits): V8 stops the worker, not the process.
    expect(await parseXlsIsolated(xls, { ...loose, heapMb: 4 })).toEqual({
      ok: false,
      reason: 'too-complex',
      limit: 'heap',
    });
    // Where --max-old-space-size overrides the worker's heap limit, the process's RSS growth stops it.
    expect(await parseXlsIsolated(xls, { ...loose, rssGrowthMb: 1 })).toEqual({
      ok: false,
      reason: 'too-complex',
      limit: 'rss',
    });
    // Within the default limits every row comes back, across several bounded messages.
    const normal = await parseXlsIsolated(xls);
    expect(normal.ok && normal.workbook.sheets[0]?.rows.length).toBe(3001);
    expect(3001).toBeGreaterThan(XLS_MESSAGE_ROWS);
  }, 120_000);

  it('stops a parse whose text sent back outgrows its budget (one shared string copied into every cell)', async () => {
    // SheetJS keeps a shared string once; each copy sent back is a string of its own. The budget
    // counts every character sent: here 3,001 rows of ~40 characters against 10,000.
    const xls = corpus.xlsRoster(3000);
    expect(await parseXlsIsolated(xls, { ...loose, transferChars: 10_000 })).toEqual({
      ok: false,
      reason: 'too-complex',
      limit: 'transfer',
    });
    expect((await parseXlsIsolated(xls, { ...loose, transferChars: 1_000_000 })).ok).toBe(true);
    // The default budget holds a full .xls roster (65,536 rows of ~100 characters) many times over.
    expect(XLS_TRANSFER_CHARS).toBeGreaterThan(65_536 * 100);
  }, 120_000);

  it('reads a normal .xls through the worker', async () => {
    expect((await parseRoster(corpus.xlsRoster(5), { now: NOW })).records).toHaveLength(5);
  }, 60_000);
});

describe('long text: a cell holds at most 32,767 characters, a field what it sensibly can', () => {
  const long = (n: number) => 'x'.repeat(n);
  const ss = (text: string) => `<t>${text}</t>`;

  it('cuts a shared string, an inline string and a CSV field at Excel’s 32,767 characters', async () => {
    const data = `<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>${long(40_000)}</t></is></c></row>`;
    const [row] = await collect(openXlsx(corpus.rawXlsx(data, { sharedStrings: [ss(long(50_000))] })), '名单');
    expect(row?.cells.map((c) => String(c.value).length)).toEqual([MAX_CELL_CHARS, MAX_CELL_CHARS]);
    const csvRows = await parseRoster(
      corpus.csv([
        ['姓名', '身份证号', '备注'],
        ['张三', corpus.person(0).idCard, long(40_000)],
      ]),
      {
        now: NOW,
      },
    );
    expect(csvRows.errors).toEqual([expect.objectContaining({ row: 2, column: '备注', code: 'ROW_FIELD_TOO_LONG' })]);
  });

  it('an optional field over its limit is one error of its row; at the limit it imports', async () => {
    const rows = [
      ['姓名', '身份证号', '手机号', '部门', '工号', '备注', '入职日期'],
      ...Object.entries(FIELD_MAX_CHARS).flatMap(([field, max], i) => {
        const index = ['phone', 'department', 'employeeNo', 'note', 'startDate'].indexOf(field) + 2;
        const over = [corpus.person(2 * i).name, corpus.person(2 * i).idCard, '', '', '', '', ''];
        over[index] = long(max + 1);
        const at = [corpus.person(2 * i + 1).name, corpus.person(2 * i + 1).idCard, '', '', '', '', ''];
        if (field !== 'phone' && field !== 'startDate') at[index] = long(max);
        return [over, at];
      }),
    ];
    const result = await parseRoster(corpus.csv(rows), { now: NOW });
    expect(result.errors.map((e) => [e.row, e.column, e.code])).toEqual([
      [2, '手机号', 'ROW_FIELD_TOO_LONG'],
      [4, '部门', 'ROW_FIELD_TOO_LONG'],
      [6, '工号', 'ROW_FIELD_TOO_LONG'],
      [8, '备注', 'ROW_FIELD_TOO_LONG'],
      [10, '入职日期', 'ROW_FIELD_TOO_LONG'],
    ]);
    expect(result.errors[0]?.message).toMatch(/32/);
    expect(result.records.map((r) => r.row)).toEqual([3, 5, 7, 9, 11]);
    expect(result.records[1]?.department).toHaveLength(FIELD_MAX_CHARS.department);
    expect(result.records[3]?.note).toHaveLength(FIELD_MAX_CHARS.note);
  });

  it('a row error repeats at most 64 characters of a long header', async () => {
    const header = `备注（${long(30_000)}）`;
    const result = await parseRoster(
      corpus.csv([
        ['姓名', '身份证号', header],
        [corpus.person(0).name, corpus.person(0).idCard, long(300)],
      ]),
      { now: NOW },
    );
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.column.length).toBeLessThanOrEqual(MAX_COLUMN_CHARS + 1);
  });

  it('refuses one 32 KB shared string referenced by every row (GBs of text) with ROSTER_TOO_MUCH_TEXT', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => personRow(i + 2, i, `<c r="C${i + 2}" t="s"><v>0</v></c>`));
    const buffer = corpus.rawXlsx(header.replace('入职日期', '备注') + rows.join(''), {
      sharedStrings: [ss(long(MAX_CELL_CHARS))],
    });
    // 20,000 × 32,767 characters is 655M: over the budget after ~8,200 rows, never held at once.
    expect(TEXT_BUDGET / MAX_CELL_CHARS).toBeLessThan(20_000);
    expect(await codeOf(() => parseRoster(buffer, { now: NOW }))).toBe('ROSTER_TOO_MUCH_TEXT');
  }, 120_000);
});

describe('zip bombs: declared sizes are checked before, and while, inflating', () => {
  /** The zip with `entry`'s declared uncompressed size (central directory) set to `size`. */
  function declare(zip: Buffer, entry: string, size: number): Buffer {
    const out = Buffer.from(zip);
    for (let pos = out.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); pos >= 0; pos -= 1) {
      if (out.readUInt32LE(pos) !== 0x02014b50) continue;
      const name = out.toString('utf8', pos + 46, pos + 46 + out.readUInt16LE(pos + 28));
      if (name === entry) {
        out.writeUInt32LE(size, pos + 24);
        return out;
      }
    }
    throw new Error(`no entry ${entry}`);
  }
  const sheet = 'xl/worksheets/sheet1.xml';
  const rows = Array.from({ length: 2000 }, (_, i) => personRow(i + 2, i)).join('');

  it('reads the file as written (the sizes it declares are right)', async () => {
    expect((await parseRoster(corpus.rawXlsx(header + rows), { now: NOW })).records).toHaveLength(2000);
  });

  it('refuses a part that declares more than 1 GiB before inflating a byte', async () => {
    expect(PART_LIMIT).toBe(1024 ** 3);
    const bomb = declare(corpus.rawXlsx(header + rows), sheet, PART_LIMIT + 1);
    let checkpoints = 0;
    const code = await codeOf(() => parseRoster(bomb, { now: NOW, checkpoint: () => void (checkpoints += 1) }));
    expect(code).toBe('ROSTER_FILE_TOO_LARGE');
    expect(checkpoints).toBe(0); // refused from the directory: not one chunk was inflated
    const workbook = declare(corpus.rawXlsx(header + rows), 'xl/workbook.xml', 64 * 1024 * 1024);
    expect(await codeOf(() => parseRoster(workbook, { now: NOW }))).toBe('ROSTER_FILE_TOO_LARGE');
  });

  it('stops a part that inflates past what it declared as soon as it does', async () => {
    let checkpoints = 0;
    const liar = declare(corpus.rawXlsx(header + rows), sheet, 1000);
    const code = await codeOf(() => parseRoster(liar, { now: NOW, checkpoint: () => void (checkpoints += 1) }));
    expect(code).toBe('ROSTER_FILE_UNREADABLE');
    expect(checkpoints).toBeLessThanOrEqual(2); // one 64 KB chunk, not the whole part
    const small = declare(corpus.rawXlsx(header + rows), 'xl/workbook.xml', 10);
    expect(await codeOf(() => parseRoster(small, { now: NOW }))).toBe('ROSTER_FILE_UNREADABLE');
    const stored = declare(corpus.rawXlsx(header + rows, { store: true }), sheet, 1000);
    expect(await codeOf(() => parseRoster(stored, { now: NOW }))).toBe('ROSTER_FILE_UNREADABLE');
  });
});

describe('the checkpoint: reading stops wherever it is when the invocation’s time is up', () => {
  const stopAfter = (n: number) => {
    let calls = 0;
    return () => {
      calls += 1;
      if (calls > n) throw new RosterFileError('ROSTER_TIMEOUT_TOO_SHORT');
    };
  };
  const big = corpus.rawXlsx(header + Array.from({ length: 3000 }, (_, i) => personRow(i + 2, i)).join(''), {
    sharedStrings: ['<t>x</t>'],
  });

  it('while the file is opened (the first chunk), and while rows are read', async () => {
    expect(await codeOf(() => openRoster(big, { now: NOW, checkpoint: stopAfter(0) }))).toBe(
      'ROSTER_TIMEOUT_TOO_SHORT',
    );
    const roster = await openRoster(big, { now: NOW, checkpoint: stopAfter(20) });
    expect(
      await codeOf(async () => {
        for await (const batch of roster.batches()) void batch;
      }),
    ).toBe('ROSTER_TIMEOUT_TOO_SHORT');
  });

  it('every 256 rows of a CSV too', async () => {
    const file = corpus.csv([corpus.HEADER, ...corpus.csvRows(1000).slice(1)]);
    const roster = await openRoster(file, { now: NOW, checkpoint: stopAfter(2) });
    expect(
      await codeOf(async () => {
        for await (const batch of roster.batches()) void batch;
      }),
    ).toBe('ROSTER_TIMEOUT_TOO_SHORT');
    expect((await parseRoster(file, { now: NOW, checkpoint: stopAfter(100) })).total).toBeGreaterThan(900);
  });
});
