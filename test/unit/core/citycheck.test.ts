/** The verdict on a checkrealnameinfo answer: pass only on the documented positive results, fail closed on the rest. */
import { evaluateCityCheck } from '../../../server/core/citycheck';

describe('evaluateCityCheck', () => {
  const pass = { errcode: 0, errmsg: 'ok', verify_openid: 'V_OP_NM_MA', verify_real_name: 'V_NM_ID_MA' };

  it('passes on errcode 0, V_OP_NM_MA and V_NM_ID_MA (also with other results joined by ";")', () => {
    expect(evaluateCityCheck(pass)).toEqual({ ok: true });
    expect(evaluateCityCheck({ ...pass, verify_openid: 'V_OP_NM_MA; V_OP_XX' })).toEqual({ ok: true });
  });

  it('gives each documented negative result its own code', () => {
    expect(evaluateCityCheck({ ...pass, verify_real_name: 'V_NM_ID_UM' })).toEqual({
      ok: false,
      code: 'REALNAME_CHECK_ID_MISMATCH',
    });
    expect(evaluateCityCheck({ errcode: 0, verify_openid: 'V_OP_NM_UM' })).toEqual({
      ok: false,
      code: 'REALNAME_CHECK_NAME_MISMATCH',
    });
    expect(evaluateCityCheck({ errcode: 0, verify_openid: 'V_OP_NA' })).toEqual({
      ok: false,
      code: 'REALNAME_CHECK_NO_REALNAME',
    });
  });

  it('a negative result beside the positive one wins', () => {
    expect(evaluateCityCheck({ ...pass, verify_openid: 'V_OP_NM_MA;V_OP_NM_UM' })).toMatchObject({
      code: 'REALNAME_CHECK_NAME_MISMATCH',
    });
    expect(evaluateCityCheck({ ...pass, verify_openid: 'V_OP_NA;V_OP_NM_MA' })).toMatchObject({
      code: 'REALNAME_CHECK_NO_REALNAME',
    });
  });

  it.each([
    ['no errcode', { ...pass, errcode: undefined }],
    ['errcode as a string', { ...pass, errcode: '0' }],
    ['a non-zero errcode', { ...pass, errcode: 40001 }],
    ['no verify_real_name', { errcode: 0, verify_openid: 'V_OP_NM_MA' }],
    ['an unknown verify_real_name', { ...pass, verify_real_name: 'V_NM_ID_XX' }],
    ['no verify_openid', { errcode: 0, verify_real_name: 'V_NM_ID_MA' }],
    ['verify_openid not a string', { ...pass, verify_openid: ['V_OP_NM_MA'] }],
    ['an array', [pass]],
    ['null', null],
    ['text', 'ok'],
  ])('fails closed on %s', (_label, answer) => {
    expect(evaluateCityCheck(answer)).toEqual({ ok: false, code: 'REALNAME_CHECK_INVALID' });
  });
});
