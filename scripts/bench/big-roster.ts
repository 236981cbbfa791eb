/**
 * A roster .xlsx of any size up to Excel's 1,048,576 rows, written directly (SheetJS needs GBs to
 * write a million rows): one sheet, shared strings as Excel writes them (every distinct text once),
 * the same made-up people as the test corpus (`person(i)`), header 姓名/身份证号/手机号/部门/工号/备注.
 */
import { HEADER, person, rawXlsx } from '../../test/fixtures/roster/generate';

const COLUMNS = ['A', 'B', 'C', 'D', 'E', 'F'];

export function bigRoster(rows: number): Buffer {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const sst = (text: string): number => {
    let at = index.get(text);
    if (at === undefined) {
      at = strings.length;
      strings.push(`<t>${text}</t>`);
      // IDs, phones and staff numbers are unique: only repeated texts are worth remembering.
      if (strings.length < 10_000 || text.length < 6) index.set(text, at);
    }
    return at;
  };
  const row = (r: number, texts: string[]) =>
    `<row r="${r}">${texts.map((t, c) => `<c r="${COLUMNS[c]}${r}" t="s"><v>${sst(t)}</v></c>`).join('')}</row>`;
  const sheet: string[] = [row(1, HEADER)];
  for (let i = 0; i < rows; i += 1) {
    const p = person(i);
    sheet.push(row(i + 2, [p.name, p.idCard, p.phone, p.department, p.employeeNo]));
  }
  return rawXlsx(sheet.join(''), { sharedStrings: strings });
}
