/** Header recognition: one table of fields and the header texts people write for them. */
import { normalizeText } from '../../../miniprogram/shared/normalize';
import type { Cell } from './types';

export type RosterField = 'name' | 'idCard' | 'phone' | 'department' | 'employeeNo' | 'note' | 'startDate';

export interface FieldSpec {
  field: RosterField;
  required: boolean;
  /** Synonyms, best first: when two columns match one field, the better synonym wins. */
  headers: readonly string[];
}

/** Matching ignores case, width (NFKC), spaces, `*` and bracketed hints: "身份证号（必填）" = "身份证号". */
export const ROSTER_FIELDS: readonly FieldSpec[] = [
  { field: 'name', required: true, headers: ['姓名', '名字', 'name'] },
  {
    field: 'idCard',
    required: true,
    headers: ['身份证号', '身份证号码', '身份证', '公民身份号码', '证件号码', 'idcard', 'id'],
  },
  { field: 'phone', required: false, headers: ['手机号', '手机号码', '手机', 'mobile', '联系电话', '电话', 'phone'] },
  { field: 'department', required: false, headers: ['部门', '科室', 'department'] },
  { field: 'employeeNo', required: false, headers: ['工号', '编号', '员工编号', 'employeeno'] },
  { field: 'note', required: false, headers: ['备注', 'note'] },
  { field: 'startDate', required: false, headers: ['入职日期', '登记日期', '入住日期', '日期', 'date'] },
];

/** A field found in the header row: `indexes` holds more than one column when its header cell is merged. */
export interface RosterColumn {
  field: RosterField;
  /** The header as written in the file (whitespace collapsed): the `column` of row errors. */
  header: string;
  /** 0-based column indexes; a row's value is the first non-blank cell among them. */
  indexes: number[];
}

export function normalizeHeader(text: string): string {
  return normalizeText(text)
    .toLowerCase()
    .replace(/[([【<《][^)\]】>》]*[)\]】>》]/g, '')
    .replace(/[\s*:：_-]/g, '');
}

/** The columns of `cells` read as a header row, or null unless every required field is there. */
export function mapHeader(cells: readonly Cell[], fields: readonly FieldSpec[] = ROSTER_FIELDS): RosterColumn[] | null {
  const best = new Map<RosterField, RosterColumn & { rank: number }>();
  cells.forEach((cell, index) => {
    if (cell.type !== 'string') return;
    const key = normalizeHeader(String(cell.value));
    for (const spec of fields) {
      const rank = spec.headers.findIndex((header) => normalizeHeader(header) === key);
      if (rank < 0) continue;
      const found = best.get(spec.field);
      if (!found || rank < found.rank) {
        best.set(spec.field, {
          field: spec.field,
          header: String(cell.value).trim().replace(/\s+/g, ' '),
          indexes: [index],
          rank,
        });
      } else if (rank === found.rank) found.indexes.push(index);
      return;
    }
  });
  if (fields.some((spec) => spec.required && !best.has(spec.field))) return null;
  return Array.from(best.values(), ({ field, header, indexes }) => ({ field, header, indexes }));
}
