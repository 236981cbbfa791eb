/** The only forms in which names and ID numbers leave a cloud function or reach a log. */

/** 张三 → 张*, 欧阳娜娜 → 欧***, 买买提·吐尔逊 → 买******; code points, so rare characters stay whole. */
export function maskName(name: string): string {
  const chars = Array.from(name);
  if (chars.length === 0) return '';
  return chars[0] + '*'.repeat(Math.max(chars.length - 1, 1));
}

/** 440106199001011235 → 4401**********1235 (first 4, last 4). */
export function maskIdCard(id: string): string {
  if (id.length <= 8) return '*'.repeat(id.length);
  return id.slice(0, 4) + '*'.repeat(id.length - 8) + id.slice(-4);
}

/** A document other than the ID card: H12345678 → H******78 (first 1, last 2; short numbers all hidden). */
export function maskDocNumber(number: string): string {
  const chars = Array.from(number);
  if (chars.length < 6) return '*'.repeat(chars.length);
  return chars[0] + '*'.repeat(chars.length - 3) + chars.slice(-2).join('');
}

/** 13812345678 → 138****5678. */
export function maskPhone(phone: string): string {
  if (phone.length < 7) return '*'.repeat(phone.length);
  return phone.slice(0, 3) + '*'.repeat(phone.length - 7) + phone.slice(-4);
}
