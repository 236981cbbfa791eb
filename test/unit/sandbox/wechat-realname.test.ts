import { constants, createSign, generateKeyPairSync, type KeyObject, privateDecrypt } from 'node:crypto';
import * as iconv from 'iconv-lite';
import { makeIdCard } from '../../../miniprogram/shared/idcard';
import { DEFAULT_CATEGORIES } from '../../../sandbox/wechat';
import { Harness } from './wechat-fixtures';

const PATH = '/cgi-bin/wxopen/getrealnameinfo';
const OPENID = 'oRRn15NUibB0sandboxUser0001';
const ID = makeIdCard('650102', '19880808', '031');

function sign(key: KeyObject, serial: string, timestamp: number | string): string {
  return createSign('sha256').update(`cert_serialno=${serial}&timestamp=${timestamp}`).sign(key, 'base64');
}

/** Node 20 refuses PKCS#1 v1.5 private decryption: decrypt raw and strip the type-2 padding by hand. */
function decrypt(key: KeyObject, base64: string): Buffer {
  const block = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, Buffer.from(base64, 'base64'));
  expect(block[0]).toBe(0x00);
  expect(block[1]).toBe(0x02);
  const separator = block.indexOf(0x00, 2);
  expect(separator).toBeGreaterThanOrEqual(10);
  return block.subarray(separator + 1);
}

function request(h: Harness, authToken: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const timestamp = Math.floor(h.clock.now() / 1000);
  const { serialNo, mchId } = h.keys.merchant;
  return {
    auth_token: authToken,
    mch_id: mchId,
    cert_serialno: serialNo,
    timestamp,
    sign: sign(h.keys.privateKey, serialNo, timestamp),
    ...overrides,
  };
}

function authorize(h: Harness, name = '张三', scenario?: 'ok' | 'no_wxpay' | 'no_realname'): string {
  const res = h.emulator.authorizeRealname({
    openid: OPENID,
    name,
    idCardNumber: ID,
    ...(scenario ? { scenario } : {}),
  });
  expect(res.status).toBe(200);
  return (res.body as { auth_token: string }).auth_token;
}

describe('GET /wxa/get_category', () => {
  it('lists realistic default categories with ids', async () => {
    const res = await new Harness().get('/wxa/get_category');
    expect(res.body).toEqual({ errcode: 0, errmsg: 'ok', category_list: DEFAULT_CATEGORIES });
    expect(DEFAULT_CATEGORIES.map((c) => c.first_class)).toEqual(expect.arrayContaining(['政务民生', '医疗']));
  });

  it('uses the configured categories', async () => {
    const categories = [
      { first_class: '教育', second_class: '学历教育', third_class: '高等', first_id: 3, second_id: 4, third_id: 5 },
    ];
    expect((await new Harness({ categories }).get('/wxa/get_category')).body.category_list).toEqual(categories);
  });
});

describe('POST /cgi-bin/wxopen/getrealnameinfo', () => {
  it.each([
    ['a common name', '张三'],
    ['a name with a middle dot', '买买提·吐尔逊'],
    ['a name outside GBK (CJK Ext. B)', '𠮷野家'],
    ['a rare character', '王䶮'],
  ])('returns %s encrypted as GB18030 under the merchant key', async (_label, name) => {
    const h = new Harness();
    const res = await h.post(PATH, request(h, authorize(h, name)));
    expect(res.body).toEqual({
      errcode: 0,
      errmsg: 'ok',
      encryted_real_name: expect.any(String),
      encryted_credential_id: expect.any(String),
    });
    const nameBytes = decrypt(h.keys.privateKey, String(res.body.encryted_real_name));
    expect(iconv.decode(nameBytes, 'gb18030')).toBe(name);
    expect(nameBytes.equals(Buffer.from(name, 'utf8'))).toBe(false);
    expect(decrypt(h.keys.privateKey, String(res.body.encryted_credential_id)).toString('ascii')).toBe(ID);
  });

  it('accepts a numeric-string timestamp signed as sent', async () => {
    const h = new Harness();
    const ts = String(Math.floor(h.clock.now() / 1000));
    const body = request(h, authorize(h), {
      timestamp: ts,
      sign: sign(h.keys.privateKey, h.keys.merchant.serialNo, ts),
    });
    expect((await h.post(PATH, body)).body.errcode).toBe(0);
  });

  it('keeps an auth_token reusable for 5 minutes, then 94005', async () => {
    const h = new Harness();
    const token = authorize(h);
    expect((await h.post(PATH, request(h, token))).body.errcode).toBe(0);
    h.clock.advance(299);
    expect((await h.post(PATH, request(h, token))).body.errcode).toBe(0);
    h.clock.advance(1);
    expect((await h.post(PATH, request(h, token))).body).toEqual({ errcode: 94005, errmsg: 'invalid auth_token' });
  });

  it('refuses a signature from another key (94003)', async () => {
    const h = new Harness();
    const { privateKey: other } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ts = Math.floor(h.clock.now() / 1000);
    const body = request(h, authorize(h), { sign: sign(other, h.keys.merchant.serialNo, ts) });
    expect((await h.post(PATH, body)).body).toEqual({ errcode: 94003, errmsg: 'invalid sign' });
  });

  it.each([
    [
      'signed for another timestamp',
      (h: Harness) => sign(h.keys.privateKey, h.keys.merchant.serialNo, Math.floor(h.clock.now() / 1000) - 1),
    ],
    ['not base64', () => 'not base64!'],
    ['missing', () => undefined],
  ])('refuses a sign %s (94003)', async (_label, makeSign) => {
    const h = new Harness();
    expect((await h.post(PATH, request(h, authorize(h), { sign: makeSign(h) }))).body.errcode).toBe(94003);
  });

  it.each([
    ['301 s old', -301],
    ['301 s ahead', 301],
  ])('refuses a timestamp %s (94008) and accepts one 300 s away', async (_label, offset) => {
    const h = new Harness();
    const token = authorize(h);
    const { serialNo } = h.keys.merchant;
    const at = (delta: number) => {
      const ts = Math.floor(h.clock.now() / 1000) + delta;
      return request(h, token, { timestamp: ts, sign: sign(h.keys.privateKey, serialNo, ts) });
    };
    expect((await h.post(PATH, at(offset))).body).toEqual({ errcode: 94008, errmsg: 'invalid timestamp' });
    expect((await h.post(PATH, at(Math.sign(offset) * 300))).body.errcode).toBe(0);
  });

  it.each([
    ['a fractional timestamp', { timestamp: 1.5 }, 94008],
    ['a missing timestamp', { timestamp: undefined }, 94008],
    ['no cert_serialno', { cert_serialno: undefined }, 94001],
    ['a lower-case serial', 'lower', 94009],
    ['a 39-character serial', 'short', 94009],
    ["another merchant's serial", { cert_serialno: 'A'.repeat(40) }, 94009],
    ['another mch_id', { mch_id: '1900000000' }, 94010],
    ['no mch_id', { mch_id: undefined }, 94010],
    ['an unknown auth_token', { auth_token: 'unknown-token' }, 94005],
    ['no auth_token', { auth_token: undefined }, 94005],
  ] as const)('refuses %s', async (_label, override, errcode) => {
    const h = new Harness();
    const { serialNo } = h.keys.merchant;
    const patch =
      override === 'lower'
        ? { cert_serialno: serialNo.toLowerCase() }
        : override === 'short'
          ? { cert_serialno: serialNo.slice(1) }
          : override;
    expect((await h.post(PATH, request(h, authorize(h), patch))).body.errcode).toBe(errcode);
  });

  it.each([
    ['no_wxpay', 94002],
    ['no_realname', 94004],
  ] as const)('answers scenario %s with %i', async (scenario, errcode) => {
    const h = new Harness();
    expect((await h.post(PATH, request(h, authorize(h, '张三', scenario)))).body.errcode).toBe(errcode);
  });

  it('answers 94006 / 94007 only through injected faults', async () => {
    const h = new Harness();
    h.emulator.injectFault({ path: PATH, errcode: 94006 });
    h.emulator.injectFault({ path: PATH, errcode: 94007 });
    const body = request(h, authorize(h));
    expect((await h.post(PATH, body)).body.errcode).toBe(94006);
    expect((await h.post(PATH, body)).body.errcode).toBe(94007);
    expect((await h.post(PATH, body)).body.errcode).toBe(0);
  });

  it('refuses an empty body (44002)', async () => {
    expect((await new Harness().post(PATH, undefined)).body.errcode).toBe(44002);
  });
});

describe('authorizeRealname input validation', () => {
  it.each([
    ['no openid', { name: '张三', idCardNumber: ID }, 'openid must be a non-empty string'],
    ['an empty name', { openid: OPENID, name: '  ', idCardNumber: ID }, 'name must be a non-empty string'],
    [
      'a bad checksum',
      { openid: OPENID, name: '张三', idCardNumber: `${ID.slice(0, 17)}${ID.endsWith('0') ? '1' : '0'}` },
      'idCardNumber is invalid (ID_CHECKSUM)',
    ],
    [
      'a 15-digit ID',
      { openid: OPENID, name: '张三', idCardNumber: '110105491231002' },
      'idCardNumber is invalid (ID_15_DIGIT)',
    ],
    [
      'an unknown scenario',
      { openid: OPENID, name: '张三', idCardNumber: ID, scenario: 'frozen' },
      'scenario must be one of ok, no_wxpay, no_realname, garbled, foreign_key, bad_id',
    ],
  ])('answers 400 for %s', (_label, input, error) => {
    expect(new Harness().emulator.authorizeRealname(input as never)).toEqual({ status: 400, body: { error } });
  });
});
