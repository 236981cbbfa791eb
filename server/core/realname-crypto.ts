/**
 * WeChat Pay real-name authorization (`/cgi-bin/wxopen/getrealnameinfo`): the request signature
 * and the decryption of the returned name and ID number.
 *
 * - Signature: SHA256withRSA (PKCS#1 v1.5), base64, over `cert_serialno=<SERIAL>&timestamp=<SECONDS>`
 *   (the official page shows "×tamp": that is "&times" eaten by an HTML renderer).
 * - Both returned fields are base64 of RSA PKCS#1 v1.5 ciphertexts under the merchant certificate's
 *   public key. Node ≥ 18.19.1 / 20.11.1 / 21.6.2 refuses `RSA_PKCS1_PADDING` for private decryption
 *   (CVE-2023-46809) unless started with `--security-revert`, so we decrypt with `RSA_NO_PADDING`
 *   and remove the padding ourselves: the same code then runs on Node 16, 18, 20 and 22.
 * - The name arrives as GBK bytes; we decode GB18030 (a superset: rare characters outside GBK come
 *   as 4-byte sequences). Every failure, including a plaintext that does not validate, is the one
 *   `RealnameDecryptError` with a fixed message.
 */
import crypto, { type KeyObject } from 'crypto';
import { TextDecoder } from 'util';
import { checkIdCard } from '../../miniprogram/shared/idcard';
import { checkName } from '../../miniprogram/shared/person';
import { AppError, InternalError } from './errors';

/** A PEM string (PKCS#8 or PKCS#1) or an already parsed key. */
export type PrivateKeyInput = string | KeyObject;

/** The single, deliberately uninformative error of every decryption path. */
export class RealnameDecryptError extends AppError {
  override name = 'RealnameDecryptError' as const;

  constructor() {
    super('REALNAME_DECRYPT_FAILED', { detail: 'real-name info decryption failed', logged: true });
  }
}

const SERIAL = /^[0-9A-F]{40}$/;

/** `cert_serialno=<SERIAL>&timestamp=<TIMESTAMP>`; the serial must already be 40 upper-case hex. */
export function buildSignString(certSerialNo: string, timestamp: number): string {
  if (!SERIAL.test(certSerialNo)) throw new InternalError('cert_serialno must be 40 upper-case hex characters');
  // Unix seconds: a millisecond value (13 digits) is a bug that WeChat answers with 94008.
  if (!Number.isSafeInteger(timestamp) || timestamp <= 0 || timestamp >= 1e11) {
    throw new InternalError('timestamp must be a unix time in whole seconds');
  }
  return `cert_serialno=${certSerialNo}&timestamp=${timestamp}`;
}

/** Base64 SHA256withRSA (PKCS#1 v1.5) signature of `buildSignString(certSerialNo, timestamp)`. */
export function signRequest(privateKeyPem: PrivateKeyInput, certSerialNo: string, timestamp: number): string {
  const signer = crypto.createSign('RSA-SHA256');
  signer.update(buildSignString(certSerialNo, timestamp), 'utf8');
  return signer.sign({ key: toKeyObject(privateKeyPem), padding: crypto.constants.RSA_PKCS1_PADDING }, 'base64');
}

function toKeyObject(key: PrivateKeyInput): KeyObject {
  return typeof key === 'string' ? crypto.createPrivateKey(key) : key;
}

/** Strict standard base64 (whitespace ignored); `undefined` for anything else. */
function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (compact === '' || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  const bytes = Buffer.from(compact, 'base64');
  return bytes.toString('base64') === compact ? bytes : undefined;
}

/** 1 when `b` (0..255) is zero, else 0, without a branch on `b`. */
function isZeroByte(b: number): number {
  return ((b - 1) >>> 31) & 1;
}

/**
 * Removes PKCS#1 v1.5 type 2 padding: EM = 0x00 || 0x02 || PS (≥ 8 non-zero bytes) || 0x00 || M.
 * Returns the start of M, or -1. M must not be empty (neither of our fields can be).
 *
 * About Bleichenbacher (1998) and Marvin (2023): a server that tells apart "bad padding" from other
 * outcomes, even through timing, lets an attacker who can submit chosen ciphertexts decrypt a
 * captured one. The exposure is limited here: the ciphertexts come from WeChat's servers over HTTPS
 * in answer to our own signed request, never from the client, so no attacker drives this function as
 * an oracle; and every failure is the same error class with the same message. We still scan the
 * whole block and accumulate the checks with arithmetic instead of returning at the first bad byte,
 * which keeps the remaining timing signal small (JavaScript gives no hard constant-time guarantee).
 */
function unpadPkcs1Type2(em: Buffer, modulusBytes: number): number {
  let bad = em.length ^ modulusBytes;
  bad |= em[0] ?? 1;
  bad |= (em[1] ?? 0) ^ 0x02;
  let found = 0; // becomes 1 at the first zero byte after the header
  let separator = 0;
  for (let i = 2; i < em.length; i += 1) {
    const zero = isZeroByte(em[i] ?? 0);
    const first = zero & (found ^ 1);
    separator |= -first & i; // -1 & i = i when this is the first zero, else 0
    found |= zero;
  }
  bad |= found ^ 1;
  bad |= (separator - 10) >>> 31; // PS = separator - 2 bytes must be ≥ 8
  bad |= (em.length - 2 - separator) >>> 31; // M = em.length - separator - 1 bytes must be ≥ 1
  return bad === 0 ? separator + 1 : -1;
}

/**
 * RSA PKCS#1 v1.5 decryption of a base64 ciphertext. Works on every Node version without
 * `--security-revert`. Throws `RealnameDecryptError` for any problem: bad base64, wrong length,
 * wrong key, bad padding.
 */
export function decryptField(privateKeyPem: PrivateKeyInput, base64Ciphertext: string): Buffer {
  let em: Buffer;
  let modulusBytes: number;
  try {
    const key = toKeyObject(privateKeyPem);
    const modulusBits = key.asymmetricKeyDetails?.modulusLength;
    const ct = typeof base64Ciphertext === 'string' ? decodeBase64(base64Ciphertext) : undefined;
    if (key.asymmetricKeyType !== 'rsa' || !modulusBits || !ct) throw new RealnameDecryptError();
    modulusBytes = Math.ceil(modulusBits / 8);
    if (ct.length !== modulusBytes) throw new RealnameDecryptError();
    em = crypto.privateDecrypt({ key, padding: crypto.constants.RSA_NO_PADDING }, ct);
  } catch {
    throw new RealnameDecryptError();
  }
  const start = unpadPkcs1Type2(em, modulusBytes);
  if (start < 0) throw new RealnameDecryptError();
  return Buffer.from(em.subarray(start));
}

/**
 * Decoders with the GB18030-2005 table (older ICU releases, so older Node) return Private Use code
 * points for 14 Han characters. The GB18030-2022 table (newer ICU, the WHATWG index) maps 8 of them
 * (FE59, FE61, …) to U+9FB4–U+9FBB but still returns PUA for the other 6 (FE51, FE52, FE53, FE6C,
 * FE76, FE91). We fold all 14 to their standard code points so a name decodes alike on every runtime.
 */
const GB18030_PUA_HAN: Readonly<Record<number, number>> = {
  0xe816: 0x20087,
  0xe817: 0x20089,
  0xe818: 0x200cc,
  0xe81e: 0x9fb4,
  0xe826: 0x9fb5,
  0xe82b: 0x9fb6,
  0xe82c: 0x9fb7,
  0xe831: 0x215d7,
  0xe832: 0x9fb8,
  0xe83b: 0x2298f,
  0xe843: 0x9fb9,
  0xe854: 0x9fba,
  0xe855: 0x241fe,
  0xe864: 0x9fbb,
};

let gb18030: TextDecoder | undefined;
function gb18030Decoder(): TextDecoder {
  if (!gb18030) {
    try {
      gb18030 = new TextDecoder('gb18030', { fatal: true });
    } catch {
      // Not a decryption failure: the runtime lacks full ICU. Say so, it is an operator's problem.
      throw new InternalError('TextDecoder does not support gb18030: use a Node.js build with full ICU');
    }
  }
  return gb18030;
}

/** GB18030 bytes → NFC name, validated with `checkName`; `RealnameDecryptError` otherwise. */
export function decodeRealName(bytes: Buffer): string {
  const decoder = gb18030Decoder();
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new RealnameDecryptError();
  }
  const folded = Array.from(text, (char) => {
    const mapped = GB18030_PUA_HAN[char.codePointAt(0) ?? 0];
    return mapped === undefined ? char : String.fromCodePoint(mapped);
  }).join('');
  const check = checkName(folded.normalize('NFC'));
  if (!check.ok) throw new RealnameDecryptError();
  return check.value;
}

/** ASCII bytes → an ID number that passes `checkIdCard` (normalised: upper-case X); else the generic error. */
export function decodeCredentialId(bytes: Buffer): string {
  if (bytes.length === 0 || bytes.some((b) => b < 0x20 || b > 0x7e)) throw new RealnameDecryptError();
  const check = checkIdCard(bytes.toString('latin1'));
  if (!check.ok) throw new RealnameDecryptError();
  return check.value;
}

/** The two encrypted fields of a `getrealnameinfo` answer (the misspelling is WeChat's). */
export interface EncryptedRealnameInfo {
  encryted_real_name: string;
  encryted_credential_id: string;
}

/**
 * Decrypts and validates both fields. Both are always attempted, so neither the error nor the work
 * done reveals which one failed.
 */
export function decryptRealnameInfo(
  privateKeyPem: PrivateKeyInput,
  info: EncryptedRealnameInfo,
): { name: string; idCard: string } {
  gb18030Decoder(); // a runtime without full ICU is an operator's problem, not a decryption failure
  let key: KeyObject;
  try {
    key = toKeyObject(privateKeyPem);
  } catch {
    throw new RealnameDecryptError();
  }
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch {
      return undefined;
    }
  };
  const fields: unknown = info;
  const record = typeof fields === 'object' && fields !== null ? (fields as Record<string, unknown>) : {};
  const nameCt = record.encryted_real_name;
  const idCt = record.encryted_credential_id;
  const name = attempt(() => decodeRealName(decryptField(key, typeof nameCt === 'string' ? nameCt : '')));
  const idCard = attempt(() => decodeCredentialId(decryptField(key, typeof idCt === 'string' ? idCt : '')));
  if (name === undefined || idCard === undefined) throw new RealnameDecryptError();
  return { name, idCard };
}

export interface MerchantConfig {
  mchId: string;
  /** 40 upper-case hex characters. */
  certSerialNo: string;
  /** Parsed once at load time. */
  privateKey: KeyObject;
}
