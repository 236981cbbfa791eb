/** The request checkers: every action's raw event → its typed request or the code of what is wrong. */
import { ACCESS, ACTIONS, FUNCTION_NAMES } from '../../../miniprogram/shared/contracts';
import { makeIdCard } from '../../../miniprogram/shared/idcard';
import { noticeVersion } from '../../../miniprogram/shared/consent';
import {
  auditRange,
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
    const version = noticeVersion('face');
    expect(
      check({ name: ' 张三 ', idCardNumber: ` ${ID.toLowerCase()} `, consent: true, noticeVersion: version }),
    ).toEqual({
      ok: true,
      value: { name: '张三', idCardNumber: ID, consent: true, noticeVersion: version },
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
    expect(check({ ...raw, consent: true, noticeVersion: noticeVersion('face') })).toEqual({ ok: false, code });
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
    const noticeVersionOk = noticeVersion('wxpay');
    expect(check({ authToken: 'abcdefgh', noticeVersion: noticeVersionOk })).toEqual({
      ok: true,
      value: { authToken: 'abcdefgh', noticeVersion: noticeVersionOk },
    });
    expect(check({ authToken: 'x'.repeat(1024), noticeVersion: noticeVersionOk })).toMatchObject({ ok: true });
    expect(check({ authToken: 'abcdefgh' })).toEqual({ ok: false, code: 'CONSENT_OUTDATED' });
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

describe('auditRange (admin.audit)', () => {
  const now = new Date('2026-12-02T08:00:00Z');
  it('defaults to the 30 days before now, and to 30 days before `to`', () => {
    expect(auditRange(undefined, undefined, now)).toEqual({
      from: '2026-11-02T08:00:00.000Z',
      to: '2026-12-02T08:00:00.000Z',
    });
    expect(auditRange(undefined, '2026-06-30T00:00:00Z', now)).toEqual({
      from: '2026-05-31T00:00:00.000Z',
      to: '2026-06-30T00:00:00.000Z',
    });
  });
  it.each([
    ['from after to', '2026-02-01', '2026-01-01'],
    ['an empty period', '2026-01-01', '2026-01-01'],
    ['more than 366 days', '2024-01-01', '2026-01-01'],
    ['not a date', 'yesterday', undefined],
    ['not a string', 20260101, undefined],
    ['an overlong string', '2026-01-01'.padEnd(41, ' '), undefined],
    ['the first instant a Date can hold', undefined, '-271821-04-20T00:00:00Z'],
    ['a year past what a Date can print', '+275760-09-13T00:00:00Z', undefined],
  ])('refuses %s', (_label, from, to) => {
    expect(auditRange(from, to, now)).toBeUndefined();
  });
});

describe('identity and admin checkers', () => {
  it('withdraw takes one known method or none', () => {
    expect(checkerOf('identity', 'withdraw')({})).toEqual({ ok: true, value: {} });
    expect(checkerOf('identity', 'withdraw')({ method: 'face' })).toEqual({ ok: true, value: { method: 'face' } });
    expect(checkerOf('identity', 'withdraw')({ method: 'sms' })).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
  });
  it('lookup and audit take a valid ID number (normalised), with the ID’s own code otherwise', () => {
    expect(checkerOf('admin', 'lookup')({ idCardNumber: '11010519491231002x' })).toEqual({
      ok: true,
      value: { idCardNumber: '11010519491231002X' },
    });
    expect(checkerOf('admin', 'lookup')({})).toMatchObject({ ok: false, code: 'ID_REQUIRED' });
    expect(checkerOf('admin', 'audit')({ idCardNumber: '123' })).toMatchObject({ ok: false, code: 'ID_FORMAT' });
    expect(checkerOf('admin', 'audit')({ from: 'x' })).toMatchObject({ ok: false, code: 'AUDIT_RANGE_INVALID' });
  });
  it('audit takes a kind of entry and a page cursor as the previous page answered them, nothing else', () => {
    const audit = checkerOf('admin', 'audit');
    const cursor = `1767225600000.${'0a'.repeat(16)}`;
    expect(audit({ kind: 'withdraw', after: cursor })).toMatchObject({
      ok: true,
      value: { kind: 'withdraw', after: cursor },
    });
    expect(audit({ kind: '', after: '' })).toMatchObject({ ok: true });
    expect((audit({ kind: '', after: '' }) as { value: object }).value).not.toHaveProperty('kind');
    for (const kind of ['gossip', 1, ['verify']]) {
      expect(audit({ kind })).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
    }
    for (const after of ['1.x', cursor.toUpperCase(), `${cursor}0`, '12345678901234567.' + '0'.repeat(32), 5]) {
      expect(audit({ after })).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
    }
  });
  it('only the current notice version is accepted (none stated is refused too)', () => {
    const start = { name: '张三', idCardNumber: '11010519491231002X', consent: true };
    expect(checkerOf('face', 'start')({ ...start, noticeVersion: noticeVersion('face') })).toMatchObject({ ok: true });
    expect(checkerOf('face', 'start')(start)).toMatchObject({ ok: false, code: 'CONSENT_OUTDATED' });
    expect(checkerOf('face', 'start')({ ...start, noticeVersion: noticeVersion('wxcheck') })).toMatchObject({
      ok: false,
      code: 'CONSENT_OUTDATED',
    });
    expect(checkerOf('realname', 'fetch')({ authToken: 'a'.repeat(16), noticeVersion: 'x' })).toMatchObject({
      ok: false,
      code: 'CONSENT_OUTDATED',
    });
  });
});
