/**
 * Personal data at rest: field encryption (AES-256-GCM) and blind indexes (HMAC-SHA256).
 *
 * - Ciphertexts are `v1.<keyId>.<iv>.<tag>.<ct>` (base64url, no padding). The key id travels with
 *   every value, so after a rotation the old key (listed in `PII_ENC_KEYS_OLD`) still decrypts old
 *   rows while new rows use the current key.
 * - `aad` binds a ciphertext to its record and field (`bindings:<openidHash>:idCard`): a value copied
 *   into another record or field no longer decrypts.
 * - Blind indexes let us find and match records (the same ID in bindings and in the roster) without
 *   storing the value; `kind` separates domains so an ID and a name never share an index.
 *
 * Keys come from the environment only (loaded by server/lib/settings.ts) and are never printed, not
 * even in error messages.
 */
import crypto from 'crypto';
import { TextDecoder } from 'util';
import type { DocType } from '../../miniprogram/shared/documents';
import { normalizeIdCard, normalizeName } from '../../miniprogram/shared/normalize';
import { AppError, InternalError } from './errors';

const VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface PiiKeys {
  /** Id of the key new ciphertexts are written with. */
  readonly encKeyId: string;
  /** Every key that may decrypt: the current one and the old ones, by id. */
  readonly encKeys: ReadonlyMap<string, Buffer>;
  /** HMAC key of the blind indexes (never rotated silently: a key rotation re-indexes, see docs/security-privacy.md → 密钥轮换). */
  readonly indexKey: Buffer;
  /** Id of `indexKey` (documents record which keys wrote them: `keyVersion`). */
  readonly indexKeyId: string;
  /**
   * Index keys of before a rotation, by id: while they are configured, lookups also try the indexes
   * under them (a document not yet re-keyed is still found), and one-time credentials spent under
   * them stay spent. Empty outside a rotation.
   */
  readonly oldIndexKeys: ReadonlyMap<string, Buffer>;
}

/** Thrown for every decryption failure (tamper, wrong aad, wrong or unknown key, bad format). */
export class PiiDecryptError extends AppError {
  override name = 'PiiDecryptError' as const;

  constructor() {
    super('INTERNAL', { detail: 'PII decryption failed', logged: true });
  }
}

/** Fresh keys for `.env` files, the sandbox and setup docs. */
export function generatePiiKeys(): { PII_ENC_KEY: string; PII_INDEX_KEY: string } {
  return {
    PII_ENC_KEY: crypto.randomBytes(KEY_BYTES).toString('base64'),
    PII_INDEX_KEY: crypto.randomBytes(KEY_BYTES).toString('base64'),
  };
}

/**
 * The `aad` of a field stored in a document: `<collection>:<document id>:<field>`. One format for
 * every store and for the key rotation that re-encrypts their fields.
 */
export function fieldAad(collection: string, id: string, field: string): string {
  return `${collection}:${id}:${field}`;
}

/** The authenticated data: the header too, so neither version nor key id can be swapped. */
function additionalData(keyId: string, aad: string): Buffer {
  return Buffer.from(`${VERSION}\0${keyId}\0${aad}`, 'utf8');
}

function requireAad(aad: string): void {
  if (typeof aad !== 'string' || aad === '') throw new InternalError('PII aad must be a non-empty string');
}

/** AES-256-GCM with a random 96-bit IV under the current key. */
export function encryptField(keys: PiiKeys, plaintext: string, aad: string): string {
  requireAad(aad);
  const key = keys.encKeys.get(keys.encKeyId);
  if (!key) throw new InternalError('PII current key missing from key ring');
  const iv = crypto.randomBytes(IV_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(keys.encKeyId, aad));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, keys.encKeyId, iv, tag, ct]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

/** Strict base64url without padding (Node's decoder silently skips bad characters). */
function decodeBase64Url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/** The parts of a `v1` ciphertext with its key, or `undefined` when anything is off. */
function parseCiphertext(keys: PiiKeys, value: string) {
  const parts = typeof value === 'string' ? value.split('.') : [];
  if (parts.length !== 5 || parts[0] !== VERSION) return undefined;
  const keyId = parts[1] ?? '';
  const key = keys.encKeys.get(keyId);
  const iv = decodeBase64Url(parts[2] ?? '');
  const tag = decodeBase64Url(parts[3] ?? '');
  const ct = decodeBase64Url(parts[4] ?? '');
  if (!key || iv?.length !== IV_BYTES || tag?.length !== TAG_BYTES || !ct) return undefined;
  return { keyId, key, iv, tag, ct };
}

/** Reverses `encryptField`; throws `PiiDecryptError` on any problem, without saying which. */
export function decryptField(keys: PiiKeys, value: string, aad: string): string {
  requireAad(aad);
  const parsed = parseCiphertext(keys, value);
  if (!parsed) throw new PiiDecryptError();
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', parsed.key, parsed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(parsed.keyId, aad));
    decipher.setAuthTag(parsed.tag);
    const plain = Buffer.concat([decipher.update(parsed.ct), decipher.final()]);
    return new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch {
    throw new PiiDecryptError();
  }
}

/** Blind-index domains; any other non-empty string without NUL is accepted too. */
export type BlindIndexKind = 'idCard' | 'name' | 'openid' | (string & {});

/**
 * HMAC-SHA256 (hex) of `kind + '\0' + value`. Known kinds are normalised again here (idempotent),
 * so an ID typed with a lower-case x and one read from a spreadsheet still index the same.
 */
export function blindIndex(keys: PiiKeys, kind: BlindIndexKind, normalizedValue: string): string {
  return blindIndexUnder(keys.indexKey, kind, normalizedValue);
}

/** `blindIndex` under one given index key (the current one or an old one). */
export function blindIndexUnder(indexKey: Buffer, kind: BlindIndexKind, normalizedValue: string): string {
  if (kind === '' || kind.includes('\0')) throw new InternalError('blindIndex: kind must be non-empty and without NUL');
  let value = normalizedValue;
  if (kind === 'idCard') value = normalizeIdCard(value);
  else if (kind === 'name') value = normalizeName(value);
  return crypto.createHmac('sha256', indexKey).update(`${kind}\0${value}`, 'utf8').digest('hex');
}

/**
 * The value's blind index under the current key, then under each old index key (during a rotation):
 * what a lookup must try so that a document not yet re-keyed is still found. Just the current one
 * outside a rotation.
 */
export function blindIndexes(keys: PiiKeys, kind: BlindIndexKind, normalizedValue: string): string[] {
  return [keys.indexKey, ...keys.oldIndexKeys.values()].map((key) => blindIndexUnder(key, kind, normalizedValue));
}

/**
 * The blind indexes of a document number (current key first): a mainland ID card's is the roster's
 * key (`idCard`); other documents' are kept apart (`document`, with their type).
 */
export function documentIndexes(keys: PiiKeys, number: string, docType: DocType = 'id_card'): string[] {
  return docType === 'id_card'
    ? blindIndexes(keys, 'idCard', number)
    : blindIndexes(keys, 'document', `${docType}\0${number}`);
}

/**
 * The keys a document was written under, `<encKeyId>.<indexKeyId>`, stored in it as `kv`: a key
 * rotation re-keys exactly the documents whose `kv` is not the current one (and, for keyed hashes it
 * cannot recompute, knows from it whether they are already under the current index key).
 */
export function keyVersion(keys: PiiKeys): string {
  return `${keys.encKeyId}.${keys.indexKeyId}`;
}

/** The key id a ciphertext names (`v1.<keyId>.…`), or undefined when it is no ciphertext of ours. */
export function keyIdOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const parts = value.split('.');
  return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
}

/** SHA-256 (hex) of a token or result: lets us record "already used" without keeping the value. */
export function hashToken(value: string): string {
  return crypto.createHash('sha256').update(value, 'utf8').digest('hex');
}
