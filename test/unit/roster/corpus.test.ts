/**
 * The real-file corpus (`../shared/corpus` beside the clone: real spreadsheets from public projects'
 * test data, generated rosters and zip re-packings, each with what a correct reader yields). Every
 * file goes through the import's reading path (`openRoster` and all its batches) in a child process
 * with the function's heap (`--max-old-space-size=256`): it must import as its manifest says, or
 * fail with a specific ROSTER_* code. A crash, an out-of-memory exit, a hang or a generic error fails.
 */
import { execFile } from 'child_process';
import fs from 'fs';
import path from 'path';
import { person } from '../../fixtures/roster/generate';
import type { CellsResult, ProbeResult } from '../../helpers/roster-probe';

const ROOT = path.resolve(__dirname, '../../..');
const CORPUS = path.join(ROOT, '..', 'shared', 'corpus');
const PROBE = path.join(ROOT, 'test/helpers/roster-probe.ts');
/** A hang detector, not a speed target: the whole corpus reads in seconds on a loaded machine. */
const HANG_MS = 300_000;
// Every test spawns a probe process: on a loaded machine that alone can take longer than jest's 5 s.
jest.setTimeout(HANG_MS + 10_000);

interface Entry {
  file: string;
  category: string;
  expected: string;
}

const manifest = JSON.parse(fs.readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8')) as { files: Entry[] };
const byFile = new Map(manifest.files.map((e) => [e.file, e]));

/** Runs the probe over `files` in one child process; answers one parsed line per file it finished. */
function runProbe<T extends { file: string }>(files: string[], args: string[] = [], tz?: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        '--max-old-space-size=256',
        '-r',
        './scripts/register.js',
        PROBE,
        ...args,
        ...files.map((f) => path.join(CORPUS, f)),
      ],
      { cwd: ROOT, timeout: HANG_MS, maxBuffer: 256 * 1024 * 1024, env: { ...process.env, ...(tz ? { TZ: tz } : {}) } },
      (err, stdout) => {
        const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
        const results = lines.map((l) => JSON.parse(l) as T);
        if (err && results.length < files.length)
          reject(new Error(`the probe died after ${results.length} files: ${err.message}`));
        else resolve(results.map((r) => ({ ...r, file: path.relative(CORPUS, r.file) })));
      },
    );
  });
}

/** The 50 made-up people of every generated roster: name, ID, phone, department, staff number, date. */
const PEOPLE = Array.from({ length: 50 }, (_, i) => {
  const p = person(i);
  const date = new Date(Date.UTC(2020, 0, 1 + i)).toISOString().slice(0, 10);
  return [p.name, p.idCard, p.phone, p.department, p.employeeNo, date];
});

/** What the manifest's line says the import answers. */
function expectation(entry: Entry): { code?: string | string[]; records?: number; numericIds?: number } {
  const { category, expected } = entry;
  if (category === 'xlsb' || /save the file as \.xlsx/.test(expected)) return { code: 'ROSTER_FILE_XLSB' };
  if (category.startsWith('encrypted-')) return { code: 'ROSTER_FILE_ENCRYPTED' };
  if (category === 'default-password') return { code: ['ROSTER_FILE_ENCRYPTED', 'ROSTER_NO_HEADER'] };
  if (/ODS is not supported/.test(expected)) return { code: 'ROSTER_FILE_ODS' };
  const numeric = /(\d+) reported as ROW_ID_NUMERIC/.exec(expected);
  if (numeric) return { records: 50 - Number(numeric[1]), numericIds: Number(numeric[1]) };
  if (/^50 valid rows/.test(expected)) return { records: 50 };
  return { code: 'ROSTER_NO_HEADER' };
}

let results: Map<string, ProbeResult>;

beforeAll(async () => {
  const list = await runProbe<ProbeResult>(manifest.files.map((e) => e.file));
  results = new Map(list.map((r) => [r.file, r]));
}, HANG_MS + 10_000);

describe('every corpus file imports as its manifest says, or fails with a specific code', () => {
  it.each(manifest.files.map((e) => [e.file, e.category]))('%s (%s)', (file) => {
    const entry = byFile.get(file) as Entry;
    const result = results.get(file);
    expect(result).toBeDefined();
    const want = expectation(entry);
    if (want.code) {
      expect(result?.ok).toBe(false);
      expect(Array.isArray(want.code) ? want.code : [want.code]).toContain(result?.code);
      return;
    }
    expect(result).toMatchObject({ ok: true, total: 50, records: want.records });
    if (want.numericIds) {
      expect(result?.errorCodes).toEqual({ ROW_ID_NUMERIC: want.numericIds });
      // The IDs ending in X cannot be a number: those rows are imported, with every field right.
      for (const row of result?.people ?? []) expect(PEOPLE).toContainEqual(row);
    } else {
      expect(result?.errorCodes).toEqual({});
      expect(result?.people).toEqual(PEOPLE);
    }
  });
});

describe('each category reads as Excel shows it', () => {
  const filesOf = (category: string) => manifest.files.filter((e) => e.category === category);
  const strings = (r: CellsResult) =>
    Object.values(r.sheets ?? {}).flatMap((rows) =>
      rows.flatMap(([, values]) => values.filter((v) => typeof v === 'string')),
    ) as string[];

  it('t="d" date-times give the same values whatever the server time zone', async () => {
    const files = filesOf('iso-date-cells').map((e) => e.file);
    const [utc, shanghai, newYork] = await Promise.all(
      ['UTC', 'Asia/Shanghai', 'America/New_York'].map((tz) => runProbe<CellsResult>(files, ['--cells'], tz)),
    );
    expect(utc?.every((r) => r.sheets && Object.keys(r.sheets).length > 0)).toBe(true);
    expect(shanghai).toEqual(utc);
    expect(newYork).toEqual(utc);
  });

  it('a literal CR LF in XML text reads as LF; a CR written as _x000D_ or &#13; stays', async () => {
    const entries = filesOf('crlf-in-xml-text');
    const read = await runProbe<CellsResult>(
      entries.map((e) => e.file),
      ['--cells'],
    );
    for (const r of read) {
      const texts = strings(r);
      expect(texts.length).toBeGreaterThan(0);
      if (/_x000D_ or &#13; stays/.test(byFile.get(r.file)?.expected ?? '')) {
        // The escaped CR is kept (here before a line break, as Excel shows it).
        expect(texts.some((t) => t.includes('\r'))).toBe(true);
        expect(texts.some((t) => t.includes('\n'))).toBe(true);
      } else {
        expect(texts.filter((t) => t.includes('\r'))).toEqual([]);
      }
    }
  });

  it('UTF-16 XML parts give sheets with cells', async () => {
    const read = await runProbe<CellsResult>(
      filesOf('utf16-xml').map((e) => e.file),
      ['--cells'],
    );
    for (const r of read) {
      expect(r.code).toBeUndefined();
      const cells = Object.values(r.sheets ?? {}).flatMap((rows) =>
        rows.flatMap(([, v]) => v.filter((x) => x !== null)),
      );
      expect(cells.length).toBeGreaterThan(0);
    }
  });

  it('repeated <row r="N"> elements are one row N', async () => {
    const read = await runProbe<CellsResult>(
      filesOf('repeated-row-elements').map((e) => e.file),
      ['--cells'],
    );
    for (const r of read) {
      for (const rows of Object.values(r.sheets ?? {})) {
        const numbers = rows.map(([n]) => n);
        expect(new Set(numbers).size).toBe(numbers.length);
        expect(rows.some(([, values]) => values.filter((v) => v !== null).length > 1)).toBe(true);
      }
    }
  });

  it('backslash zip entry names name the same parts: the re-packed roster equals its original', async () => {
    const pairs = filesOf('backslash-zip-names')
      .map((e) => e.file)
      .filter((f) => f.startsWith('mutated/'))
      .map((f) => [f, `generated/${path.basename(f).replace('.backslash', '')}`]);
    expect(pairs.length).toBeGreaterThan(0);
    for (const [mutated, original] of pairs) {
      const [a, b] = await runProbe<CellsResult>([mutated as string, original as string], ['--cells']);
      expect(a?.sheets).toEqual(b?.sheets);
    }
  });
});
