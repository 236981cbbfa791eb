/**
 * The pieces that let an import scale past 100k rows: ranged .xlsx reading (the same rows as the
 * in-memory reader, reading only the ranges it needs), the compact shared strings and ID index,
 * encrypted chunks (every way one can be wrong reads as ROSTER_CHUNK_LOST), the job's prepare and
 * write phases, and the prepare's time budget. No test depends on how fast this machine is.
 */
import crypto from 'crypto';
import * as corpus from '../../fixtures/roster/generate';
import { bigRoster } from '../../../scripts/bench/big-roster';
import type { PiiKeys } from '../../../server/core/pii';
import { parseRoster } from '../../../server/core/roster';
import { IdIndex } from '../../../server/core/roster/id-index';
import { openRoster } from '../../../server/core/roster/parse';
import {
  afterBatch,
  chunkPaths,
  MAX_CHUNKS,
  newJob,
  nextChunk,
  prepared,
  preparePaused,
  preparing,
  type RosterJob,
} from '../../../server/core/roster/job';
import { openRosterRanged } from '../../../server/core/roster/parse';
import {
  MIN_MARGIN_MS,
  MIN_SLICE_MS,
  prepareDeadline,
  prepareFits,
  timeoutTooShortMessage,
} from '../../../server/core/roster/slice';
import { openXlsx, openXlsxRanged, SharedStrings, type ByteSource } from '../../../server/core/roster/xlsx-stream';
import {
  ChunkStore,
  decodeChunk,
  encodeChunk,
  siblingFileID,
  type Chunk,
} from '../../../server/functions/roster/chunks';
import type { CloudStorage } from '../../../server/lib/storage';
import { byteRange } from '../../../sandbox/storage';
import { collect, NOW } from './helpers';

const keys: PiiKeys = {
  encKeyId: 'k1',
  encKeys: new Map([['k1', crypto.randomBytes(32)]]),
  indexKey: crypto.randomBytes(32),
  indexKeyId: 'i1',
  oldIndexKeys: new Map(),
};

/** A Buffer seen through ranged reads, counting what was read. */
function ranged(buffer: Buffer, fail?: () => Error): ByteSource & { head: Buffer; reads: number; bytes: number } {
  const source = {
    size: buffer.length,
    head: buffer.subarray(0, 64 * 1024),
    reads: 0,
    bytes: 0,
    async read(offset: number, length: number) {
      if (fail) throw fail();
      source.reads += 1;
      const piece = buffer.subarray(offset, Math.min(buffer.length, offset + length));
      source.bytes += piece.length;
      return piece;
    },
  };
  return source;
}

describe('ranged .xlsx reading', () => {
  it.each([
    ['shared strings', () => corpus.cleanRoster(300)],
    ['inline strings', () => corpus.cleanRoster(300, { sst: false })],
    ['merged header', () => corpus.mergedHeader()],
    ['several sheets', () => corpus.severalSheets()],
    [
      'ZIP64 fields',
      () => corpus.rawXlsx('<row r="1"><c t="inlineStr"><is><t>姓名</t></is></c></row>', { zip64: true }),
    ],
  ])('%s: the same sheets and rows as the in-memory reader', async (_label, make) => {
    const buffer = make();
    const whole = openXlsx(buffer);
    const byRange = await openXlsxRanged(ranged(buffer));
    expect(byRange.sheets).toEqual(whole.sheets);
    for (const { name } of whole.sheets) expect(await collect(byRange, name)).toEqual(await collect(whole, name));
  });

  it('opening reads the directory and the workbook only, not the sheet', async () => {
    const buffer = bigRoster(20_000);
    const file = ranged(buffer);
    const source = await openXlsxRanged(file);
    expect(source.sheets.map((s) => s.name)).toEqual(['名单']);
    expect(file.bytes).toBeLessThan(buffer.length / 4);
  });

  it('a roster read by ranges validates like one read whole', async () => {
    const buffer = bigRoster(2500);
    const roster = await openRosterRanged(ranged(buffer), { now: NOW });
    let records = 0;
    for await (const batch of roster.batches({ size: 1000 })) records += batch.records.length;
    expect(records).toBe(2500);
    expect((await parseRoster(buffer, { now: NOW })).records).toHaveLength(2500);
  });

  it('a truncated file is ROSTER_FILE_UNREADABLE; a failing storage read is thrown as is (not the file’s fault)', async () => {
    const buffer = corpus.cleanRoster(50);
    await expect(openXlsxRanged(ranged(buffer.subarray(0, buffer.length >> 1)))).rejects.toMatchObject({
      code: 'ROSTER_FILE_UNREADABLE',
    });
    const fault = new Error('storage down');
    await expect(openXlsxRanged(ranged(buffer, () => fault))).rejects.toBe(fault);
    // Failing once the sheet is being streamed: the same.
    const file = ranged(buffer);
    const source = await openXlsxRanged(file);
    file.read = async () => {
      throw fault;
    };
    await expect(collect(source, '名单')).rejects.toBe(fault);
  });

  it('a damaged sheet read by ranges is ROSTER_FILE_UNREADABLE', async () => {
    const buffer = corpus.zip(
      {
        '[Content_Types].xml': '<Types/>',
        'xl/workbook.xml': '<workbook><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>',
        'xl/_rels/workbook.xml.rels':
          '<Relationships><Relationship Id="rId1" Type="x/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        'xl/worksheets/sheet1.xml': `<worksheet><sheetData>${'<row><c t="inlineStr"><is><t>x</t></is></c></row>'.repeat(2000)}</sheetData></worksheet>`,
      },
      { corrupt: 'xl/worksheets/sheet1.xml' },
    );
    const source = await openXlsxRanged(ranged(buffer));
    await expect(collect(source, 'S')).rejects.toMatchObject({ code: 'ROSTER_FILE_UNREADABLE' });
  });
});

describe('compact tables', () => {
  it('SharedStrings answers every text as pushed, across blocks, and undefined out of range', () => {
    const strings = new SharedStrings();
    const texts = Array.from({ length: 50_000 }, (_, i) => (i % 7 === 0 ? `王芳${i}` : i % 11 === 0 ? '' : `E${i}`));
    texts.push('长'.repeat(2_000_000)); // more than a block: kept apart
    for (const t of texts) strings.push(t);
    expect(strings.length).toBe(texts.length);
    for (const i of [0, 1, 7, 11, 49_999, texts.length - 1]) expect(strings.get(i)).toBe(texts[i]);
    expect(strings.get(-1)).toBeUndefined();
    expect(strings.get(texts.length)).toBeUndefined();
    expect(strings.get(Number.NaN)).toBeUndefined();
  });

  it('IdIndex remembers the first row of each ID through growth, and other strings too', () => {
    const index = new IdIndex();
    const ids = Array.from({ length: 20_000 }, (_, i) => corpus.person(i).idCard);
    ids.forEach((id, i) => index.set(id, i + 2));
    expect(index.size).toBe(ids.length);
    ids.forEach((id, i) => expect(index.get(id)).toBe(i + 2));
    expect(index.get('110101199001011234')).toBeUndefined();
    index.set('not an id', 5);
    expect(index.get('not an id')).toBe(5);
    // An ID ending in X and one ending in 0 with the same first 17 digits are different keys.
    index.set('11010119900101123X', 9);
    expect(index.get('110101199001011230')).toBeUndefined();
    expect(index.get('11010119900101123X')).toBe(9);
  });
});

describe('a prepare resumed in a later slice', () => {
  /** Every row and error the batches give, from `batches(options)`. */
  async function drain(buffer: Buffer, options: Parameters<Awaited<ReturnType<typeof openRoster>>['batches']>[0]) {
    const roster = await openRoster(buffer, { now: NOW });
    const out = { records: [] as unknown[], errors: [] as unknown[], dataRows: 0, lastRow: 0 };
    for await (const batch of roster.batches(options)) {
      out.records.push(...batch.records);
      out.errors.push(...batch.errors);
      out.dataRows = batch.dataRows;
      if (batch.lastRow > 0) out.lastRow = batch.lastRow;
    }
    return out;
  }

  it('reads on after the pause exactly as one pass would: rows, counts, duplicates across the pause, merged cells', async () => {
    const people = Array.from({ length: 30 }, (_, i) => corpus.person(i));
    const rows: corpus.CellInput[][] = [corpus.HEADER, ...people.map((p) => corpus.personRow(p))];
    rows[25] = corpus.personRow(people[3] as corpus.Person); // row 26 repeats row 5's ID, after the pause
    rows[12] = ['', '', '', '', '', '']; // a blank row before it
    // 部门 merged over rows 18–24 (empty below its top, as Excel keeps it): the pause at row 20 falls inside it.
    for (let r = 19; r <= 24; r += 1) (rows[r - 1] as corpus.CellInput[])[3] = '';
    const buffer = corpus.workbook([{ name: '名单', rows, merges: ['D18:D24'] }]);
    const whole = await drain(buffer, { size: 7 });

    // The first slice reads up to row 20 (a batch boundary), keeping the IDs it saw.
    const ids = new IdIndex();
    const first = await openRoster(buffer, { now: NOW });
    let paused = { row: 0, dataRows: 0 };
    for await (const batch of first.batches({ size: 7, ids })) {
      paused = { row: batch.lastRow, dataRows: batch.dataRows };
      if (batch.lastRow >= 20) break;
    }
    expect(paused.row).toBeGreaterThanOrEqual(20);
    const carried = IdIndex.fromBuffer(ids.toBuffer());
    const rest = await drain(buffer, {
      size: 7,
      afterRow: paused.row,
      ids: carried,
      resume: { dataRows: paused.dataRows },
    });
    const after = (list: unknown[]) => list.filter((r) => (r as { row: number }).row > paused.row);
    expect(rest.records).toEqual(after(whole.records));
    expect(rest.errors).toEqual(after(whole.errors));
    expect(rest.errors).toEqual([expect.objectContaining({ row: 26, code: 'ROW_DUPLICATE' })]);
    expect(rest.dataRows).toBe(whole.dataRows);
    // The merged department still fills the rows after the pause.
    const merged = rest.records.filter((r) => (r as { row: number }).row <= 24);
    expect(merged.length).toBeGreaterThan(0);
    for (const r of merged) expect((r as { department?: string }).department).toBe(people[16]?.department);
  });

  it('IdIndex carries over through bytes, the others included; bytes that are not one are refused', () => {
    const index = new IdIndex();
    for (let i = 0; i < 5000; i += 1) index.set(corpus.person(i).idCard, i + 2);
    index.set('other', 7);
    const back = IdIndex.fromBuffer(index.toBuffer());
    expect(back.size).toBe(index.size);
    expect(back.get(corpus.person(4321).idCard)).toBe(4323);
    expect(back.get('other')).toBe(7);
    expect(() => IdIndex.fromBuffer(Buffer.alloc(9))).toThrow();
    // Read back through a row (where the job says it paused): later IDs are not in it.
    const through = IdIndex.fromBuffer(index.toBuffer(), 3000);
    expect(through.size).toBe(3000);
    expect(through.get(corpus.person(2997).idCard)).toBe(2999);
    expect(through.get(corpus.person(2998).idCard)).toBe(3000);
    expect(through.get(corpus.person(2999).idCard)).toBeUndefined();
    expect(through.get('other')).toBe(7);
    expect(IdIndex.fromBuffer(index.toBuffer(), 6).get('other')).toBeUndefined();
  });

  it('the job records where it paused, and still prepares', () => {
    const job = newJob({ id: 'j', fileID: 'f', fileHash: 'h', dryRun: false, createdBy: 'c', now: 0, chunkPath: 'p/' });
    const paused = preparePaused(job, [10_001], 10_001, 10_000);
    expect(preparing(paused)).toBe(true);
    expect(paused).toMatchObject({ preparedRow: 10_001, preparedDataRows: 10_000, chunkEnds: [10_001], total: 10_000 });
    expect(chunkPaths(paused)).toContain('p/state.bin');
  });
});

describe('chunks', () => {
  const chunk: Chunk = {
    columns: [{ field: 'name', header: '姓名', indexes: [0] }],
    batches: [
      {
        records: [{ row: 2, name: '王芳', idCard: corpus.person(0).idCard }],
        errors: [],
        lastRow: 2,
        dataRows: 1,
        done: true,
      },
    ],
  };

  it('round-trips, holds no plain personal data, and is bound to its job and index', () => {
    const stored = encodeChunk(keys, 'job1', 3, chunk);
    expect(stored.toString('utf8')).not.toContain(corpus.person(0).idCard);
    expect(stored.toString('utf8')).not.toContain('王芳');
    expect(decodeChunk(keys, 'job1', 3, stored)).toEqual(chunk);
    for (const [job, index] of [
      ['job2', 3],
      ['job1', 4],
    ] as const) {
      expect(() => decodeChunk(keys, job, index, stored)).toThrow(
        expect.objectContaining({ code: 'ROSTER_CHUNK_LOST' }),
      );
    }
  });

  it('a cut, altered or foreign chunk is ROSTER_CHUNK_LOST, never a crash', () => {
    const stored = encodeChunk(keys, 'job1', 0, chunk);
    const altered = Buffer.from(stored);
    const middle = altered.length >> 1;
    altered[middle] = (altered[middle] ?? 0) ^ 1;
    const otherKeys = { ...keys, encKeys: new Map([['k1', crypto.randomBytes(32)]]) };
    for (const bad of [stored.subarray(0, stored.length - 10), altered, Buffer.alloc(0), Buffer.from('{}')]) {
      expect(() => decodeChunk(keys, 'job1', 0, bad)).toThrow(expect.objectContaining({ code: 'ROSTER_CHUNK_LOST' }));
    }
    expect(() => decodeChunk(otherKeys, 'job1', 0, stored)).toThrow(
      expect.objectContaining({ code: 'ROSTER_CHUNK_LOST' }),
    );
  });

  const storage = (download: CloudStorage['downloadFile']): CloudStorage => ({
    downloadFile: download,
    uploadFile: async () => ({ fileID: '' }),
    getTempFileURL: async () => ({ fileList: [] }),
    deleteFile: async () => ({ fileList: [] }),
  });
  const job = {
    ...newJob({
      id: 'j',
      fileID: 'cloud://env.b/roster-uploads/a.xlsx',
      fileHash: 'h',
      dryRun: false,
      createdBy: 'c',
      now: 0,
      chunkPath: 'roster-chunks/j-r/',
    }),
  };

  it('a missing chunk is ROSTER_CHUNK_LOST; a storage fault is an InternalError (the next run retries)', async () => {
    const missing = new ChunkStore(
      storage(async () => Promise.reject({ errCode: -503003, errMsg: 'storage file not exists' })),
      keys,
    );
    await expect(missing.read(job, 0)).rejects.toMatchObject({ code: 'ROSTER_CHUNK_LOST' });
    await expect(missing.readState(job)).rejects.toMatchObject({ code: 'ROSTER_CHUNK_LOST' });
    const garbage = new ChunkStore(
      storage(async () => ({ fileContent: Buffer.from('not encrypted') })),
      keys,
    );
    await expect(garbage.readState(job)).rejects.toMatchObject({ code: 'ROSTER_CHUNK_LOST' });
    await expect(garbage.read(job, 0)).rejects.toMatchObject({ code: 'ROSTER_CHUNK_LOST' });
    const down = new ChunkStore(
      storage(async () => Promise.reject(new Error('ECONNRESET'))),
      keys,
    );
    await expect(down.read(job, 0)).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('chunk file IDs live beside the upload, under the job’s random path', () => {
    expect(siblingFileID('cloud://env.b/roster-uploads/a.xlsx', 'roster-chunks/j-r/0.bin')).toBe(
      'cloud://env.b/roster-chunks/j-r/0.bin',
    );
  });
});

describe('the job’s prepare and write phases (pure)', () => {
  const base = (): RosterJob =>
    newJob({
      id: 'j',
      fileID: 'f',
      fileHash: 'h',
      dryRun: false,
      createdBy: 'c',
      now: 0,
      chunkPath: 'roster-chunks/j-r/',
    });

  it('a new job prepares; once prepared it writes chunk after chunk by its cursor, then none is left', () => {
    const job = base();
    expect(preparing(job)).toBe(true);
    expect(nextChunk(job)).toBe(-1);
    const ready = prepared(job, [10_001, 20_001, 20_500], 20_499);
    expect(preparing(ready)).toBe(false);
    expect(ready.total).toBe(20_499);
    expect(nextChunk(ready)).toBe(0);
    expect(nextChunk({ ...ready, cursor: 10_001 })).toBe(1);
    expect(nextChunk({ ...ready, cursor: 15_000 })).toBe(1);
    expect(nextChunk({ ...ready, cursor: 20_500 })).toBe(-1);
  });

  it('a job stored before chunks existed (no phase) prepares first', () => {
    const { phase: _phase, ...legacy } = base();
    expect(preparing(legacy as RosterJob)).toBe(true);
  });

  it('progress keeps the total known from the prepare', () => {
    const ready = prepared(base(), [1001], 5000);
    const next = afterBatch(ready, {
      counts: { inserted: 1000, updated: 0, unchanged: 0, conflicts: 0 },
      errors: [],
      lastRow: 1001,
      dataRows: 1000,
    });
    expect(next.total).toBe(5000);
    expect(next.processed).toBe(1000);
  });

  it('names every chunk it recorded, or every name a prepare that died could have used', () => {
    expect(chunkPaths(prepared(base(), [5, 9], 8))).toEqual([
      'roster-chunks/j-r/0.bin',
      'roster-chunks/j-r/1.bin',
      'roster-chunks/j-r/state.bin',
    ]);
    const dying = chunkPaths(base());
    expect(dying).toHaveLength(MAX_CHUNKS + 1);
    expect(dying[MAX_CHUNKS - 1]).toBe(`roster-chunks/j-r/${MAX_CHUNKS - 1}.bin`);
    expect((MAX_CHUNKS - 1) * 10 * 1000).toBeGreaterThanOrEqual(1_048_576);
    // A prepare that paused 12 times (a partial chunk each) and then died: every number it used.
    const paused = preparePaused(base(), [5, 9, 12, 14, 20, 25, 31, 33, 40, 47, 52, 60], 60, 55);
    const names = chunkPaths(paused);
    expect(names).toHaveLength(12 + MAX_CHUNKS + 1);
    expect(names).toContain(`roster-chunks/j-r/${12 + MAX_CHUNKS - 1}.bin`);
    const { chunkPath: _none, ...noChunks } = base();
    expect(chunkPaths(noChunks as RosterJob)).toEqual([]);
  });
});

describe('the prepare’s time budget', () => {
  const t0 = 1_000_000;

  it('may use the whole timeout but the margin, at least the configured slice without a limit', () => {
    expect(prepareDeadline(t0, 40_000, 60_000)).toBe(t0 + 60_000 - MIN_MARGIN_MS);
    expect(prepareDeadline(t0, 40_000, 20_000)).toBe(t0 + 20_000 - MIN_MARGIN_MS);
    expect(prepareDeadline(t0, 40_000, 3_000)).toBe(t0 + MIN_SLICE_MS);
    expect(prepareDeadline(t0, 40_000, undefined)).toBe(t0 + 40_000);
    expect(prepareDeadline(t0, 0, undefined)).toBe(t0 + MIN_SLICE_MS);
  });

  it('refuses at once what a 3 s timeout cannot read, accepts 100k rows under 20 s and Excel’s limit under 60 s', () => {
    const MB = 1024 * 1024;
    expect(prepareFits(9.5 * MB, t0, prepareDeadline(t0, 40_000, 3_000))).toBe(false);
    expect(prepareFits(9.5 * MB, t0, prepareDeadline(t0, 40_000, 20_000))).toBe(true);
    expect(prepareFits(95 * MB, t0, prepareDeadline(t0, 40_000, 60_000))).toBe(true);
    expect(prepareFits(95 * MB, t0, prepareDeadline(t0, 40_000, 20_000))).toBe(false);
  });

  it('the refusal names the deployed timeout and how to raise it', () => {
    expect(timeoutTooShortMessage(3000)).toContain('3 秒');
    expect(timeoutTooShortMessage(3000)).toContain('npm run deploy');
    // At the manifest's 60 s (or more) raising it is no advice: the file is too large for one read.
    expect(timeoutTooShortMessage(60_000)).toMatch(/60 秒.*拆分/);
    expect(timeoutTooShortMessage(60_000)).not.toContain('设为 60 秒');
  });
});

describe('the sandbox storage serves one byte range as COS does', () => {
  it.each([
    ['bytes=0-9', [0, 9]],
    ['bytes=5-', [5, 99]],
    ['bytes=-10', [90, 99]],
    ['bytes=90-500', [90, 99]],
    ['bytes=-500', [0, 99]],
    ['bytes=100-', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=9-5', undefined],
    ['bytes=0-1,5-6', undefined],
    ['items=0-5', undefined],
    [undefined, undefined],
  ] as const)('%s of 100 bytes → %p', (header, expected) => {
    expect(byteRange(header, 100)).toEqual(expected);
  });
});
