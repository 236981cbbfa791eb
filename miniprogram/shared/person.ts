/** Name and phone rules, shared by the client form, the functions and the roster import. */
import type { ErrorCode } from './errors';
import { normalizeName, normalizeText } from './normalize';

export type FieldCheck = { ok: true; value: string } | { ok: false; code: ErrorCode };

/** Han ideographs: CJK unified (incl. extension A), compatibility, and the supplementary planes (ext. B+). */
function isHan(codePoint: number): boolean {
  return (
    (codePoint >= 0x3400 && codePoint <= 0x9fff) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0x20000 && codePoint <= 0x323af)
  );
}

function isLetter(char: string): boolean {
  return /^[A-Za-z]$/.test(char) || isHan(char.codePointAt(0) ?? 0);
}

/**
 * Names as printed on the ID card: Han characters (incl. rare ones outside the BMP), Latin letters
 * for some minority names, and the middle dot of transliterated names (买买提·吐尔逊). 2–30 characters.
 * Code-point checks rather than a `\p{}` regex, so the client's ES5 build handles it too.
 */
export function checkName(input: string): FieldCheck {
  const value = normalizeName(input);
  if (value === '') return { ok: false, code: 'NAME_REQUIRED' };
  const chars = Array.from(value);
  const first = chars[0] ?? '';
  const last = chars[chars.length - 1] ?? '';
  const valid =
    chars.length >= 2 &&
    chars.length <= 30 &&
    isLetter(first) &&
    isLetter(last) &&
    chars.every((char) => isLetter(char) || char === '·' || char === ' ') &&
    !/··| ·|· | {2}/.test(value);
  return valid ? { ok: true, value } : { ok: false, code: 'NAME_INVALID' };
}

/** Mainland mobile numbers; spaces, dashes and a +86 / 0086 prefix are removed first. */
export function checkPhone(input: string): FieldCheck {
  const value = normalizeText(input)
    .replace(/[\s-]/g, '')
    .replace(/^(\+?86|0086)(?=1\d{10}$)/, '');
  if (!/^1[3-9]\d{9}$/.test(value)) return { ok: false, code: 'PHONE_INVALID' };
  return { ok: true, value };
}
