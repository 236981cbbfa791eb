/** A roster document as stored: `_id` is the ID number's blind index, every field encrypted together. */
import { COLLECTION } from '../manifest';

/** What `piiEnc` holds once decrypted. */
export interface RosterPii {
  name: string;
  idCard: string;
  phone?: string;
  department?: string;
  employeeNo?: string;
  note?: string;
  startDate?: string;
}

/** The additional data binding a roster ciphertext to its document. */
export function rosterAad(id: string): string {
  return `${COLLECTION.roster}:${id}:pii`;
}
