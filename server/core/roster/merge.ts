/**
 * What an imported row does to the person already stored under its ID: pure, no storage.
 *
 * - merge (the default): a field the file has and the row fills replaces the stored value; a
 *   column absent from the file, or an empty cell, keeps what is stored;
 * - replace: every column the file has is taken as written, an empty cell clearing the stored
 *   value; columns absent from the file still keep what is stored (a file with fewer columns
 *   never clears the others);
 * - a row whose ID is stored under another name is a conflict: it is not applied unless the admin
 *   accepted conflicts for the job (then the row is applied as above, name included).
 */
import type { RosterImportMode } from '../../../miniprogram/shared/contracts';
import type { RosterField } from './columns';
import type { RosterRecord } from './validate';

/** A person as stored (what the roster's encrypted field holds): a validated row without its row number. */
export type RosterPerson = Omit<RosterRecord, 'row'>;

/** The optional fields, in the order they are stored and hashed. */
export const OPTIONAL_FIELDS = ['phone', 'department', 'employeeNo', 'note', 'startDate'] as const;

export type MergeOutcome = { kind: 'conflict' } | { kind: 'write'; person: RosterPerson };

/** The person a record makes of what is stored (`undefined`: nobody yet). */
export function mergePerson(
  stored: RosterPerson | undefined,
  record: RosterRecord,
  options: { fields: readonly RosterField[]; mode: RosterImportMode; acceptConflicts: boolean },
): MergeOutcome {
  if (stored && stored.name !== record.name && !options.acceptConflicts) return { kind: 'conflict' };
  const person: RosterPerson = { ...(stored ?? {}), name: record.name, idCard: record.idCard };
  for (const field of OPTIONAL_FIELDS) {
    const value = record[field];
    if (value !== undefined && value !== '') person[field] = value;
    else if (options.mode === 'replace' && options.fields.includes(field)) delete person[field];
  }
  return { kind: 'write', person: canonical(person) };
}

/** The person with its fields in one order and no empty ones (so equal people hash equal). */
export function canonical(person: RosterPerson): RosterPerson {
  const out: RosterPerson = { name: person.name, idCard: person.idCard };
  for (const field of OPTIONAL_FIELDS) {
    const value = person[field];
    if (value !== undefined && value !== '') out[field] = value;
  }
  return out;
}

/** The content a row hash is computed from: every field, in order, '' when absent. */
export function contentOf(person: RosterPerson): string {
  return JSON.stringify([person.name, person.idCard, ...OPTIONAL_FIELDS.map((f) => person[f] ?? '')]);
}
