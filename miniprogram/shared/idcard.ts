/**
 * Chinese resident identity card number (GB 11643-1999): 6-digit region, 8-digit birth date,
 * 3-digit sequence, check character. The one validator used by the client form, the face and
 * real-name functions, and the roster import.
 */
import type { ErrorCode } from './errors';
import { normalizeIdCard } from './normalize';

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const CHECK_CHARS = '10X98765432';

/** Province-level codes of GB/T 2260 (the first two digits), incl. Taiwan, Hong Kong and Macao. */
const PROVINCES = new Set([
  '11',
  '12',
  '13',
  '14',
  '15',
  '21',
  '22',
  '23',
  '31',
  '32',
  '33',
  '34',
  '35',
  '36',
  '37',
  '41',
  '42',
  '43',
  '44',
  '45',
  '46',
  '50',
  '51',
  '52',
  '53',
  '54',
  '61',
  '62',
  '63',
  '64',
  '65',
  '71',
  '81',
  '82',
]);

export type IdCardCheck =
  | { ok: true; value: string; birthDate: string; gender: 'male' | 'female' }
  | { ok: false; code: Extract<ErrorCode, `ID_${string}`> };

/** The check character for the first 17 digits. */
export function idCardCheckChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i += 1) sum += Number(first17.charAt(i)) * (WEIGHTS[i] ?? 0);
  return CHECK_CHARS.charAt(sum % 11);
}

function isRealDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Normalises (NFKC, trim, x → X) and validates. `now` bounds the birth date (not in the future).
 */
export function checkIdCard(input: string, now: Date = new Date()): IdCardCheck {
  const value = normalizeIdCard(input);
  if (value === '') return { ok: false, code: 'ID_REQUIRED' };
  if (/^\d{15}$/.test(value)) return { ok: false, code: 'ID_15_DIGIT' };
  if (!/^\d{17}[\dX]$/.test(value)) return { ok: false, code: 'ID_FORMAT' };
  if (!PROVINCES.has(value.slice(0, 2)) || value.slice(2, 6) === '0000') return { ok: false, code: 'ID_REGION' };
  const year = Number(value.slice(6, 10));
  const month = Number(value.slice(10, 12));
  const day = Number(value.slice(12, 14));
  const birth = Date.UTC(year, month - 1, day);
  if (year < 1900 || !isRealDate(year, month, day) || birth > now.getTime()) return { ok: false, code: 'ID_DATE' };
  if (idCardCheckChar(value.slice(0, 17)) !== value.charAt(17)) return { ok: false, code: 'ID_CHECKSUM' };
  return {
    ok: true,
    value,
    birthDate: `${value.slice(6, 10)}-${value.slice(10, 12)}-${value.slice(12, 14)}`,
    gender: Number(value.charAt(16)) % 2 === 1 ? 'male' : 'female',
  };
}

/** Builds a valid number from a region, a birth date (YYYYMMDD) and a 3-digit sequence: for demo data and tests. */
export function makeIdCard(region: string, birth: string, sequence: string): string {
  const first17 = `${region}${birth}${sequence}`;
  if (!/^\d{17}$/.test(first17)) throw new Error('makeIdCard: region(6) + birth(8) + sequence(3) digits expected');
  return first17 + idCardCheckChar(first17);
}
