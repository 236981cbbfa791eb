/**
 * Roster parser benchmark: `node scripts/run.js scripts/bench-parse.ts --rows 100000`.
 * Generates an .xlsx of N made-up people (shared strings, as Excel writes), then runs parse +
 * validate once per reader, each in a fresh child process so that peak RSS is that reader's own,
 * and prints one JSON line per reader: { reader, rows, seconds, peakRssMB, records, errors }.
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import type * as NodeXlsx from 'node-xlsx';
import { openRoster, openRosterSource, type RosterImport } from '../server/core/roster';
import { SHEETJS_LEAN_OPTIONS } from '../server/core/roster/read';
import { EMPTY, type Cell, type WorkbookSource } from '../server/core/roster/types';
import type * as Corpus from '../test/fixtures/roster/generate';

const READERS = ['node-xlsx-default', 'node-xlsx-lean', 'stream'] as const;
type Reader = (typeof READERS)[number];

/** What the tutorial does: `node-xlsx.parse` (default or lean options), rows typed by `typeof`. */
function nodeXlsxSource(buffer: Buffer, lean: boolean): WorkbookSource {
  const { parse } = require('node-xlsx') as typeof NodeXlsx;
  const sheets = parse<unknown[]>(buffer, lean ? SHEETJS_LEAN_OPTIONS : {});
  const cell = (v: unknown): Cell =>
    typeof v === 'number'
      ? { value: v, type: 'number' }
      : v === undefined || v === null || v === ''
        ? EMPTY
        : { value: String(v), type: 'string' };
  return {
    format: 'xlsx',
    sheets: sheets.map(({ name }) => ({ name, hidden: false })),
    date1904: false,
    merges: async () => [],
    async *rows(name) {
      const data = sheets.find((s) => s.name === name)?.data ?? [];
      for (let r = 0; r < data.length; r += 1) {
        const cells = Array.from(data[r] ?? [], cell);
        if (cells.length > 0) yield { rowNumber: r + 1, cells };
      }
    },
  };
}

async function child(reader: Reader, file: string, rows: number): Promise<void> {
  const started = process.hrtime.bigint();
  const buffer = readFileSync(file);
  const roster: RosterImport =
    reader === 'stream'
      ? await openRoster(buffer)
      : await openRosterSource(nodeXlsxSource(buffer, reader === 'node-xlsx-lean'));
  let records = 0;
  let errors = 0;
  for await (const batch of roster.batches({ size: 1000 })) {
    records += batch.records.length;
    errors += batch.errors.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(JSON.stringify({ reader, rows, seconds: Number(seconds.toFixed(2)), peakRssMB, records, errors }));
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export async function main(args: string[]): Promise<number> {
  const rows = Number(option(args, '--rows') ?? 100_000);
  if (!Number.isInteger(rows) || rows <= 0) {
    console.error('usage: bench-parse.ts [--rows N]');
    return 2;
  }
  const childReader = option(args, '--child') as Reader | undefined;
  const file = option(args, '--file');
  if (childReader && file) {
    await child(childReader, file, rows);
    return 0;
  }

  const dir = mkdtempSync(join(tmpdir(), 'bench-roster-'));
  try {
    const path = join(dir, `roster-${rows}.xlsx`);
    const { cleanRoster } = require('../test/fixtures/roster/generate') as typeof Corpus;
    writeFileSync(path, cleanRoster(rows));
    let failed = 0;
    for (const reader of READERS) {
      const run = spawnSync(
        process.execPath,
        ['scripts/run.js', 'scripts/bench-parse.ts', '--child', reader, '--file', path, '--rows', String(rows)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      if (run.status === 0) process.stdout.write(run.stdout);
      else {
        failed += 1;
        console.log(JSON.stringify({ reader, rows, failed: run.signal ?? `exit ${run.status}` }));
      }
    }
    return failed === 0 ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
