/**
 * Dates in the sandbox database keep their milliseconds through every copy, however the sandbox is
 * loaded. Under jest the sandbox runs in a `vm` context whose `Date` is not Node's main one; copies
 * made with `structuredClone` (Node's realm) failed mingo's `instanceof Date`, and mingo then
 * compared them by `toString()` (whole seconds): two dates of the same second sorted as equal.
 */
import { Database } from '../../../sandbox/db';

const SECOND = Date.UTC(2026, 0, 2, 3, 4, 5);

function withDates(): Database {
  const db = new Database(undefined, () => SECOND + 900);
  db.createCollection('events');
  // Written oldest first, all within one second.
  db.insert('events', [
    { _id: 'a', at: new Date(SECOND + 100) },
    { _id: 'b', at: new Date(SECOND + 400) },
    { _id: 'c', at: new Date(SECOND + 700) },
  ]);
  return db;
}

describe('sandbox database dates', () => {
  it('sorts dates of the same second by their milliseconds, both ways', () => {
    const db = withDates();
    expect(db.query('events', {}, { order: { at: -1 } }).map((d) => d._id)).toEqual(['c', 'b', 'a']);
    expect(db.query('events', {}, { order: { at: 1 } }).map((d) => d._id)).toEqual(['a', 'b', 'c']);
  });

  it('compares dates of the same second by their milliseconds in queries', () => {
    const db = withDates();
    expect(db.query('events', { at: { $gt: new Date(SECOND + 400) } }).map((d) => d._id)).toEqual(['c']);
    expect(db.query('events', { at: new Date(SECOND + 400) }).map((d) => d._id)).toEqual(['b']);
  });

  it('answers and stores Dates of its own realm, updated ones and server dates included', () => {
    const db = withDates();
    db.modify(
      'events',
      { _id: 'a' },
      { $set: { at: new Date(SECOND + 800) } },
      { multi: false, merge: true, upsert: false },
    );
    db.insert('events', [db.parse('{"_id":"d","at":{"$tcb_server_date":{"offset":50}}}') as { _id: string }]);
    const docs = db.query('events', {}, { order: { at: -1 } });
    expect(docs.map((d) => d._id)).toEqual(['d', 'a', 'c', 'b']);
    for (const doc of [...docs, ...db.dump('events')]) {
      expect(doc.at).toBeInstanceOf(Date);
    }
    expect((docs[0]!.at as Date).getTime()).toBe(SECOND + 950);
  });
});
