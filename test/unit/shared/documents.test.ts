/** Document numbers and holders' names for staff verification: each type's format, checksum and dates. */
import { checkDocument, checkDocumentName, normalizeDocNumber } from '../../../miniprogram/shared/documents';
import { makeIdCard } from '../../../miniprogram/shared/idcard';

const NOW = new Date(Date.UTC(2026, 11, 2));

describe('checkDocument', () => {
  it('normalises what people type: full-width, spaces, dashes, lower case', () => {
    expect(normalizeDocNumber(' ｈ１２３４-５６７８ ')).toBe('H12345678');
    expect(checkDocument('hk_mo_permit', 'h 1234 5678', NOW)).toEqual({ ok: true, value: 'H12345678' });
  });

  it.each([
    ['hk_mo_permit', 'H12345678'],
    ['hk_mo_permit', 'M1234567801'],
    ['tw_permit', '12345678'],
    ['tw_permit', '1234567890'],
    ['residence_permit', makeIdCard('810000', '19920315', '046')],
    ['residence_permit', makeIdCard('820000', '20000229', '011')],
    ['residence_permit', makeIdCard('830000', '19800101', '123')],
    ['foreign_permanent', makeIdCard('915840', '19850101', '003')],
    ['foreign_permanent', 'USA123456789012'],
    ['passport', 'E98765432'],
    ['id_card', makeIdCard('110105', '19480101', '026')],
  ] as const)('accepts %s %s', (type, number) => {
    expect(checkDocument(type, number, NOW)).toEqual({ ok: true, value: number });
  });

  it.each([
    ['hk_mo_permit', 'X12345678', 'DOC_HK_MO_FORMAT'],
    ['hk_mo_permit', 'H1234567', 'DOC_HK_MO_FORMAT'],
    ['tw_permit', '123456789', 'DOC_TW_FORMAT'],
    ['residence_permit', makeIdCard('440106', '19920315', '046'), 'DOC_RESIDENCE_REGION'],
    ['residence_permit', '81000019921399046X', 'DOC_RESIDENCE_FORMAT'],
    ['residence_permit', makeIdCard('810000', '20261203', '046'), 'DOC_RESIDENCE_FORMAT'],
    ['residence_permit', makeIdCard('810000', '18991231', '046'), 'DOC_RESIDENCE_FORMAT'],
    ['foreign_permanent', makeIdCard('915840', '20270101', '003'), 'DOC_FOREIGN_FORMAT'],
    ['foreign_permanent', makeIdCard('915840', '19850231', '003'), 'DOC_FOREIGN_FORMAT'],
    ['foreign_permanent', makeIdCard('815840', '19850101', '003'), 'DOC_FOREIGN_FORMAT'],
    ['foreign_permanent', 'US123456789012', 'DOC_FOREIGN_FORMAT'],
    ['passport', 'E1', 'DOC_PASSPORT_FORMAT'],
    ['passport', 'E'.repeat(21), 'DOC_PASSPORT_FORMAT'],
    ['passport', '', 'DOC_REQUIRED'],
    ['id_card', 'E98765432', 'ID_FORMAT'],
    ['id_card', makeIdCard('110105', '20270101', '026'), 'ID_DATE'],
  ] as const)('refuses %s %s with %s', (type, number, code) => {
    expect(checkDocument(type, number, NOW)).toEqual({ ok: false, code });
  });

  it('checks the GB 11643 character of residence permits and 18-character foreign permanent residence cards', () => {
    for (const [type, valid] of [
      ['residence_permit', makeIdCard('810000', '19920315', '046')],
      ['foreign_permanent', makeIdCard('915840', '19850101', '003')],
    ] as const) {
      const wrong = valid.slice(0, 17) + (valid.endsWith('1') ? '2' : '1');
      expect(checkDocument(type, wrong, NOW)).toEqual({ ok: false, code: 'DOC_CHECKSUM' });
    }
  });
});

describe('checkDocumentName', () => {
  it.each([
    ['陈嘉欣', '陈嘉欣'],
    ['maria garcia  lopez', 'MARIA GARCIA LOPEZ'],
    ['John F. Kennedy', 'JOHN F. KENNEDY'],
    ["O'Brien-Smith", "O'BRIEN-SMITH"],
    ['José Müller', 'JOSÉ MÜLLER'],
    ['买买提•艾力', '买买提·艾力'],
    ['买买提・艾力', '买买提·艾力'],
    ['ＪＯＨＮ　ＳＭＩＴＨ', 'JOHN SMITH'],
  ])('accepts %s as %s', (input, value) => {
    expect(checkDocumentName(input)).toEqual({ ok: true, value });
  });

  it.each([
    ['', 'NAME_REQUIRED'],
    ['J', 'DOC_NAME_INVALID'],
    ['A'.repeat(61), 'DOC_NAME_INVALID'],
    ['JOHN 3', 'DOC_NAME_INVALID'],
    ['·JOHN', 'DOC_NAME_INVALID'],
    ['JOHN-', 'DOC_NAME_INVALID'],
    ['<script>', 'DOC_NAME_INVALID'],
  ])('refuses %j with %s', (input, code) => {
    expect(checkDocumentName(input)).toEqual({ ok: false, code });
  });
});
