/**
 * Runs roster files through the import's reading path (`openRoster` and all its batches), one JSON
 * line per file on stdout: `{ file, ok, format, sheet, total, records, errorCodes }` or
 * `{ file, ok: false, code, message }`. Started by the corpus test in a child process with the
 * function's memory (`--max-old-space-size=256`), so an out-of-memory or a hang is seen as such.
 *
 *   node -r ./scripts/register.js test/helpers/roster-probe.ts <file>...
 */
import fs from 'fs';
import path from 'path';
import { openRoster } from '../../server/core/roster';
import { openWorkbook } from '../../server/core/roster/read';
import { isRosterFileError } from '../../server/core/roster/types';

/** A fixed "today" after every made-up birth date. */
const NOW = new Date('2026-11-21T00:00:00Z');

export interface ProbeResult {
  file: string;
  ok: boolean;
  format?: string;
  sheet?: string;
  total?: number;
  records?: number;
  /** Row error code → how many. */
  errorCodes?: Record<string, number>;
  /** Name, ID, phone, department, staff number, start date of each record (generated rosters are compared with this). */
  people?: string[][];
  code?: string;
  message?: string;
}

export async function probe(file: string): Promise<ProbeResult> {
  const name = path.basename(file);
  try {
    const roster = await openRoster(fs.readFileSync(file), { fileName: name, now: NOW });
    const result: ProbeResult = { file, ok: true, format: roster.format, sheet: roster.sheet, records: 0, people: [] };
    const codes: Record<string, number> = {};
    for await (const batch of roster.batches()) {
      result.records = (result.records ?? 0) + batch.records.length;
      for (const r of batch.records) {
        result.people?.push([
          r.name,
          r.idCard,
          r.phone ?? '',
          r.department ?? '',
          r.employeeNo ?? '',
          r.startDate ?? '',
        ]);
      }
      for (const e of batch.errors) codes[e.code] = (codes[e.code] ?? 0) + 1;
      if (batch.done) result.total = batch.dataRows;
    }
    result.errorCodes = codes;
    return result;
  } catch (err) {
    if (isRosterFileError(err)) return { file, ok: false, code: err.code, message: err.publicMessage };
    const e = err as Error;
    return { file, ok: false, code: 'CRASH', message: `${e.name}: ${e.message}` };
  }
}

export interface CellsResult {
  file: string;
  /** Sheet name → its rows as [row number, values]; or the file's error code. */
  sheets?: Record<string, [number, (string | number | boolean | null)[]][]>;
  code?: string;
}

/** Every sheet's cells as the reader gives them (the reader alone: no header, no validation). */
export async function cells(file: string): Promise<CellsResult> {
  try {
    const source = await openWorkbook(fs.readFileSync(file), { fileName: path.basename(file) });
    const sheets: CellsResult['sheets'] = {};
    for (const { name } of source.sheets) {
      const rows: [number, (string | number | boolean | null)[]][] = [];
      for await (const row of source.rows(name)) rows.push([row.rowNumber, row.cells.map((c) => c.value)]);
      sheets[name] = rows;
    }
    return { file, sheets };
  } catch (err) {
    return { file, code: isRosterFileError(err) ? err.code : `CRASH ${(err as Error).message}` };
  }
}

if (require.main === module) {
  void (async () => {
    const args = process.argv.slice(2);
    const dump = args[0] === '--cells';
    for (const file of dump ? args.slice(1) : args) {
      process.stdout.write(`${JSON.stringify(dump ? await cells(file) : await probe(file))}\n`);
    }
  })();
}
