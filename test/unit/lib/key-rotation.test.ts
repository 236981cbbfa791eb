/**
 * The key rotation service's slicing (server/lib/key-rotation.ts) on an in-memory stand-in for the
 * SDK's database (the real one is exercised against the sandbox in
 * test/integration/key-rotation*.test.ts): the deadline is checked before every document, a slice
 * that stops inside a page resumes right after the last document it handled, and a slice that dies
 * mid-page loses at most the documents since its last checkpoint, none of them written twice.
 */
import crypto from 'crypto';
import { blindIndex, type PiiKeys } from '../../../server/core/pii';
import type { Doc, Plan, RotatedCollection } from '../../../server/core/key-rotation';
import type { CloudDb } from '../../../server/lib/cloud-db';
import { KeyRotation } from '../../../server/lib/key-rotation';
import { loadPiiKeys } from '../../../server/lib/settings';

type Row = Record<string, unknown> & { _id: string };
interface Cond {
  $op: 'neq' | 'gt' | 'lt' | 'in' | 'exists' | 'remove';
  v?: unknown;
}
const isCond = (v: unknown): v is Cond => typeof v === 'object' && v !== null && '$op' in v;

function matches(row: Row, where: Record<string, unknown>): boolean {
  return Object.entries(where).every(([field, want]) => {
    const has = Object.prototype.hasOwnProperty.call(row, field);
    const value = row[field];
    if (!isCond(want)) return has && value === want;
    switch (want.$op) {
      case 'neq':
        return value !== want.v;
      case 'gt':
        return has && String(value) > String(want.v);
      case 'lt':
        return has && Number(value) < Number(want.v);
      case 'in':
        return has && (want.v as unknown[]).includes(value);
      case 'exists':
        return has === want.v;
      default:
        throw new Error(`unexpected condition ${want.$op}`);
    }
  });
}

/** Just the database calls the rotation service makes, over plain arrays (one per collection). */
function memoryDb() {
  const data = new Map<string, Row[]>();
  /** The process died: every call fails (the status cannot be saved on the way out either). */
  const life = { dead: false };
  const rows = (c: string) => {
    if (life.dead) throw new Error('the slice was killed');
    return data.get(c) ?? data.set(c, []).get(c)!;
  };
  const applyData = (row: Row, update: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(update)) {
      if (isCond(v) && v.$op === 'remove') delete row[k];
      else row[k] = v;
    }
  };
  const query = (c: string, where: Record<string, unknown> = {}, order = false, limit = Infinity) => ({
    where: (w: Record<string, unknown>) => query(c, w, order, limit),
    orderBy: () => query(c, where, true, limit),
    limit: (n: number) => query(c, where, order, n),
    async get() {
      let found = rows(c).filter((r) => matches(r, where));
      if (order) found = [...found].sort((a, b) => (a._id < b._id ? -1 : 1));
      return { data: found.slice(0, limit).map((r) => structuredClone(r)) };
    },
    async update({ data: update }: { data: Record<string, unknown> }) {
      const found = rows(c).filter((r) => matches(r, where));
      for (const r of found) applyData(r, update);
      return { stats: { updated: found.length } };
    },
    async remove() {
      const before = rows(c).length;
      data.set(
        c,
        rows(c).filter((r) => !matches(r, where)),
      );
      return { stats: { removed: before - rows(c).length } };
    },
  });
  const db = {
    command: {
      neq: (v: unknown) => ({ $op: 'neq', v }),
      gt: (v: unknown) => ({ $op: 'gt', v }),
      lt: (v: unknown) => ({ $op: 'lt', v }),
      in: (v: unknown) => ({ $op: 'in', v }),
      exists: (v: unknown) => ({ $op: 'exists', v }),
      remove: () => ({ $op: 'remove' }),
    },
    collection: (c: string) => ({
      ...query(c),
      doc: (id: string) => ({
        async set({ data: fields }: { data: Record<string, unknown> }) {
          data.set(c, [...rows(c).filter((r) => r._id !== id), { ...structuredClone(fields), _id: id }]);
          return { stats: { updated: 1 } };
        },
      }),
      async add({ data: fields }: { data: Row }) {
        if (rows(c).some((r) => r._id === fields._id)) throw new Error('duplicate _id');
        rows(c).push(structuredClone(fields));
        return { _id: fields._id };
      },
    }),
  };
  return { db: db as unknown as CloudDb, rows, life };
}

const key = () => crypto.randomBytes(32).toString('base64');
const OLD = { enc: key(), index: key() };
const before = loadPiiKeys({ PII_ENC_KEY: OLD.enc, PII_INDEX_KEY: OLD.index });
const during: PiiKeys = loadPiiKeys({
  PII_ENC_KEY: key(),
  PII_ENC_KEY_ID: 'k2',
  PII_ENC_KEYS_OLD: `k1:${OLD.enc}`,
  PII_INDEX_KEY: key(),
  PII_INDEX_KEY_ID: 'i2',
  PII_INDEX_KEYS_OLD: `i1:${OLD.index}`,
});

/** `n` audit entries under the old keys (re-keyed in place: the simplest documents the rotation has). */
function seeded(n: number) {
  const mem = memoryDb();
  for (let i = 0; i < n; i += 1) {
    mem.rows('audit_log').push({
      _id: `a${String(i).padStart(4, '0')}`,
      actorHash: blindIndex(before, 'openid', `o_${i}`),
      kv: 'k1.i1',
    });
  }
  return mem;
}

/** The service, counting the writes that took effect per document; optionally dying at the `dieAt`-th. */
class Counted extends KeyRotation {
  readonly writes = new Map<string, number>();
  dieAt = Infinity;
  constructor(private readonly mem: ReturnType<typeof memoryDb>) {
    super(mem.db, during);
  }
  protected override async apply(c: RotatedCollection, doc: Doc, plan: Exclude<Plan, { kind: 'skip' }>) {
    if (this.writes.size + 1 === this.dieAt) this.mem.life.dead = true;
    const done = await super.apply(c, doc, plan);
    if (done) this.writes.set(doc._id, (this.writes.get(doc._id) ?? 0) + 1);
    return done;
  }
}

const status = (mem: ReturnType<typeof memoryDb>) => mem.rows('key_rotation').find((r) => r._id === 'status')!;

describe('KeyRotation slices', () => {
  it('checks the deadline before every document and resumes right after the last one handled', async () => {
    const mem = seeded(25);
    const rotation = new Counted(mem);
    const handled: number[] = [];
    let state = 'running';
    for (let i = 0; i < 100 && state === 'running'; i += 1) {
      // One step per look at the clock: the slice's loop looks once, then once per document.
      let now = 0;
      const writes = rotation.writes.size;
      state = (await rotation.run({ deadline: 6, clock: () => now++ })).state;
      handled.push(rotation.writes.size - writes);
      if (rotation.writes.size < 25 && handled[handled.length - 1]! > 0) {
        // Saved: the cursor is the last document written, inside the 200-document page.
        expect(status(mem).cursor).toBe([...rotation.writes.keys()].pop());
      }
    }
    expect(state).toBe('done');
    // 25 documents, one page, at most 4 per slice (the page itself never outran the deadline).
    expect(handled.filter((h) => h > 0).length).toBeGreaterThanOrEqual(7);
    expect(Math.max(...handled)).toBeLessThanOrEqual(4);
    expect(rotation.writes.size).toBe(25);
    expect([...rotation.writes.values()].every((n) => n === 1)).toBe(true);
    expect(mem.rows('audit_log').every((r) => r.kv === 'k2.i2')).toBe(true);
  });

  it('a slice killed mid-page keeps the progress of its last checkpoint; the next one writes nothing twice', async () => {
    const mem = seeded(120);
    const rotation = new Counted(mem);
    rotation.dieAt = 71;
    await expect(rotation.run({ deadline: Date.now() + 600_000 })).rejects.toThrow('killed');
    mem.life.dead = false;
    // Checkpointed after 50 documents (the 20 written since carry the new keys and are not visited again).
    expect(status(mem)).toMatchObject({ cursor: 'a0049', rekeyed: 50 });
    // Its lease runs out (a minute later); the next slice takes over.
    status(mem).leaseUntil = 0;
    rotation.dieAt = Infinity;
    expect(await rotation.run({ deadline: Date.now() + 600_000 })).toMatchObject({ state: 'done' });
    expect(rotation.writes.size).toBe(120);
    expect([...rotation.writes.values()].every((n) => n === 1)).toBe(true);
    expect(mem.rows('audit_log').every((r) => r.kv === 'k2.i2')).toBe(true);
  });

  it('an upgrade mid-rotation keeps the pairs learned without a target and restarts a pass under the new order', async () => {
    const mem = seeded(3);
    // As an earlier version left it: in the middle of a pass under another collection order, with a
    // pair learned before pairs named their target (its source document already re-keyed, never visited again).
    const oldHash = blindIndex(before, 'openid', 'o_0');
    const newHash = blindIndex(during, 'openid', 'o_0');
    mem
      .rows('key_rotation')
      .push(
        { _id: 'status', kind: 'status', target: 'k2.i2', state: 'running', phase: 1, cursor: 'zzz', pass: 1 },
        { _id: `map_${oldHash}`, kind: 'map', to: newHash },
      );
    for (const k of [
      'passChanged',
      'rekeyed',
      'removed',
      'unrekeyable',
      'waiting',
      'unreadable',
      'waitUntil',
      'leaseUntil',
    ])
      status(mem)[k] = 0;
    const mapIds = mem
      .rows('key_rotation')
      .filter((r) => r.kind === 'map')
      .map((r) => r._id);
    expect(mapIds.every((id) => id.startsWith('map_'))).toBe(true);
    expect(await new Counted(mem).run({ deadline: Date.now() + 600_000 })).toMatchObject({ state: 'done' });
    // The audit entry of o_0 is mapped by the untagged pair (not made unlinkable), the others too.
    const entry = mem.rows('audit_log').find((r) => r._id === 'a0000')!;
    expect(entry.actorHash).toBe(newHash);
  });

  it('an instance that does not hold the running rotation’s target refuses and leaves its pairs alone', async () => {
    const mem = seeded(3);
    const oldHash = blindIndex(before, 'openid', 'o_0');
    await new Counted(mem).run({ deadline: Date.now() + 600_000, limit: 1 });
    mem.rows('key_rotation').push({ _id: `map_${oldHash}`, kind: 'map', to: 'x', target: 'k2.i2' });
    status(mem).leaseUntil = 0;
    // Still deployed with the keys before the rotation: k2/i2 are unknown to it.
    const stale = new KeyRotation(mem.db, before);
    await expect(stale.run({ deadline: Date.now() + 600_000 })).rejects.toMatchObject({ code: 'ROTATION_KEY_MISSING' });
    expect(status(mem)).toMatchObject({ target: 'k2.i2', leaseUntil: 0 });
    expect(mem.rows('key_rotation').filter((r) => r.kind === 'map')).toHaveLength(1);
  });
});
