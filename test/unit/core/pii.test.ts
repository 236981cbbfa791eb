import crypto from 'crypto';
import {
  blindIndex,
  decryptField,
  encryptField,
  generatePiiKeys,
  hashToken,
  PiiDecryptError,
  type PiiKeys,
} from '../../../server/core/pii';
import { makeIdCard } from '../../../miniprogram/shared/idcard';
import { loadPiiKeys } from '../../../server/lib/settings';

const ID = makeIdCard('110105', '19491231', '002'); // 11010519491231002X
const AAD = 'bindings:0f1e2d:idCard';

function keysFrom(env: NodeJS.ProcessEnv): PiiKeys {
  return loadPiiKeys(env);
}

/** Flips one bit of a base64url part (or one character of a text part). */
function flipPart(value: string, index: number): string {
  const parts = value.split('.');
  const part = parts[index]!;
  if (index < 2) {
    parts[index] = part.slice(0, -1) + String.fromCharCode(part.charCodeAt(part.length - 1) ^ 1);
  } else {
    const bytes = Buffer.from(part, 'base64url');
    bytes[0]! ^= 0x01;
    parts[index] = bytes.toString('base64url');
  }
  return parts.join('.');
}

describe('encryptField / decryptField', () => {
  const env = generatePiiKeys();
  const keys = keysFrom(env);

  it.each(['张三', ID, '𠮷野家', '', 'a'.repeat(5000)])('round-trips %j', (plain) => {
    const value = encryptField(keys, plain, AAD);
    expect(decryptField(keys, value, AAD)).toBe(plain);
  });

  it('writes v1.<keyId>.<iv>.<tag>.<ct> in base64url with a 12-byte IV and a 16-byte tag', () => {
    const value = encryptField(keys, ID, AAD);
    expect(value).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    const [, , iv, tag, ct] = value.split('.');
    expect(Buffer.from(iv!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64url')).toHaveLength(16);
    expect(Buffer.from(ct!, 'base64url')).toHaveLength(Buffer.byteLength(ID));
    expect(value).not.toContain(ID);
  });

  it('uses a fresh IV each time', () => {
    const a = encryptField(keys, ID, AAD);
    const b = encryptField(keys, ID, AAD);
    expect(a).not.toBe(b);
    expect(a.split('.')[2]).not.toBe(b.split('.')[2]);
  });

  it.each([
    [0, 'version'],
    [1, 'key id'],
    [2, 'iv'],
    [3, 'tag'],
    [4, 'ciphertext'],
  ])('fails on a flipped %s part (%s)', (index) => {
    const value = encryptField(keys, ID, AAD);
    const tampered = flipPart(value, index);
    expect(tampered).not.toBe(value);
    expect(() => decryptField(keys, tampered, AAD)).toThrow(PiiDecryptError);
  });

  it('fails closed on structural damage with the same generic error', () => {
    const value = encryptField(keys, ID, AAD);
    const [v, k, iv, tag, ct] = value.split('.') as [string, string, string, string, string];
    const broken = [
      '',
      'v1',
      value + '.extra',
      [v, k, iv, tag].join('.'),
      [v, k, iv, tag, ct.slice(0, -2)].join('.'),
      [v, k, iv.slice(0, -1), tag, ct].join('.'),
      [v, k, iv, tag.slice(0, -4), ct].join('.'),
      [v, k, iv, tag, ct + '!'].join('.'),
      [v, k, iv, tag, ct.replace(/^./, '=')].join('.'),
      value.replace(/^v1/, 'v2'),
    ];
    for (const candidate of broken) {
      let error: unknown;
      try {
        decryptField(keys, candidate, AAD);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PiiDecryptError);
      expect((error as Error).message).toBe('PII decryption failed');
    }
  });

  it('binds the ciphertext to its record and field (aad)', () => {
    const value = encryptField(keys, ID, 'bindings:aaa:idCard');
    expect(decryptField(keys, value, 'bindings:aaa:idCard')).toBe(ID);
    expect(() => decryptField(keys, value, 'bindings:bbb:idCard')).toThrow(PiiDecryptError);
    expect(() => decryptField(keys, value, 'bindings:aaa:name')).toThrow(PiiDecryptError);
    expect(() => decryptField(keys, value, 'roster:aaa:idCard')).toThrow(PiiDecryptError);
  });

  it('refuses an empty aad on both sides', () => {
    expect(() => encryptField(keys, ID, '')).toThrow(/aad/);
    expect(() => decryptField(keys, encryptField(keys, ID, AAD), '')).toThrow(/aad/);
  });

  it('fails with another key under the same key id', () => {
    const value = encryptField(keys, ID, AAD);
    const other = keysFrom(generatePiiKeys());
    expect(other.encKeyId).toBe(keys.encKeyId);
    expect(() => decryptField(other, value, AAD)).toThrow(PiiDecryptError);
  });

  it('still decrypts old values after a rotation when the old key is listed in PII_ENC_KEYS_OLD', () => {
    const oldEnv = { ...generatePiiKeys(), PII_ENC_KEY_ID: 'k0' };
    const oldKeys = keysFrom(oldEnv);
    const oldValue = encryptField(oldKeys, ID, AAD);
    expect(oldValue.startsWith('v1.k0.')).toBe(true);

    const rotatedEnv = {
      PII_ENC_KEY: generatePiiKeys().PII_ENC_KEY,
      PII_INDEX_KEY: oldEnv.PII_INDEX_KEY,
      PII_ENC_KEY_ID: 'k1',
      PII_ENC_KEYS_OLD: ` k0:${oldEnv.PII_ENC_KEY} `,
    };
    const rotated = keysFrom(rotatedEnv);
    expect(decryptField(rotated, oldValue, AAD)).toBe(ID);
    const newValue = encryptField(rotated, ID, AAD);
    expect(newValue.startsWith('v1.k1.')).toBe(true);
    expect(decryptField(rotated, newValue, AAD)).toBe(ID);
    // The new key cannot read old data on its own, nor the old key new data.
    const withoutOld = keysFrom({ ...rotatedEnv, PII_ENC_KEYS_OLD: '' });
    expect(() => decryptField(withoutOld, oldValue, AAD)).toThrow(PiiDecryptError);
    expect(() => decryptField(oldKeys, newValue, AAD)).toThrow(PiiDecryptError);
    // Relabelling an old ciphertext with the current key id does not make it readable.
    expect(() => decryptField(rotated, oldValue.replace('v1.k0.', 'v1.k1.'), AAD)).toThrow(PiiDecryptError);
  });
});

describe('ciphertext header binding', () => {
  it('authenticates the key id even when two ids hold the same key', () => {
    const env = generatePiiKeys();
    const keys = keysFrom({ ...env, PII_ENC_KEY_ID: 'k1', PII_ENC_KEYS_OLD: `k0:${env.PII_ENC_KEY}` });
    const value = encryptField(keys, ID, AAD);
    expect(decryptField(keys, value, AAD)).toBe(ID);
    expect(() => decryptField(keys, value.replace('v1.k1.', 'v1.k0.'), AAD)).toThrow(PiiDecryptError);
  });
});

describe('blindIndex', () => {
  const env = generatePiiKeys();
  const keys = keysFrom(env);

  it('is HMAC-SHA256 hex of kind NUL value under PII_INDEX_KEY', () => {
    const expected = crypto
      .createHmac('sha256', Buffer.from(env.PII_INDEX_KEY, 'base64'))
      .update(Buffer.concat([Buffer.from('idCard'), Buffer.from([0]), Buffer.from(ID)]))
      .digest('hex');
    expect(blindIndex(keys, 'idCard', ID)).toBe(expected);
    expect(blindIndex(keys, 'idCard', ID)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is stable across loads, so bindings and roster match', () => {
    expect(blindIndex(keysFrom(env), 'idCard', ID)).toBe(blindIndex(keysFrom({ ...env }), 'idCard', ID));
  });

  it('separates domains: the same text as ID, name and openid gives three indexes', () => {
    const text = 'ABCDEF';
    const all = new Set([
      blindIndex(keys, 'idCard', text),
      blindIndex(keys, 'name', text),
      blindIndex(keys, 'openid', text),
    ]);
    expect(all.size).toBe(3);
    expect(blindIndex(keys, 'roster', text)).not.toBe(blindIndex(keys, 'openid', text));
  });

  it('depends on the index key', () => {
    expect(blindIndex(keysFrom(generatePiiKeys()), 'idCard', ID)).not.toBe(blindIndex(keys, 'idCard', ID));
  });

  it('normalises ID numbers and names again (idempotent)', () => {
    expect(blindIndex(keys, 'idCard', ID.toLowerCase())).toBe(blindIndex(keys, 'idCard', ID));
    expect(blindIndex(keys, 'idCard', ` ${ID} `)).toBe(blindIndex(keys, 'idCard', ID));
    expect(blindIndex(keys, 'name', '买买提．吐尔逊')).toBe(blindIndex(keys, 'name', '买买提·吐尔逊'));
    expect(blindIndex(keys, 'openid', 'oAbc')).not.toBe(blindIndex(keys, 'openid', 'oabc'));
  });

  it('refuses an empty kind or one containing NUL', () => {
    expect(() => blindIndex(keys, '', ID)).toThrow();
    expect(() => blindIndex(keys, 'id\0Card', ID)).toThrow();
  });
});

describe('hashToken', () => {
  it('is SHA-256 hex (FIPS 180-2 test vector)', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashToken('授权')).toBe(crypto.createHash('sha256').update(Buffer.from('授权', 'utf8')).digest('hex'));
  });
});
