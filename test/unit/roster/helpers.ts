/** Shared by the roster tests: rows of a reader, and node-xlsx's view of the same file. */
import { parse } from 'node-xlsx';
import { SHEETJS_LEAN_OPTIONS } from '../../../server/core/roster/read';
import type { Cell, SheetRow, WorkbookSource } from '../../../server/core/roster/types';

/** The fixed "today" of the tests: every generated birth date is before it. */
export const NOW = new Date('2026-11-21T00:00:00Z');

export async function collect(source: WorkbookSource, sheet: string): Promise<SheetRow[]> {
  const rows: SheetRow[] = [];
  for await (const row of source.rows(sheet)) rows.push(row);
  return rows;
}

/**
 * `node-xlsx.parse` with the lean options, as rows in the readers' shape: JS types become cell
 * types, missing / null / '' cells are empty, rows without a value are dropped.
 */
export function nodeXlsxRows(buffer: Buffer): Record<string, SheetRow[]> {
  const toCell = (v: unknown): Cell => {
    if (v === undefined || v === null || v === '') return { value: null, type: 'empty' };
    if (typeof v === 'number') return { value: v, type: 'number' };
    if (typeof v === 'boolean') return { value: v, type: 'boolean' };
    return { value: String(v), type: 'string' };
  };
  const sheets: Record<string, SheetRow[]> = {};
  for (const { name, data } of parse<unknown[]>(buffer, SHEETJS_LEAN_OPTIONS)) {
    sheets[name] = data.flatMap((values, r) => {
      const cells = Array.from(values ?? [], toCell);
      while (cells.length > 0 && cells[cells.length - 1]?.type === 'empty') cells.pop();
      return cells.length > 0 ? [{ rowNumber: r + 1, cells }] : [];
    });
  }
  return sheets;
}
