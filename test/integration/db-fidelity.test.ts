/**
 * Fidelity of the sandbox database for what the functions send: one test per query and update
 * operator they use (server/: equality, _.lt, _.in, _.exists, orderBy/limit/field, _.inc, _.remove,
 * set), and regular expressions as the cloud answers them (db.RegExp options i, m, s:
 * https://developers.weixin.qq.com/miniprogram/dev/wxcloud/reference-sdk-api/database/Database.RegExp.html).
 * Every call goes through the real wx-server-sdk over HTTP.
 */
import type { Sandbox } from '../../sandbox';
import { typedDb, type CloudDb } from '../../server/lib/cloud-db';
import { freshSandbox, sdkFor } from '../helpers/sandbox';

jest.setTimeout(60_000);

let sandbox: Sandbox;
/** The functions' typed view of the SDK's database, plus db.RegExp. */
type Db = CloudDb & { RegExp(options: { regexp: string; options: string }): unknown };
let db: Db;

const PEOPLE = [
  { _id: 'p1', name: 'Alice', note: 'first line\nsecond line', n: 1, tag: 'a', when: new Date('2026-01-01T00:00:00Z') },
  { _id: 'p2', name: 'alice smith', note: 'Second\nfirst', n: 2, when: new Date('2026-02-01T00:00:00Z') },
  { _id: 'p3', name: 'BOB', note: 'x', n: 3, tag: null, when: new Date('2026-03-01T00:00:00Z') },
  { _id: 'p4', name: 'carol', n: 4, when: new Date('2026-04-01T00:00:00Z'), nested: { k: 'v' } },
];

beforeAll(async () => {
  sandbox = await freshSandbox({ deploy: false });
  db = typedDb(sdkFor(sandbox, 'o_fidelity').database()) as Db;
  await db.createCollection('people');
  await db.collection('people').add({ data: PEOPLE } as never);
});
afterAll(() => sandbox?.stop());

async function ids(where: Record<string, unknown>): Promise<string[]> {
  const res = await db.collection('people').where(where).orderBy('n', 'asc').get();
  return (res.data as Array<{ _id: string }>).map((d) => d._id);
}

describe('regular expressions', () => {
  it('db.RegExp with options "i" matches case-insensitively', async () => {
    expect(await ids({ name: db.RegExp({ regexp: '^alice', options: 'i' }) })).toEqual(['p1', 'p2']);
    expect(await ids({ name: db.RegExp({ regexp: '^alice', options: '' }) })).toEqual(['p2']);
    expect(await ids({ name: db.RegExp({ regexp: 'BOB|CAROL', options: 'i' }) })).toEqual(['p3', 'p4']);
  });

  it('"m" lets ^ and $ match at line breaks; "s" lets . match a newline', async () => {
    expect(await ids({ note: db.RegExp({ regexp: '^second', options: 'i' }) })).toEqual(['p2']);
    expect(await ids({ note: db.RegExp({ regexp: '^second', options: 'im' }) })).toEqual(['p1', 'p2']);
    expect(await ids({ note: db.RegExp({ regexp: 'line.second', options: '' }) })).toEqual([]);
    expect(await ids({ note: db.RegExp({ regexp: 'line.second', options: 's' }) })).toEqual(['p1']);
  });

  it('a native JS RegExp travels the same way, flags included', async () => {
    expect(await ids({ name: /^ALICE$/i })).toEqual(['p1']);
    expect(await ids({ name: /smith/ })).toEqual(['p2']);
  });

  it('counts and updates with a regular expression too', async () => {
    const { total } = await db
      .collection('people')
      .where({ name: db.RegExp({ regexp: 'a', options: 'i' }) })
      .count();
    expect(total).toBe(3);
    const res = await db
      .collection('people')
      .where({ name: db.RegExp({ regexp: '^CAROL$', options: 'i' }) })
      .update({ data: { seen: true } });
    expect(res.stats.updated).toBe(1);
    expect(await ids({ seen: true })).toEqual(['p4']);
  });

  it('refuses an option the cloud does not support, and a pattern that does not compile', async () => {
    await expect(
      db
        .collection('people')
        .where({ name: db.RegExp({ regexp: 'a', options: 'x' }) })
        .get(),
    ).rejects.toThrow(/options support i, m and s only, not x/);
    await expect(
      db
        .collection('people')
        .where({ name: db.RegExp({ regexp: 'a', options: 'g' }) })
        .get(),
    ).rejects.toThrow(/option \[g\] is not supported/);
    await expect(
      db
        .collection('people')
        .where({ name: db.RegExp({ regexp: '(', options: 'i' }) })
        .get(),
    ).rejects.toThrow(/invalid regular expression/);
  });
});

describe('query operators the functions use', () => {
  it('equality, on nested fields too', async () => {
    expect(await ids({ n: 2 })).toEqual(['p2']);
    expect(await ids({ 'nested.k': 'v' })).toEqual(['p4']);
    expect(await ids({ nested: { k: 'v' } })).toEqual(['p4']);
  });

  it('_.lt on numbers and dates', async () => {
    const _ = db.command;
    expect(await ids({ n: _.lt(3) })).toEqual(['p1', 'p2']);
    expect(await ids({ when: _.lt(new Date('2026-02-15T00:00:00Z')) })).toEqual(['p1', 'p2']);
  });

  it('_.in, on _id and on other fields', async () => {
    const _ = db.command;
    expect(await ids({ _id: _.in(['p3', 'p1', 'nope']) })).toEqual(['p1', 'p3']);
    expect(await ids({ n: _.in([4, 2]) })).toEqual(['p2', 'p4']);
    expect(await ids({ _id: _.in([]) })).toEqual([]);
  });

  it('_.exists(true) and _.exists(false): a null value exists', async () => {
    const _ = db.command;
    expect(await ids({ tag: _.exists(true) })).toEqual(['p1', 'p3']);
    expect(await ids({ tag: _.exists(false) })).toEqual(['p2', 'p4']);
  });

  it('orderBy desc, limit and field projection', async () => {
    const res = await db.collection('people').where({}).orderBy('when', 'desc').limit(2).field({ name: true }).get();
    expect(res.data).toEqual([
      { _id: 'p4', name: 'carol' },
      { _id: 'p3', name: 'BOB' },
    ]);
  });
});

describe('update operators the functions use', () => {
  it('_.inc adds to a number, and creates a missing field', async () => {
    const _ = db.command;
    await db
      .collection('people')
      .doc('p1')
      .update({ data: { n: _.inc(10), hits: _.inc(1) } });
    const doc = (await db.collection('people').doc('p1').get()).data as { n: number; hits: number };
    expect([doc.n, doc.hits]).toEqual([11, 1]);
    await db
      .collection('people')
      .doc('p1')
      .update({ data: { n: _.inc(-10) } });
  });

  it('_.remove deletes a field, leaves the others', async () => {
    const _ = db.command;
    await db
      .collection('people')
      .doc('p2')
      .update({ data: { note: _.remove() } });
    const doc = (await db.collection('people').doc('p2').get()).data as Record<string, unknown>;
    expect('note' in doc).toBe(false);
    expect(doc.name).toBe('alice smith');
  });

  it('a plain field in update merges; doc.set replaces the whole document', async () => {
    await db
      .collection('people')
      .doc('p3')
      .update({ data: { 'nested.k': 'w', extra: 1 } });
    let doc = (await db.collection('people').doc('p3').get()).data as Record<string, unknown>;
    expect(doc).toMatchObject({ name: 'BOB', nested: { k: 'w' }, extra: 1 });
    await db
      .collection('people')
      .doc('p3')
      .set({ data: { name: 'BOB2' } });
    doc = (await db.collection('people').doc('p3').get()).data as Record<string, unknown>;
    expect(doc).toEqual({ _id: 'p3', name: 'BOB2' });
  });

  it('where(...).update touches every match; where(...).remove deletes every match', async () => {
    const _ = db.command;
    await db.createCollection('scratch');
    await db.collection('scratch').add({ data: [{ k: 1 }, { k: 2 }, { k: 3 }] } as never);
    const updated = await db
      .collection('scratch')
      .where({ k: _.lt(3) })
      .update({ data: { flag: true } });
    expect(updated.stats.updated).toBe(2);
    const removed = await db.collection('scratch').where({ flag: true }).remove();
    expect(removed.stats.removed).toBe(2);
    expect((await db.collection('scratch').where({}).get()).data).toHaveLength(1);
  });
});
