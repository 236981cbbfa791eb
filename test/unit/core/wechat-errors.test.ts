import { ERRORS } from '../../../miniprogram/shared/errors';
import {
  assertWechatOk,
  errcodeOf,
  isAccessTokenError,
  isBusyError,
  WechatApiError,
  wechatErrorCode,
} from '../../../server/core/wechat-errors';

describe('wechatErrorCode', () => {
  it.each([
    [94001, 'REALNAME_MERCHANT_CONFIG'],
    [94002, 'REALNAME_NO_WXPAY'],
    [94003, 'REALNAME_MERCHANT_CONFIG'],
    [94004, 'REALNAME_NO_INFO'],
    [94005, 'REALNAME_TOKEN_INVALID'],
    [94006, 'REALNAME_NOT_AUTHORIZED'],
    [94007, 'REALNAME_NOT_AUTHORIZED'],
    [94008, 'REALNAME_MERCHANT_CONFIG'],
    [94009, 'REALNAME_MERCHANT_CONFIG'],
    [94010, 'REALNAME_MERCHANT_CONFIG'],
    [-1, 'WECHAT_BUSY'],
    [84001, 'FACE_RESULT_INVALID'],
    [84002, 'FACE_RESULT_EXPIRED'],
    [84003, 'FACE_RESULT_INVALID'],
    [40001, 'WECHAT_ERROR'],
    [42001, 'WECHAT_ERROR'],
    [41001, 'WECHAT_ERROR'],
    [40014, 'WECHAT_ERROR'],
    [94011, 'WECHAT_ERROR'],
    [61000, 'WECHAT_ERROR'],
    [0, 'WECHAT_ERROR'],
  ])('maps %i to %s', (errcode, code) => {
    expect(wechatErrorCode(errcode)).toBe(code);
    expect(ERRORS).toHaveProperty(code);
  });

  it('maps rate limits to FACE_RATE_LIMITED on face APIs and WECHAT_BUSY elsewhere', () => {
    for (const errcode of [45009, 45011]) {
      expect(wechatErrorCode(errcode, '/cityservice/face/identify/getverifyid')).toBe('FACE_RATE_LIMITED');
      expect(wechatErrorCode(errcode, '/cgi-bin/wxopen/getrealnameinfo')).toBe('WECHAT_BUSY');
      expect(wechatErrorCode(errcode)).toBe('WECHAT_BUSY');
    }
  });
});

describe('retry helpers', () => {
  it('recognises access_token errors and system busy', () => {
    for (const errcode of [40001, 40014, 41001, 42001]) expect(isAccessTokenError(errcode)).toBe(true);
    for (const errcode of [-1, 0, 45009, 94005]) expect(isAccessTokenError(errcode)).toBe(false);
    expect(isBusyError(-1)).toBe(true);
    expect(isBusyError(45011)).toBe(false);
  });
});

describe('WechatApiError', () => {
  it('carries errcode, errmsg, path and our code, and drops the query string', () => {
    const err = new WechatApiError(
      '/cgi-bin/wxopen/getrealnameinfo?access_token=SECRET_TOKEN_VALUE',
      94005,
      'invalid auth_token hint: [abc]',
    );
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('WechatApiError');
    expect(err.errcode).toBe(94005);
    expect(err.errmsg).toBe('invalid auth_token hint: [abc]');
    expect(err.path).toBe('/cgi-bin/wxopen/getrealnameinfo');
    expect(err.code).toBe('REALNAME_TOKEN_INVALID');
    expect(err.message).toContain('94005');
    expect(JSON.stringify({ ...err, message: err.message, stack: err.stack })).not.toContain('SECRET_TOKEN_VALUE');
  });

  it('uses the path to choose the rate-limit code and bounds errmsg', () => {
    expect(new WechatApiError('/cityservice/face/identify/getinfo', 45011).code).toBe('FACE_RATE_LIMITED');
    expect(new WechatApiError('/x', 1, 'm'.repeat(1000)).errmsg).toHaveLength(200);
  });
});

describe('assertWechatOk / errcodeOf', () => {
  it('passes errcode 0 and bodies without errcode', () => {
    expect(() => assertWechatOk('/p', { errcode: 0, errmsg: 'ok' })).not.toThrow();
    expect(() => assertWechatOk('/p', { access_token: 'x', expires_in: 7200 })).not.toThrow();
    expect(errcodeOf({ errcode: 0 })).toBe(0);
    expect(errcodeOf({})).toBeUndefined();
    expect(errcodeOf(null)).toBeUndefined();
  });

  it('throws WechatApiError for a non-zero errcode or an unreadable body', () => {
    expect(() =>
      assertWechatOk('/cgi-bin/wxopen/getrealnameinfo?access_token=t', { errcode: 94002, errmsg: 'x' }),
    ).toThrow(
      expect.objectContaining({ errcode: 94002, code: 'REALNAME_NO_WXPAY', path: '/cgi-bin/wxopen/getrealnameinfo' }),
    );
    for (const body of [null, 'text', [1], 42]) {
      expect(() => assertWechatOk('/p', body)).toThrow(WechatApiError);
    }
  });
});
