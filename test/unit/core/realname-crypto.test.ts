import crypto from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import iconv from 'iconv-lite';
import {
  buildSignString,
  decodeCredentialId,
  decodeRealName,
  decryptField,
  decryptRealnameInfo,
  RealnameDecryptError,
  signRequest,
} from '../../../server/core/realname-crypto';
import { makeIdCard } from '../../../miniprogram/shared/idcard';

const SERIAL = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';
const ID_X = '11010519491231002X';
const ID = makeIdCard('440106', '19900101', '123');

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const K = 256; // modulus bytes

const gbk = (text: string): Buffer => iconv.encode(text, 'gb18030');
const encrypt = (plain: Buffer, key: string = publicKey): string =>
  crypto.publicEncrypt({ key, padding: crypto.constants.RSA_PKCS1_PADDING }, plain).toString('base64');
/** Raw RSA of a hand-built encoded message block (no padding added by Node). */
const encryptBlock = (em: Buffer): string =>
  crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_NO_PADDING }, em).toString('base64');

function nonZero(length: number): Buffer {
  const bytes = crypto.randomBytes(length);
  for (let i = 0; i < length; i += 1) if (bytes[i] === 0) bytes[i] = 0x5a;
  return bytes;
}

/** EM = first || second || PS || 0x00 || M, sized to the modulus. */
function block(
  message: Buffer,
  opts: { first?: number; second?: number; psLength?: number; separator?: boolean } = {},
) {
  const { first = 0x00, second = 0x02, separator = true } = opts;
  const psLength = opts.psLength ?? K - 3 - message.length;
  const em = Buffer.concat([
    Buffer.from([first, second]),
    nonZero(psLength),
    Buffer.from(separator ? [0] : []),
    message,
  ]);
  if (em.length !== K) throw new Error(`test block is ${em.length} bytes`);
  return em;
}

/** Runs `fn` and checks it threw the one generic error, with nothing attached. */
function expectGeneric(fn: () => unknown): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(RealnameDecryptError);
  expect((error as Error).message).toBe('real-name info decryption failed');
  expect((error as Error & { cause?: unknown }).cause).toBeUndefined();
  expect(Object.keys(error as object).filter((key) => key !== 'name')).toEqual([]);
}

describe('signRequest', () => {
  it('signs exactly cert_serialno=<SERIAL>&timestamp=<TIMESTAMP>', () => {
    expect(buildSignString(SERIAL, 1700000000)).toBe(`cert_serialno=${SERIAL}&timestamp=1700000000`);
    const sign = signRequest(privateKey, SERIAL, 1700000000);
    const data = Buffer.from(`cert_serialno=${SERIAL}&timestamp=1700000000`);
    expect(crypto.verify('sha256', data, publicKey, Buffer.from(sign, 'base64'))).toBe(true);
    expect(
      crypto.verify(
        'sha256',
        Buffer.from(`cert_serialno=${SERIAL}×tamp=1700000000`),
        publicKey,
        Buffer.from(sign, 'base64'),
      ),
    ).toBe(false);
    expect(Buffer.from(sign, 'base64')).toHaveLength(K);
  });

  it('is deterministic (PKCS#1 v1.5) and accepts a PKCS#1 PEM or a KeyObject', () => {
    const pkcs1 = crypto.createPrivateKey(privateKey).export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pkcs1).toContain('BEGIN RSA PRIVATE KEY');
    const a = signRequest(privateKey, SERIAL, 1700000001);
    expect(signRequest(pkcs1, SERIAL, 1700000001)).toBe(a);
    expect(signRequest(crypto.createPrivateKey(privateKey), SERIAL, 1700000001)).toBe(a);
    expect(signRequest(privateKey, SERIAL, 1700000002)).not.toBe(a);
  });

  it.each([
    ['lower-case serial', SERIAL.toLowerCase(), 1700000000],
    ['short serial', SERIAL.slice(1), 1700000000],
    ['milliseconds', SERIAL, 1700000000000],
    ['fraction', SERIAL, 1700000000.5],
    ['zero', SERIAL, 0],
  ])('refuses a %s', (_label, serial, timestamp) => {
    expect(() => buildSignString(serial, timestamp)).toThrow();
    expect(() => signRequest(privateKey, serial, timestamp)).toThrow();
  });
});

describe('decryptField (RSA PKCS#1 v1.5 without RSA_PKCS1_PADDING private decryption)', () => {
  it('decrypts ciphertexts of crypto.publicEncrypt with RSA_PKCS1_PADDING', () => {
    for (const plain of [Buffer.from(ID_X), gbk('张三'), Buffer.from([1]), crypto.randomBytes(K - 11)]) {
      expect(decryptField(privateKey, encrypt(plain))).toEqual(plain);
    }
  });

  it('accepts the boundary block: exactly 8 padding bytes, and line-wrapped base64', () => {
    const message = crypto.randomBytes(K - 11);
    expect(decryptField(privateKey, encryptBlock(block(message, { psLength: 8 })))).toEqual(message);
    const wrapped = encrypt(Buffer.from(ID)).replace(/(.{64})/g, '$1\n');
    expect(decryptField(privateKey, wrapped)).toEqual(Buffer.from(ID));
  });

  it('a hand-built valid block decrypts (control for the cases below)', () => {
    expect(decryptField(privateKey, encryptBlock(block(Buffer.from(ID_X))))).toEqual(Buffer.from(ID_X));
  });

  it.each([
    ['first byte not 0', () => block(Buffer.from(ID_X), { first: 0x01 })],
    ['second byte not 2 (type 1)', () => block(Buffer.from(ID_X), { second: 0x01 })],
    ['second byte not 2 (0)', () => block(Buffer.from(ID_X), { second: 0x00 })],
    ['7 padding bytes', () => block(crypto.randomBytes(K - 10), { psLength: 7 })],
    ['no padding bytes', () => block(crypto.randomBytes(K - 3), { psLength: 0 })],
    ['no separator', () => block(Buffer.alloc(0), { psLength: K - 2, separator: false })],
    ['zero-length message', () => block(Buffer.alloc(0))],
  ])('rejects an encoded block with %s', (_label, build) => {
    expectGeneric(() => decryptField(privateKey, encryptBlock(build())));
  });

  it('rejects bad base64, wrong lengths and out-of-range ciphertexts', () => {
    const good = Buffer.from(encrypt(Buffer.from(ID)), 'base64');
    for (const candidate of [
      '',
      '!!!!',
      'abc',
      good.toString('base64').slice(0, -4) + '!!!!',
      good.subarray(1).toString('base64'),
      Buffer.concat([good, Buffer.from([0])]).toString('base64'),
      Buffer.concat([Buffer.from([0]), good]).toString('base64'),
      Buffer.alloc(K, 0xff).toString('base64'), // larger than the modulus
      good.toString('base64url'),
    ]) {
      expectGeneric(() => decryptField(privateKey, candidate));
    }
    expectGeneric(() => decryptField(privateKey, undefined as unknown as string));
  });

  it('rejects a ciphertext one byte short even when it encodes the same number', () => {
    // A ciphertext starting with 0x00 minus that byte is the same integer: RSA would decrypt it, the
    // length rule (ciphertext length = modulus length) must not.
    let ct = Buffer.alloc(0);
    for (let i = 0; i < 100000 && ct[0] !== 0; i += 1) ct = Buffer.from(encrypt(Buffer.from(ID)), 'base64');
    expect(ct[0]).toBe(0);
    expect(decryptField(privateKey, ct.toString('base64'))).toEqual(Buffer.from(ID));
    expectGeneric(() => decryptField(privateKey, ct.subarray(1).toString('base64')));
  });

  it('rejects a key of another size and an unparsable key', () => {
    const other = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    expectGeneric(() => decryptField(other, encrypt(Buffer.from(ID))));
    // A PEM frame around garbage (built here so no key-shaped literal sits in the repository).
    const unparsable = ['BEGIN', 'END'].map((edge) => `-----${edge} PRIVATE KEY-----`).join('\nAAAA\n');
    expectGeneric(() => decryptField(unparsable, encrypt(Buffer.from(ID))));
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    expectGeneric(() => decryptField(ec, encrypt(Buffer.from(ID))));
  });
});

describe('decodeRealName / decodeCredentialId', () => {
  it.each(['张三', '买买提·吐尔逊', '𠮷野家', '刘䶮', '欧阳娜娜'])('decodes %s from GB18030', (name) => {
    expect(decodeRealName(gbk(name))).toBe(name);
  });

  it('exercises 4-byte GB18030 sequences (characters outside GBK)', () => {
    expect(gbk('𠮷')).toEqual(Buffer.from('9534b235', 'hex'));
    expect(decodeRealName(Buffer.from('d5c5' + '9534b235', 'hex'))).toBe('张𠮷');
  });

  it('folds GB18030-2005 private-use code points to the standard Han characters', () => {
    // FE51 is U+E816 (PUA) in WHATWG/ICU; GB18030 lists it as 𠂇 (U+20087).
    expect(decodeRealName(Buffer.from('cdf5' + 'fe51', 'hex'))).toBe('王\u{20087}');
    // FE59 is U+E81E in GB18030-2005 decoders and U+9FB4 in GB18030-2022 ones: both give U+9FB4.
    expect(decodeRealName(Buffer.from('cdf5' + 'fe59', 'hex'))).toBe('王\u9fb4');
  });

  it('normalises the middle dot variant', () => {
    expect(decodeRealName(gbk('买买提.吐尔逊'))).toBe('买买提·吐尔逊');
  });

  it.each([
    ['truncated multi-byte sequence', Buffer.from('d5c5c8', 'hex')],
    ['invalid byte', Buffer.from('d5c5ff', 'hex')],
    ['empty', Buffer.alloc(0)],
    ['one character', gbk('张')],
    ['digits', gbk('张3')],
    ['markup', gbk('<b>张三</b>')],
  ])('rejects a name that is a %s', (_label, bytes) => {
    expectGeneric(() => decodeRealName(bytes));
  });

  it('accepts an ASCII ID number, trailing X or x', () => {
    expect(decodeCredentialId(Buffer.from(ID_X))).toBe(ID_X);
    expect(decodeCredentialId(Buffer.from(ID_X.toLowerCase()))).toBe(ID_X);
    expect(decodeCredentialId(Buffer.from(ID))).toBe(ID);
  });

  it.each([
    ['bad checksum', Buffer.from(ID_X.slice(0, 17) + '1')],
    ['15 digits', Buffer.from('110105491231002')],
    ['non-ASCII', Buffer.concat([Buffer.from(ID_X.slice(0, 17)), gbk('Ｘ')])],
    ['control byte', Buffer.from(ID_X + '\0')],
    ['empty', Buffer.alloc(0)],
  ])('rejects an ID number with %s', (_label, bytes) => {
    expectGeneric(() => decodeCredentialId(bytes));
  });
});

describe('decryptRealnameInfo', () => {
  const info = (name: Buffer, id: Buffer) => ({
    encryted_real_name: encrypt(name),
    encryted_credential_id: encrypt(id),
  });

  it.each([
    ['张三', ID],
    ['买买提·吐尔逊', ID_X],
    ['𠮷野家', ID],
    ['刘䶮', ID_X],
  ])('decrypts %s', (name, id) => {
    expect(decryptRealnameInfo(privateKey, info(gbk(name), Buffer.from(id)))).toEqual({ name, idCard: id });
  });

  it('fails with the generic error when either field is bad, without naming the data', () => {
    const good = info(gbk('张三'), Buffer.from(ID_X));
    const flipped = Buffer.from(good.encryted_real_name, 'base64');
    flipped[100]! ^= 0x01;
    const cases = [
      { ...good, encryted_real_name: flipped.toString('base64') },
      { ...good, encryted_credential_id: encrypt(Buffer.from(ID_X.slice(0, 17) + '1')) },
      { ...good, encryted_credential_id: '' },
      { encryted_real_name: good.encryted_real_name } as unknown as typeof good,
      null as unknown as typeof good,
    ];
    for (const c of cases) {
      let message = '';
      expectGeneric(() => {
        try {
          return decryptRealnameInfo(privateKey, c);
        } catch (err) {
          message = String(err);
          throw err;
        }
      });
      expect(message).not.toContain('张三');
      expect(message).not.toContain(ID_X);
    }
  });

  it('fails with another private key of the same size', () => {
    const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expectGeneric(() => decryptRealnameInfo(other, info(gbk('张三'), Buffer.from(ID_X))));
  });
});

// ---------------------------------------------------------------------------- openssl CLI
const OPENSSL = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const hasOpenssl = OPENSSL.status === 0;
const describeOpenssl = hasOpenssl ? describe : describe.skip;

describeOpenssl(`against the openssl CLI${hasOpenssl ? '' : ' (skipped: openssl not found on PATH)'}`, () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'realname-crypto-'));
    fs.writeFileSync(path.join(dir, 'pub.pem'), publicKey);
    fs.writeFileSync(path.join(dir, 'key.pem'), privateKey, { mode: 0o600 });
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function opensslEncrypt(plain: Buffer): string {
    const input = path.join(dir, 'in.bin');
    const output = path.join(dir, 'out.bin');
    fs.writeFileSync(input, plain);
    const args = ['pkeyutl', '-encrypt', '-pubin', '-inkey', path.join(dir, 'pub.pem')];
    execFileSync('openssl', [...args, '-pkeyopt', 'rsa_padding_mode:pkcs1', '-in', input, '-out', output]);
    return fs.readFileSync(output).toString('base64');
  }

  it('decrypts names and IDs encrypted by openssl pkeyutl (pkcs1 padding)', () => {
    for (const [name, id] of [
      ['张三', ID_X],
      ['买买提·吐尔逊', ID],
      ['𠮷野家', ID_X],
      ['刘䶮', ID],
    ] as const) {
      const fields = {
        encryted_real_name: opensslEncrypt(gbk(name)),
        encryted_credential_id: opensslEncrypt(Buffer.from(id)),
      };
      expect(decryptRealnameInfo(privateKey, fields)).toEqual({ name, idCard: id });
    }
  });

  it('produces the same signature as openssl dgst -sha256 -sign', () => {
    const data = path.join(dir, 'sign.txt');
    fs.writeFileSync(data, buildSignString(SERIAL, 1712345678));
    const sig = execFileSync('openssl', ['dgst', '-sha256', '-sign', path.join(dir, 'key.pem'), data]);
    expect(signRequest(privateKey, SERIAL, 1712345678)).toBe(sig.toString('base64'));
  });
});
