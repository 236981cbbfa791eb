import { checkIdCard, idCardCheckChar, makeIdCard } from '../../../miniprogram/shared/idcard';

const NOW = new Date('2026-11-21T00:00:00Z');

describe('checkIdCard (GB 11643-1999)', () => {
  it('accepts a valid number and derives birth date and gender', () => {
    const id = makeIdCard('440106', '19900101', '123');
    expect(checkIdCard(id, NOW)).toEqual({ ok: true, value: id, birthDate: '1990-01-01', gender: 'male' });
    expect(checkIdCard(makeIdCard('110101', '20000229', '002'), NOW)).toMatchObject({ ok: true, gender: 'female' });
  });

  it('computes the published check characters', () => {
    // The standard's own worked example: 11010519491231002X.
    expect(idCardCheckChar('11010519491231002')).toBe('X');
    expect(checkIdCard('11010519491231002X', NOW)).toMatchObject({ ok: true, value: '11010519491231002X' });
  });

  it('normalises full-width digits, spaces and a lower-case x', () => {
    expect(checkIdCard(' １１０１０５１９４９１２３１００２ｘ ', NOW)).toMatchObject({
      ok: true,
      value: '11010519491231002X',
    });
    expect(checkIdCard('110105 19491231 002x', NOW)).toMatchObject({ ok: true, value: '11010519491231002X' });
  });

  it.each([
    ['', 'ID_REQUIRED'],
    ['110105491231002', 'ID_15_DIGIT'],
    ['1101051949123100', 'ID_FORMAT'],
    ['11010519491231002Y', 'ID_FORMAT'],
    ['1101051949123100X2', 'ID_FORMAT'],
    [makeIdCard('990101', '19900101', '123'), 'ID_REGION'],
    [makeIdCard('440000', '19900101', '123'), 'ID_REGION'],
    [makeIdCard('440106', '19900230', '123'), 'ID_DATE'],
    [makeIdCard('440106', '18991231', '123'), 'ID_DATE'],
    [makeIdCard('440106', '20270101', '123'), 'ID_DATE'],
    ['11010519491231002 1'.replace(' ', ''), 'ID_CHECKSUM'],
  ])('rejects %j with %s', (input, code) => {
    expect(checkIdCard(input, NOW)).toEqual({ ok: false, code });
  });

  it('rejects every wrong check character', () => {
    const valid = makeIdCard('320102', '19851120', '456');
    for (const c of '0123456789X') {
      const candidate = valid.slice(0, 17) + c;
      expect(checkIdCard(candidate, NOW).ok).toBe(candidate === valid);
    }
  });

  it('makeIdCard refuses malformed parts', () => {
    expect(() => makeIdCard('44010', '19900101', '123')).toThrow();
  });
});
