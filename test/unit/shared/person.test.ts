import { maskIdCard, maskName, maskPhone } from '../../../miniprogram/shared/mask';
import { checkName, checkPhone } from '../../../miniprogram/shared/person';

describe('checkName', () => {
  it.each(['张三', '欧阳娜娜', '买买提·吐尔逊', '买买提•吐尔逊', '𠮷野家', '李𬌗', 'Ayla Tan'])(
    'accepts %s',
    (name) => {
      expect(checkName(name).ok).toBe(true);
    },
  );

  it('normalises dots and spaces', () => {
    expect(checkName(' 买买提．吐尔逊 ')).toEqual({ ok: true, value: '买买提·吐尔逊' });
  });

  it.each([
    ['', 'NAME_REQUIRED'],
    ['   ', 'NAME_REQUIRED'],
    ['张', 'NAME_INVALID'],
    ['张3', 'NAME_INVALID'],
    ['·张三', 'NAME_INVALID'],
    ['买买提··吐尔逊', 'NAME_INVALID'],
    ['<script>', 'NAME_INVALID'],
    ['张'.repeat(31), 'NAME_INVALID'],
  ])('rejects %j with %s', (name, code) => {
    expect(checkName(name)).toEqual({ ok: false, code });
  });
});

describe('checkPhone', () => {
  it.each([
    ['13812345678', '13812345678'],
    ['138 1234 5678', '13812345678'],
    ['138-1234-5678', '13812345678'],
    ['+86 138 1234 5678', '13812345678'],
    ['0086-13812345678', '13812345678'],
    ['１３８１２３４５６７８', '13812345678'],
  ])('accepts %j', (input, value) => {
    expect(checkPhone(input)).toEqual({ ok: true, value });
  });

  it.each(['', '12812345678', '1381234567', '138123456789', '8613812345678x', '02012345678'])('rejects %j', (input) => {
    expect(checkPhone(input)).toEqual({ ok: false, code: 'PHONE_INVALID' });
  });
});

describe('masking', () => {
  it('masks names by code point', () => {
    expect(maskName('张三')).toBe('张*');
    expect(maskName('欧阳娜娜')).toBe('欧***');
    expect(maskName('𠮷野家')).toBe('𠮷**');
    expect(maskName('张')).toBe('张*');
    expect(maskName('')).toBe('');
  });

  it('masks ID numbers and phones to first and last digits', () => {
    expect(maskIdCard('440106199001011235')).toBe('4401**********1235');
    expect(maskIdCard('1234')).toBe('****');
    expect(maskPhone('13812345678')).toBe('138****5678');
  });
});
