/** A roster document as stored: `_id` is the ID number's blind index, every field encrypted together. */
import type { RosterPerson } from '../core/roster/merge';
import { fieldAad } from '../core/pii';
import { COLLECTION } from '../manifest';

/** What `piiEnc` holds once decrypted (every field of a person, core/roster/merge.ts). */
export type RosterPii = RosterPerson;

/** The additional data binding a roster ciphertext to its document. */
export function rosterAad(id: string): string {
  return fieldAad(COLLECTION.roster, id, 'pii');
}
