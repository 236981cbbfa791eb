/** The request checkers: every action's raw event → its typed request or the code of what is wrong. */
import { ACCESS, ACTIONS, FUNCTION_NAMES } from '../../../miniprogram/shared/contracts';
import { makeIdCard } from '../../../miniprogram/shared/idcard';
import {
  checkerOf,
  cloudPathOf,
  isCredential,
  isJobId,
  isRosterUpload,
  REQUESTS,
} from '../../../miniprogram/shared/requests';

const ID = makeIdCard('110105', '19491231', '002');
const UPLOAD = 'cloud://env-1a2b.7365-env-1a2b/roster-uploads/1700000000000-roster.xlsx';

it('has one checker and one access level for every action of every function', () => {
  for (const name of FUNCTION_NAMES) {
    expect(Object.keys(REQUESTS[name]).sort()).toEqual([...ACTIONS[name]].sort());
    expect(Object.keys(ACCESS[name]).sort()).toEqual([...ACTIONS[name]].sort());
  }
});

describe('face.start', () => {
  const check = checkerOf('face', 'start');

  it('normalises name and ID and requires consent to be exactly true', () => {
    expect(check({ name: ' 张三 ', idCardNumber: ` ${ID.toLowerCase()} `, consent: true })).toEqual({
      ok: true,
      value: { name: '张三', idCardNumber: ID, consent: true },
    });
    for (const consent of [undefined, false, 'true', 1]) {
      expect(check({ name: '张三', idCardNumber: ID, consent })).toEqual({ ok: false, code: 'CONSENT_REQUIRED' });
    }
  });

  it.each([
    [{ idCardNumber: ID }, 'NAME_REQUIRED'],
    [{ name: 42, idCardNumber: ID }, 'NAME_REQUIRED'],
    [{ name: '张', idCardNumber: ID }, 'NAME_INVALID'],
    [{ name: '张三' }, 'ID_REQUIRED'],
    [{ name: '张三', idCardNumber: ['x'] }, 'ID_REQUIRED'],
    [{ name: '张三', idCardNumber: '440106900101123' }, 'ID_15_DIGIT'],
    [{ name: '张三', idCardNumber: ID.slice(0, 17) + (ID.endsWith('X') ? '0' : 'X') }, 'ID_CHECKSUM'],
  ])('refuses %p with %s', (raw, code) => {
    expect(check({ ...raw, consent: true })).toEqual({ ok: false, code });
  });
});

describe('face.confirm', () => {
  const check = checkerOf('face', 'confirm');

  it('takes a well-formed credential of either generation, the second-generation one first', () => {
    expect(check({ verifyId: 'verify-id-123' })).toEqual({ ok: true, value: { verifyId: 'verify-id-123' } });
    expect(check({ verifyResult: 'result-123456' })).toEqual({ ok: true, value: { verifyResult: 'result-123456' } });
    expect(check({ verifyId: 'verify-id-123', verifyResult: 'result-123456' })).toEqual({
      ok: true,
      value: { verifyId: 'verify-id-123' },
    });
  });

  it.each([
    {},
    { verifyId: 'short' },
    { verifyId: 'a'.repeat(513) },
    { verifyResult: 'has space 123' },
    { verifyId: 12345678 },
  ])('refuses %p as INVALID_REQUEST', (raw) => {
    expect(check(raw)).toEqual({ ok: false, code: 'INVALID_REQUEST' });
  });
});

describe('realname.fetch', () => {
  const check = checkerOf('realname', 'fetch');

  it('takes an auth_token of 8 to 1024 characters', () => {
    expect(check({ authToken: 'abcdefgh' })).toEqual({ ok: true, value: { authToken: 'abcdefgh' } });
    expect(check({ authToken: 'x'.repeat(1024) })).toMatchObject({ ok: true });
    for (const authToken of [undefined, 'abcdefg', 'x'.repeat(1025), 12345678]) {
      expect(check({ authToken })).toEqual({ ok: false, code: 'INVALID_REQUEST' });
    }
  });
});

describe('roster', () => {
  it('import: only uploads under roster-uploads/; dryRun only when true, sheet only when a non-empty string', () => {
    const check = checkerOf('roster', 'import');
    expect(check({ fileID: UPLOAD })).toEqual({
      ok: true,
      value: { fileID: UPLOAD, dryRun: false, mode: 'merge', acceptConflicts: false },
    });
    expect(check({ fileID: UPLOAD, dryRun: true, sheet: '名单' })).toEqual({
      ok: true,
      value: { fileID: UPLOAD, dryRun: true, mode: 'merge', acceptConflicts: false, sheet: '名单' },
    });
    expect(check({ fileID: UPLOAD, sheet: '' })).toEqual({
      ok: true,
      value: { fileID: UPLOAD, dryRun: false, mode: 'merge', acceptConflicts: false },
    });
    for (const fileID of [
      undefined,
      'roster-uploads/x.xlsx',
      'cloud://env/roster-templates/roster-template.xlsx',
      'cloud://env/roster-uploads/../roster-reports/x.xlsx',
      `cloud://env/roster-uploads/${'a'.repeat(1100)}`,
    ]) {
      expect(check({ fileID })).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
    }
    // Optional fields never stop the request from reaching the service, which deletes the upload.
    expect(check({ fileID: UPLOAD, dryRun: 'yes', sheet: 3, mode: 'REPLACE', acceptConflicts: 'yes' })).toEqual({
      ok: true,
      value: { fileID: UPLOAD, dryRun: false, mode: 'merge', acceptConflicts: false },
    });
    // Replace mode and accepted conflicts only when asked for exactly.
    expect(check({ fileID: UPLOAD, mode: 'replace', acceptConflicts: true })).toEqual({
      ok: true,
      value: { fileID: UPLOAD, dryRun: false, mode: 'replace', acceptConflicts: true },
    });
  });

  it.each(['run', 'status', 'report'] as const)(
    '%s: a job id of 24 hex characters, else ROSTER_JOB_NOT_FOUND',
    (action) => {
      const check = checkerOf('roster', action);
      expect(check({ jobId: '0123456789abcdef01234567' })).toEqual({
        ok: true,
        value: { jobId: '0123456789abcdef01234567' },
      });
      for (const jobId of [undefined, '0123456789ABCDEF01234567', '0123', { $ne: null }]) {
        expect(check({ jobId })).toEqual({ ok: false, code: 'ROSTER_JOB_NOT_FOUND' });
      }
    },
  );

  it('actions without a request accept any event', () => {
    expect(checkerOf('roster', 'template')({ anything: 1 })).toEqual({ ok: true, value: {} });
  });
});

describe('helpers', () => {
  it('isCredential, isJobId, cloudPathOf, isRosterUpload', () => {
    expect(isCredential('abc-DEF_123+/=.~')).toBe(true);
    expect(isCredential('abc<script>')).toBe(false);
    expect(isJobId('f'.repeat(24))).toBe(true);
    expect(isJobId('f'.repeat(25))).toBe(false);
    expect(cloudPathOf(UPLOAD)).toBe('roster-uploads/1700000000000-roster.xlsx');
    expect(cloudPathOf('https://example.com/roster-uploads/x')).toBe('');
    expect(isRosterUpload(UPLOAD)).toBe(true);
    expect(isRosterUpload('cloud://env/roster-uploadsX/x.xlsx')).toBe(false);
  });
});
