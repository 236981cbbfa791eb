/** Text normalisation shared by every input path (form fields, spreadsheet cells, decrypted values). */

/** NFKC folds full-width digits and letters ("４４０１" → "4401"); trim drops surrounding spaces. */
export function normalizeText(value: string): string {
  return value
    .normalize('NFKC')
    .replace(/[\u200b-\u200d\ufeff]/g, '')
    .trim();
}

/** ID numbers: NFKC, no inner spaces, trailing x upper-cased. */
export function normalizeIdCard(value: string): string {
  return normalizeText(value).replace(/\s+/g, '').toUpperCase();
}

/** Characters people type for the middle dot of a transliterated name (replace only: global). */
export const MIDDLE_DOTS = /[•∙⋅・]/g;

/** Names: NFKC, inner runs of spaces collapsed, the middle dots (and full stops) people type folded to "·". */
export function normalizeName(value: string): string {
  return normalizeText(value).replace(/\s+/g, ' ').replace(MIDDLE_DOTS, '·').replace(/[．.]/g, '·');
}
