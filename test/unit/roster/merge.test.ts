import { canonical, contentOf, mergePerson, type RosterPerson } from '../../../server/core/roster/merge';
import type { RosterRecord } from '../../../server/core/roster/validate';

const stored: RosterPerson = {
  name: '王伟',
  idCard: '110101196001010003',
  phone: '13000000000',
  department: '内科',
  employeeNo: 'E000001',
  note: '老员工',
};
const row = (fields: Partial<RosterRecord>): RosterRecord => ({
  row: 2,
  name: '王伟',
  idCard: stored.idCard,
  ...fields,
});

describe('mergePerson', () => {
  it('merge: absent columns and empty cells keep the stored values; filled cells replace them', () => {
    const outcome = mergePerson(stored, row({ phone: '13900000000' }), {
      fields: ['name', 'idCard', 'phone', 'department'],
      mode: 'merge',
      acceptConflicts: false,
    });
    expect(outcome).toEqual({ kind: 'write', person: { ...stored, phone: '13900000000' } });
  });

  it('replace: an empty cell in a column the file has clears; columns absent from the file are kept', () => {
    const outcome = mergePerson(stored, row({ phone: '13900000000' }), {
      fields: ['name', 'idCard', 'phone', 'department'],
      mode: 'replace',
      acceptConflicts: false,
    });
    expect(outcome).toEqual({
      kind: 'write',
      person: { name: '王伟', idCard: stored.idCard, phone: '13900000000', employeeNo: 'E000001', note: '老员工' },
    });
  });

  it('another name under the same ID is a conflict unless accepted', () => {
    const options = { fields: ['name', 'idCard'] as const, mode: 'merge' as const };
    expect(mergePerson(stored, row({ name: '王伟伟' }), { ...options, acceptConflicts: false })).toEqual({
      kind: 'conflict',
    });
    expect(mergePerson(stored, row({ name: '王伟伟' }), { ...options, acceptConflicts: true })).toEqual({
      kind: 'write',
      person: { ...stored, name: '王伟伟' },
    });
  });

  it('a new person is the row itself; equal people have equal content whatever the field order', () => {
    const outcome = mergePerson(undefined, row({ department: '外科', phone: '' }), {
      fields: ['name', 'idCard', 'department'],
      mode: 'replace',
      acceptConflicts: false,
    });
    expect(outcome).toEqual({ kind: 'write', person: { name: '王伟', idCard: stored.idCard, department: '外科' } });
    const shuffled = { note: stored.note, employeeNo: stored.employeeNo, ...stored } as RosterPerson;
    expect(contentOf(canonical(shuffled))).toBe(contentOf(stored));
  });
});
