/** The one error model: every server error is an AppError with a code from the one table. */
import { ERRORS } from '../../../miniprogram/shared/errors';
import { AppError, ConfigError, describeError, InternalError, isAppError, Refusal } from '../../../server/core/errors';
import { PiiDecryptError } from '../../../server/core/pii';
import { RealnameDecryptError } from '../../../server/core/realname-crypto';
import { isRosterFileError, RosterFileError } from '../../../server/core/roster/types';
import { isWechatApiError, WechatApiError } from '../../../server/core/wechat-errors';
import { HttpTimeoutError } from '../../../server/lib/http';

const samples: [AppError, string, string, boolean][] = [
  [new Refusal('FACE_SESSION_USED'), 'Refusal', 'FACE_SESSION_USED', false],
  [
    new ConfigError('roster settings: ROSTER_DB_QPS must be…', ['ROSTER_DB_QPS']),
    'ConfigError',
    'NOT_CONFIGURED',
    true,
  ],
  [new InternalError('broken'), 'InternalError', 'INTERNAL', true],
  [new WechatApiError('/wxa/get_category', -1), 'WechatApiError', 'WECHAT_BUSY', true],
  [new HttpTimeoutError('/cgi-bin/stable_token'), 'HttpTimeoutError', 'WECHAT_BUSY', true],
  [new RosterFileError('ROSTER_NO_HEADER'), 'RosterFileError', 'ROSTER_NO_HEADER', false],
  [new PiiDecryptError(), 'PiiDecryptError', 'INTERNAL', true],
  [new RealnameDecryptError(), 'RealnameDecryptError', 'REALNAME_DECRYPT_FAILED', true],
];

it.each(samples)('%s: an AppError named %s with code %s (logged: %s)', (error, name, code, logged) => {
  expect(error).toBeInstanceOf(AppError);
  expect(error).toBeInstanceOf(Error);
  expect(isAppError(error)).toBe(true);
  expect(error.name).toBe(name);
  expect(error.code).toBe(code);
  expect(error.logged).toBe(logged);
  // What the user sees is Chinese and comes from the table unless the error says more.
  expect(error.toFailure()).toEqual({ ok: false, code, message: error.publicMessage });
  expect(error.publicMessage).toMatch(/[\u4e00-\u9fa5]/);
});

it('keeps its code and messages off the enumerable properties, like message and stack', () => {
  const error = new Refusal('FORBIDDEN', '仅名单管理员可以导入名单');
  expect(Object.keys(error)).toEqual(['name']);
  expect(JSON.stringify({ ...error })).toBe('{"name":"Refusal"}');
});

it('a refusal may say more than the table; a fault keeps its detail for the log only', () => {
  const refusal = new Refusal('ROSTER_JOB_NOT_FOUND', '该任务没有错误报告');
  expect(refusal.toFailure().message).toBe('该任务没有错误报告');
  const fault = new WechatApiError('/cgi-bin/wxopen/getrealnameinfo?access_token=SECRET', 94003, 'invalid signature');
  expect(fault.message).toBe('WeChat API /cgi-bin/wxopen/getrealnameinfo failed: errcode 94003 invalid signature');
  expect(fault.toFailure()).toEqual({
    ok: false,
    code: 'REALNAME_MERCHANT_CONFIG',
    message: ERRORS.REALNAME_MERCHANT_CONFIG,
  });
  expect(isWechatApiError(fault)).toBe(true);
  expect(isWechatApiError(refusal)).toBe(false);
  expect(isRosterFileError(new RosterFileError('ROSTER_FILE_TOO_LARGE', '.xls 文件过大'))).toBe(true);
});

it('a configuration error names its variables to the user, never a value', () => {
  const error = new ConfigError('WeChat Pay merchant config: WXPAY_MCH_ID is missing', [
    'WXPAY_MCH_ID',
    'WXPAY_PRIVATE_KEY',
  ]);
  expect(error.toFailure().message).toBe('服务尚未完成配置（WXPAY_MCH_ID、WXPAY_PRIVATE_KEY），请联系管理员');
  expect(new ConfigError('x', []).toFailure().message).toBe('服务尚未完成配置，请联系管理员');
});

it('describes anything thrown by class and message only', () => {
  expect(describeError(new TypeError('boom'))).toEqual({ error: 'TypeError', detail: 'boom' });
  expect(describeError({ errCode: -1, errMsg: 'x'.repeat(400) }).detail).toHaveLength(300);
  expect(describeError('a string that might hold a name')).toEqual({ error: 'string', detail: '' });
  expect(describeError(undefined)).toEqual({ error: 'undefined', detail: '' });
});
