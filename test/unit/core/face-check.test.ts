import crypto from 'crypto';
import iconv from 'iconv-lite';
import { certHash, evaluateGetInfo, evaluateQueryVerifyInfo, md5Hex } from '../../../server/core/face-check';

const md5 = (bytes: Buffer): string => crypto.createHash('md5').update(bytes).digest('hex');

describe('certHash', () => {
  it("matches the official worked example of queryVerifyInfo's page", () => {
    // https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_queryverifyinfo
    expect(certHash('张三', '310101199801011234')).toBe(
      '3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b',
    );
  });

  it('is SHA-256 of cert_type=<b64>&cert_name=<b64>&cert_no=<b64> over UTF-8 bytes', () => {
    // Built by hand from the definition: UTF-8 bytes of 𠮷野家 are F0 A0 AE B7 E9 87 8E E5 AE B6.
    const nameBytes = Buffer.from([0xf0, 0xa0, 0xae, 0xb7, 0xe9, 0x87, 0x8e, 0xe5, 0xae, 0xb6]);
    const text =
      'cert_type=' +
      Buffer.from('IDENTITY_CARD', 'ascii').toString('base64') +
      '&cert_name=' +
      nameBytes.toString('base64') +
      '&cert_no=' +
      Buffer.from('11010519491231002X', 'ascii').toString('base64');
    expect(text).toBe('cert_type=SURFTlRJVFlfQ0FSRA==&cert_name=8KCut+mHjuWutg==&cert_no=MTEwMTA1MTk0OTEyMzEwMDJY');
    const expected = crypto.createHash('sha256').update(Buffer.from(text, 'ascii')).digest('hex');
    expect(certHash('𠮷野家', '11010519491231002X')).toBe(expected);
    expect(certHash('𠮷野家', '11010519491231002X')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('depends on every field, including the certificate type', () => {
    const base = certHash('张三', '310101199801011234');
    expect(certHash('张四', '310101199801011234')).not.toBe(base);
    expect(certHash('张三', '310101199801011235')).not.toBe(base);
    expect(certHash('张三', '310101199801011234', 'OTHER')).not.toBe(base);
  });
});

describe('md5Hex', () => {
  it('hashes UTF-8 bytes, lower-case hex', () => {
    expect(md5Hex('')).toBe('d41d8cd98f00b204e9800998ecf8427e');
    expect(md5Hex('abc')).toBe('900150983cd24fb0d6963f7d28e17f72');
    expect(md5Hex('𠮷')).toBe(md5(Buffer.from([0xf0, 0xa0, 0xae, 0xb7])));
    expect(md5Hex('张三')).not.toBe(md5(iconv.encode('张三', 'gbk')));
  });
});

describe('evaluateGetInfo', () => {
  const expected = { name: '张三', idCard: '11010519491231002X', openid: 'oUser123' };
  const response = (overrides: Record<string, unknown> = {}) => ({
    errcode: 0,
    errmsg: 'ok',
    identify_ret: 0,
    identify_time: 1486350357,
    validate_data: '8593',
    openid: 'oUser123',
    user_id_key: 'id_key_xxx',
    finish_time: 1486350360,
    // Independent of md5Hex: digests of the exact bytes.
    id_card_number_md5: md5(Buffer.from('11010519491231002X', 'ascii')),
    name_utf8_md5: md5(Buffer.from([0xe5, 0xbc, 0xa0, 0xe4, 0xb8, 0x89])), // 张三 in UTF-8
    ...overrides,
  });

  it('passes a matching result and returns identify_time', () => {
    expect(evaluateGetInfo(response(), expected)).toEqual({ ok: true, identifyTime: 1486350357 });
    expect(evaluateGetInfo(response({ identify_time: undefined }), expected)).toEqual({ ok: true });
  });

  it('compares the md5 strings case-insensitively', () => {
    const upper = response({
      id_card_number_md5: response().id_card_number_md5.toUpperCase(),
      name_utf8_md5: response().name_utf8_md5.toUpperCase(),
    });
    expect(evaluateGetInfo(upper, expected).ok).toBe(true);
  });

  it('hashes the expected ID with an upper-case X', () => {
    expect(evaluateGetInfo(response(), { ...expected, idCard: '11010519491231002x' }).ok).toBe(true);
    // WeChat documents the md5 over an upper-case X: a digest over "x" is someone else's.
    const lowerX = response({ id_card_number_md5: md5(Buffer.from('11010519491231002x')) });
    expect(evaluateGetInfo(lowerX, expected)).toEqual({ ok: false, code: 'FACE_IDENTITY_MISMATCH' });
  });

  it('hashes the UTF-8 bytes of the name, rare characters included', () => {
    const rare = { ...expected, name: '𠮷野家' };
    const utf8 = response({
      name_utf8_md5: md5(Buffer.from([0xf0, 0xa0, 0xae, 0xb7, 0xe9, 0x87, 0x8e, 0xe5, 0xae, 0xb6])),
    });
    expect(evaluateGetInfo(utf8, rare).ok).toBe(true);
    const gb = response({ name_utf8_md5: md5(iconv.encode('𠮷野家', 'gb18030')) });
    expect(evaluateGetInfo(gb, rare)).toEqual({ ok: false, code: 'FACE_IDENTITY_MISMATCH' });
  });

  it('reports a different name or ID as FACE_IDENTITY_MISMATCH', () => {
    expect(evaluateGetInfo(response(), { ...expected, name: '李四' })).toEqual({
      ok: false,
      code: 'FACE_IDENTITY_MISMATCH',
    });
    expect(evaluateGetInfo(response(), { ...expected, idCard: '110101199003077774' })).toEqual({
      ok: false,
      code: 'FACE_IDENTITY_MISMATCH',
    });
    const swapped = response({
      id_card_number_md5: response().name_utf8_md5,
      name_utf8_md5: response().id_card_number_md5,
    });
    expect(evaluateGetInfo(swapped, expected)).toEqual({ ok: false, code: 'FACE_IDENTITY_MISMATCH' });
  });

  it("reports someone else's result as FACE_NOT_OWNER", () => {
    expect(evaluateGetInfo(response({ openid: 'oOther' }), expected)).toEqual({ ok: false, code: 'FACE_NOT_OWNER' });
    expect(evaluateGetInfo(response(), { ...expected, openid: '' })).toEqual({ ok: false, code: 'FACE_NOT_OWNER' });
    expect(evaluateGetInfo(response({ openid: 'oUser1234' }), expected)).toEqual({ ok: false, code: 'FACE_NOT_OWNER' });
  });

  it('maps identify_ret: 90100 cancelled, any other non-zero not passed', () => {
    expect(evaluateGetInfo(response({ identify_ret: 90100 }), expected)).toEqual({
      ok: false,
      code: 'FACE_CANCELLED',
      wechatCode: 90100,
    });
    // Seen in the wild: errcode 0 with identify_ret 10003.
    for (const ret of [10003, 10004, 10057, 90102, 90199, -1]) {
      expect(evaluateGetInfo(response({ identify_ret: ret }), expected)).toEqual({
        ok: false,
        code: 'FACE_NOT_PASSED',
        wechatCode: ret,
      });
    }
  });

  it.each([
    [84002, 'FACE_RESULT_EXPIRED'],
    [84001, 'FACE_RESULT_INVALID'],
    [84003, 'FACE_RESULT_INVALID'],
    [-1, 'WECHAT_BUSY'],
    [45011, 'FACE_RATE_LIMITED'],
    [40001, 'WECHAT_ERROR'],
  ])('maps errcode %i to %s, whatever else the body says', (errcode, code) => {
    expect(evaluateGetInfo(response({ errcode }), expected)).toEqual({ ok: false, code, wechatCode: errcode });
  });

  it.each([
    ['null', null],
    ['a string', 'ok'],
    ['an array', [response()]],
    ['an empty object', {}],
    ['errcode as a string', response({ errcode: '0' })],
    ['errcode missing', response({ errcode: undefined })],
    ['identify_ret missing', response({ identify_ret: undefined })],
    ['identify_ret as a string', response({ identify_ret: '0' })],
    ['identify_ret fractional', response({ identify_ret: 0.5 })],
    ['identify_ret null', response({ identify_ret: null })],
    ['openid missing', response({ openid: undefined })],
    ['openid not a string', response({ openid: ['oUser123'] })],
    ['id md5 missing', response({ id_card_number_md5: undefined })],
    ['id md5 too short', response({ id_card_number_md5: response().id_card_number_md5.slice(1) })],
    ['name md5 not hex', response({ name_utf8_md5: 'z'.repeat(32) })],
    ['name md5 a number', response({ name_utf8_md5: 12345 })],
  ])('fails closed with FACE_RESULT_INVALID on %s', (_label, body) => {
    expect(evaluateGetInfo(body, expected)).toEqual({ ok: false, code: 'FACE_RESULT_INVALID' });
  });
});

describe('evaluateQueryVerifyInfo', () => {
  const answer = (verify_ret: unknown, errcode: unknown = 0) => ({ errcode, errmsg: 'ok', verify_ret });

  it('passes only errcode 0 with verify_ret 10000', () => {
    expect(evaluateQueryVerifyInfo(answer(10000))).toEqual({ ok: true });
    expect(evaluateQueryVerifyInfo(answer(10000, 84002)).ok).toBe(false);
  });

  it.each([90002, 90003, 90004, 90005, 90006, 90024, 90100])('maps cancellation %i to FACE_CANCELLED', (ret) => {
    expect(evaluateQueryVerifyInfo(answer(ret))).toEqual({ ok: false, code: 'FACE_CANCELLED', wechatCode: ret });
  });

  it.each([90001, 90007, 90008, 90017, 90018, 90107, 90109, 90199, 99999])(
    'maps client outcome %i to FACE_NOT_PASSED',
    (ret) => {
      expect(evaluateQueryVerifyInfo(answer(ret))).toEqual({ ok: false, code: 'FACE_NOT_PASSED', wechatCode: ret });
    },
  );

  it.each([10001, 10002, 10003, 10004, 10057, 10069, 20000, 100000])(
    'maps verification failure %i to FACE_NOT_PASSED',
    (ret) => {
      expect(evaluateQueryVerifyInfo(answer(ret))).toEqual({ ok: false, code: 'FACE_NOT_PASSED', wechatCode: ret });
    },
  );

  it.each([
    [84001, 'FACE_RESULT_INVALID'],
    [84002, 'FACE_RESULT_EXPIRED'],
    [84003, 'FACE_RESULT_INVALID'],
    [-1, 'WECHAT_BUSY'],
    [45009, 'FACE_RATE_LIMITED'],
    [42001, 'WECHAT_ERROR'],
    [61000, 'WECHAT_ERROR'],
  ])('maps errcode %i to %s', (errcode, code) => {
    expect(evaluateQueryVerifyInfo(answer(10000, errcode))).toEqual({ ok: false, code, wechatCode: errcode });
  });

  it.each([
    ['null', null],
    ['a number', 10000],
    ['an array', [answer(10000)]],
    ['errcode missing', { verify_ret: 10000 }],
    ['errcode as a string', answer(10000, '0')],
    ['verify_ret missing', { errcode: 0, errmsg: 'ok' }],
    ['verify_ret as a string', answer('10000')],
    ['verify_ret fractional', answer(10000.5)],
    ['verify_ret NaN', answer(NaN)],
  ])('fails closed with FACE_RESULT_INVALID on %s', (_label, body) => {
    expect(evaluateQueryVerifyInfo(body)).toMatchObject({ ok: false, code: 'FACE_RESULT_INVALID' });
  });

  it.each([0, 1, 9999, -10000])('treats out-of-range verify_ret %i as invalid', (ret) => {
    expect(evaluateQueryVerifyInfo(answer(ret))).toEqual({ ok: false, code: 'FACE_RESULT_INVALID', wechatCode: ret });
  });
});
