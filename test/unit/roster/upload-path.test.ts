import { isRosterUpload } from '../../../miniprogram/shared/requests';
import { fileIDPrefix, rosterUploadPath } from '../../../server/core/roster/upload-path';

describe('rosterUploadPath', () => {
  const at = 1_796_000_000_000;

  it('keeps a safe name and the spreadsheet extension, after the time and the nonce', () => {
    expect(rosterUploadPath('名单 2026.XLSX', at, 'ab12')).toBe(`roster-uploads/${at}-ab12-2026.xlsx`);
    expect(rosterUploadPath('staff list.csv', at, 'ab12')).toBe(`roster-uploads/${at}-ab12-staff_list.csv`);
    expect(rosterUploadPath('old.xls', at, 'ab12')).toBe(`roster-uploads/${at}-ab12-old.xls`);
  });

  it('never lets a name leave the upload area or pick another type', () => {
    for (const name of ['../../cloudfunctions/roster/index.js', '..\\..\\x.csv', '/etc/passwd', 'a/../../b.xlsx']) {
      const path = rosterUploadPath(name, at, 'ab12');
      expect(path.startsWith(`roster-uploads/${at}-ab12-`)).toBe(true);
      expect(path.slice('roster-uploads/'.length)).not.toMatch(/\/|\\|\.\./);
      expect(isRosterUpload(`cloud://env.bucket/${path}`)).toBe(true);
    }
    expect(rosterUploadPath('macro.xlsm', at, 'ab12')).toBe(`roster-uploads/${at}-ab12-macro.xlsx`);
    expect(rosterUploadPath('...', at, 'ab12')).toBe(`roster-uploads/${at}-ab12-roster.xlsx`);
    // A cut at 60 characters that would leave a dot before the extension.
    const cut = rosterUploadPath(`${'a'.repeat(59)}.b.xlsx`, at, 'ab12');
    expect(cut).toBe(`roster-uploads/${at}-ab12-${'a'.repeat(59)}.xlsx`);
    expect(isRosterUpload(`cloud://env.bucket/${cut}`)).toBe(true);
    expect(rosterUploadPath('x'.repeat(300) + '.csv', at, 'ab12')).toBe(
      `roster-uploads/${at}-ab12-${'x'.repeat(60)}.csv`,
    );
  });
});

describe('fileIDPrefix', () => {
  it('is the file ID without the path, for a cloud file ID that ends with it', () => {
    expect(
      fileIDPrefix('cloud://prod-1a2b.7072-prod-1a2b-1300000000/roster-templates/t.xlsx', 'roster-templates/t.xlsx'),
    ).toBe('cloud://prod-1a2b.7072-prod-1a2b-1300000000/');
  });

  it('is undefined for anything else: nothing is guessed', () => {
    expect(fileIDPrefix('cloud://env.bucket/other/t.xlsx', 'roster-templates/t.xlsx')).toBeUndefined();
    expect(fileIDPrefix('https://example.com/roster-templates/t.xlsx', 'roster-templates/t.xlsx')).toBeUndefined();
    expect(fileIDPrefix('cloud://env.bucket/xroster-templates/t.xlsx', 'roster-templates/t.xlsx')).toBeUndefined();
  });
});
