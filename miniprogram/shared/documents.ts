/**
 * Identity documents for staff verification (`review`): people from Hong Kong, Macao and Taiwan,
 * foreigners, and mainland ID card holders no WeChat method works for (no WeChat Pay real name, or
 * no wish to use face). Each number is checked for its type, with a message that says what that
 * type looks like.
 *
 * Formats (the issuing authorities' published layouts; see docs/flows.md → 人工核验):
 * - 港澳居民来往内地通行证: H (Hong Kong) or M (Macao) and 8 digits; older cards add 2 digits.
 * - 台湾居民来往大陆通行证: 8 digits (the card since 2015); older ones 10.
 * - 港澳台居民居住证: 18 characters like a resident ID (GB 11643 check character, birth date), region
 *   810000 (Hong Kong), 820000 (Macao) or 830000 (Taiwan).
 * - 外国人永久居留身份证: the 2023 card, 18 characters like a resident ID starting with 9 (issuing
 *   province, nationality, birth date at the same place as an ID card's, GB 11643 check character),
 *   or the older 15: 3 letters (nationality) and 12 digits (checked for shape only).
 * - Passport: 5 to 20 letters and digits (each state has its own layout).
 */
import type { ErrorCode } from './errors';
import { checkIdCard, idCardCheckChar } from './idcard';
import { MIDDLE_DOTS, normalizeText } from './normalize';

export const DOC_TYPES = [
  'id_card',
  'hk_mo_permit',
  'tw_permit',
  'residence_permit',
  'foreign_permanent',
  'passport',
] as const;
export type DocType = (typeof DOC_TYPES)[number];
/**
 * What staff verification accepts: every type. The mainland ID card last: its holders usually have
 * a WeChat method, but face must never be the only one left to someone without WeChat Pay.
 */
export const REVIEW_DOC_TYPES = [
  'hk_mo_permit',
  'tw_permit',
  'residence_permit',
  'foreign_permanent',
  'passport',
  'id_card',
] as const;
export type ReviewDocType = (typeof REVIEW_DOC_TYPES)[number];

export const DOC_LABELS: Record<DocType, string> = {
  id_card: '居民身份证',
  hk_mo_permit: '港澳居民来往内地通行证',
  tw_permit: '台湾居民来往大陆通行证',
  residence_permit: '港澳台居民居住证',
  foreign_permanent: '外国人永久居留身份证',
  passport: '护照',
};

export type DocCheck = { ok: true; value: string } | { ok: false; code: ErrorCode };

export function isReviewDocType(value: unknown): value is ReviewDocType {
  return typeof value === 'string' && (REVIEW_DOC_TYPES as readonly string[]).indexOf(value) >= 0;
}

/** Longest document number any type allows (characters, normalised). */
export const MAX_DOC_NUMBER = 20;

/** Longest reason a reviewer may give for a rejection (characters). */
export const MAX_REVIEW_REASON = 200;

/** Full-width to half-width, no spaces or dashes, upper case. */
export function normalizeDocNumber(input: string): string {
  return normalizeText(input)
    .replace(/[\s-]+/g, '')
    .toUpperCase();
}

/** YYYYMMDD is a real date from 1900 on and not after `now`. */
function isBirthDate(digits: string, now: Date): boolean {
  const year = Number(digits.slice(0, 4));
  const month = Number(digits.slice(4, 6));
  const day = Number(digits.slice(6, 8));
  const date = new Date(Date.UTC(year, month - 1, day));
  return (
    year >= 1900 &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getTime() <= now.getTime()
  );
}

function checkResidencePermit(value: string, now: Date): DocCheck {
  if (!/^\d{17}[\dX]$/.test(value)) return { ok: false, code: 'DOC_RESIDENCE_FORMAT' };
  if (['810000', '820000', '830000'].indexOf(value.slice(0, 6)) < 0) return { ok: false, code: 'DOC_RESIDENCE_REGION' };
  if (!isBirthDate(value.slice(6, 14), now)) return { ok: false, code: 'DOC_RESIDENCE_FORMAT' };
  if (idCardCheckChar(value.slice(0, 17)) !== value.charAt(17)) return { ok: false, code: 'DOC_CHECKSUM' };
  return { ok: true, value };
}

function checkForeignPermanent(value: string, now: Date): DocCheck {
  if (/^[A-Z]{3}\d{12}$/.test(value)) return { ok: true, value };
  if (!/^9\d{16}[\dX]$/.test(value) || !isBirthDate(value.slice(6, 14), now)) {
    return { ok: false, code: 'DOC_FOREIGN_FORMAT' };
  }
  if (idCardCheckChar(value.slice(0, 17)) !== value.charAt(17)) return { ok: false, code: 'DOC_CHECKSUM' };
  return { ok: true, value };
}

const PATTERNS: Record<
  Exclude<ReviewDocType, 'residence_permit' | 'foreign_permanent' | 'id_card'>,
  [RegExp, ErrorCode]
> = {
  hk_mo_permit: [/^[HM]\d{8}(\d{2})?$/, 'DOC_HK_MO_FORMAT'],
  tw_permit: [/^\d{8}(\d{2})?$/, 'DOC_TW_FORMAT'],
  passport: [/^[A-Z0-9]{5,20}$/, 'DOC_PASSPORT_FORMAT'],
};

/** Normalises and validates `input` as a number of `docType`. `now` bounds birth dates (not in the future). */
export function checkDocument(docType: ReviewDocType, input: string, now: Date = new Date()): DocCheck {
  if (docType === 'id_card') {
    const id = checkIdCard(input, now);
    return id.ok ? { ok: true, value: id.value } : id;
  }
  const value = normalizeDocNumber(input);
  if (value === '') return { ok: false, code: 'DOC_REQUIRED' };
  if (docType === 'residence_permit') return checkResidencePermit(value, now);
  if (docType === 'foreign_permanent') return checkForeignPermanent(value, now);
  const [pattern, code] = PATTERNS[docType];
  return pattern.test(value) ? { ok: true, value } : { ok: false, code };
}

/**
 * A holder's name as the document prints it: Han characters, Latin letters with their accented forms
 * (foreign names in capitals, as passports print them), spaces, the middle dot, hyphens, apostrophes
 * and dots between words. 2 to 60 characters. Normalised like every other name (NFKC, trimmed, inner
 * spaces collapsed, every middle-dot look-alike folded to "·" but a full stop kept, as in "JOHN F.
 * KENNEDY"), then Latin upper case.
 */
export function checkDocumentName(input: string): DocCheck {
  const value = normalizeText(input).replace(/\s+/g, ' ').replace(MIDDLE_DOTS, '·').toUpperCase();
  if (value === '') return { ok: false, code: 'NAME_REQUIRED' };
  const chars = Array.from(value);
  if (chars.length < 2 || chars.length > 60) return { ok: false, code: 'DOC_NAME_INVALID' };
  const allowed = chars.every((c) => {
    const cp = c.codePointAt(0) ?? 0;
    const han = (cp >= 0x3400 && cp <= 0x9fff) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x20000 && cp <= 0x323af);
    return han || /^[A-Z\u00C0-\u00D6\u00D8-\u00DE\u0100-\u017F ·'.-]$/.test(c);
  });
  if (!allowed || !/^[^ ·'.-]/.test(value) || !/[^ ·'-]$/.test(value)) return { ok: false, code: 'DOC_NAME_INVALID' };
  return { ok: true, value };
}
