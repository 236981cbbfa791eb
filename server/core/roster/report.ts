/** The two files an admin downloads: the error report of an import, and the blank template. */
import type { RosterRowError } from '../../../miniprogram/shared/contracts';
import { ERRORS } from '../../../miniprogram/shared/errors';
import { maskIdCard } from '../../../miniprogram/shared/mask';
import { buildWorkbook } from '../xlsx';
import { TEMPLATE_EXAMPLE_ID } from './template-marker';

export const TEMPLATE_HEADERS = ['姓名', '身份证号', '手机号', '部门', '工号', '备注'] as const;
/** Rows below the example whose ID and phone cells are pre-formatted as text. */
export const TEMPLATE_TEXT_ROWS = 1000;
export { TEMPLATE_EXAMPLE_ID };

const build = buildWorkbook;

/** Row errors an error report lists at most (the rest are counted in its last line). */
export const MAX_REPORT_ERRORS = 10_000;

/** Anything shaped like an ID number (15 or 18 characters) is masked, whatever produced the text. */
function scrub(text: string): string {
  return text.replace(/\d{17}[\dXx]|\d{15}/g, (id) => maskIdCard(id));
}

/**
 * 行号 / 列 / 问题, one line per row error. Row errors carry no cell values, so neither a name nor an
 * ID number can reach the file; the scrub is a second line of defence for custom messages.
 */
export function buildErrorReport(errors: readonly RosterRowError[], total = errors.length): Buffer {
  const listed = errors.slice(0, MAX_REPORT_ERRORS);
  const data: (string | number)[][] = [
    ['行号', '列', '问题'],
    ...listed.map((e) => [e.row, scrub(e.column), scrub(e.message)]),
  ];
  if (total > listed.length) {
    data.push(['', '', `${ERRORS.ROSTER_REPORT_TRUNCATED}（共 ${total} 个问题，列出前 ${listed.length} 个）`]);
  }
  return build([{ name: '错误明细', data, options: { '!cols': [{ wch: 8 }, { wch: 16 }, { wch: 60 }] } }]);
}

const TEXT = '@';
const textCell = (v: string) => ({ t: 's', v, z: TEXT });
/** An empty cell formatted as text: what the admin types there stays text (no 4.40106E+17). */
const TEXT_STUB = { t: 'z', z: TEXT };

const INSTRUCTIONS = [
  ['填写说明'],
  [
    '1. 请在“名单”工作表中从第 3 行起填写，每人一行；第 2 行是示例（其身份证号是国家标准中的示例号码），导入时会自动跳过，可保留或删除。',
  ],
  ['2. 姓名、身份证号为必填；手机号、部门、工号、备注可不填。'],
  ['3. 身份证号须为 18 位（最后一位可以是 X），15 位旧号码请换成 18 位。'],
  [
    '4. 身份证号和手机号两列已设为“文本”格式，请勿改为数字或“常规”：Excel 对数字只保留 15 位有效数字，身份证号后几位会变成 0 且无法恢复。',
  ],
  ['5. 从其他表格粘贴时请使用“选择性粘贴 → 值”，并确认身份证号没有变成 4.40106E+17 这样的形式。'],
  ['6. 手机号为 11 位中国大陆手机号，可带 +86 前缀或空格、短横线。'],
  ['7. 同一身份证号在文件中只能出现一次：重复的行会被标出，只导入第一次出现的那一行。'],
  ['8. 可以保存为 .xlsx、.xls 或 .csv（UTF-8 或 GBK 编码）上传；请勿修改第 1 行的列名。'],
];

/** The roster template: header row, one example row, ID and phone columns as text, and the rules. */
export function buildTemplate(): Buffer {
  const blankRows = Array.from({ length: TEMPLATE_TEXT_ROWS }, () => [null, TEXT_STUB, TEXT_STUB]);
  const roster = [
    [...TEMPLATE_HEADERS],
    ['张三', textCell(TEMPLATE_EXAMPLE_ID), textCell('13800000000'), '内科', 'A0001', '示例行，不会导入'],
    ...blankRows,
  ];
  return build([
    { name: '名单', data: roster, options: { '!cols': [10, 22, 15, 12, 10, 24].map((wch) => ({ wch })) } },
    { name: '填写说明', data: INSTRUCTIONS, options: { '!cols': [{ wch: 100 }] } },
  ]);
}
