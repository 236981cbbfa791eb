/**
 * Key rotation, the database part: visits every collection in core/key-rotation.ts's order, a page
 * at a time, and re-keys each document whose `kv` is not the current keys' (core/key-rotation.ts
 * decides what to write). The deadline is checked before every document, so a page never outruns a
 * short deployed timeout. Progress lives in `key_rotation` (one status document: target keys,
 * collection, cursor = the last document handled, counts), saved when the slice stops and every
 * CHECKPOINT documents, so a call that runs out of time, or dies, is continued by the next one
 * right after the last document handled: one already re-keyed carries the current `kv` and is not
 * visited again; one whose `_id` changes is written under the new `_id` before the old one is
 * deleted, so a crash between the two leaves a copy the next call removes, never a loss.
 *
 * A pass that re-keyed anything is followed by another (documents written with old values while it
 * ran, e.g. by a function instance still on the old configuration, are caught); the rotation is
 * `done` when a whole pass finds nothing left under an old key, and only then are the learned
 * old→new hashes deleted. Each learned pair names the target keys it maps to: pairs of another
 * target (a rotation abandoned for other keys) are never used, and are deleted when a rotation to
 * new keys starts. A status lease keeps two calls from working at once.
 */
import { ROTATION_ORDER, planRekey, type Doc, type Plan, type RotatedCollection } from '../core/key-rotation';
import { Refusal } from '../core/errors';
import { keyVersion, type PiiKeys } from '../core/pii';
import type { AdminRotationStatus } from '../../miniprogram/shared/contracts';
import { COLLECTION } from '../manifest';
import { serverWritten, type CloudDb } from './cloud-db';

const STATUS_ID = 'status';
const MAP_PREFIX = 'map_';
/** Documents read per request (the server SDK's maximum is 1000). */
const PAGE = 200;
/** Progress is saved after this many documents inside a page too (a slice killed mid-page loses no more). */
const CHECKPOINT = 50;
/** Values per `in` query. */
const IN_CHUNK = 100;
/** Fields that may hold a keyed hash without plaintext (looked up among the learned ones). */
const HASH_FIELDS = ['openidHash', 'deciderHash', 'actorHash', 'subjectIndex', 'fileHash', 'createdBy'] as const;

interface StatusDoc {
  _id: typeof STATUS_ID;
  kind: 'status';
  target: string;
  state: AdminRotationStatus['state'];
  /** Index into ROTATION_ORDER of the collection in progress (its length: the pass is over). */
  phase: number;
  /** The ROTATION_ORDER `phase` counts in (a status saved under another order starts a new pass). */
  order?: string;
  cursor: string;
  pass: number;
  /** Documents re-keyed or removed in this pass (another pass follows when not 0). */
  passChanged: number;
  rekeyed: number;
  removed: number;
  unrekeyable: number;
  waiting: number;
  unreadable: number;
  waitUntil: number;
  leaseUntil: number;
  updatedAt: Date;
}

export interface RotationRun {
  /** No document is started after this time (ms, by `clock`). */
  deadline: number;
  /** The time (ms) the deadline is checked against before every document (default Date.now). */
  clock?: () => number;
  /** Documents to visit at most in this call. */
  limit?: number;
  dropUnrekeyable?: boolean;
}

/** What `phase` means: the collections in their order. */
const ORDER = ROTATION_ORDER.join(',');

function freshStatus(target: string): StatusDoc {
  return {
    _id: STATUS_ID,
    kind: 'status',
    target,
    state: 'idle',
    phase: 0,
    order: ORDER,
    cursor: '',
    pass: 0,
    passChanged: 0,
    rekeyed: 0,
    removed: 0,
    unrekeyable: 0,
    waiting: 0,
    unreadable: 0,
    waitUntil: 0,
    leaseUntil: 0,
    updatedAt: new Date(),
  };
}

function nextStep(st: StatusDoc): string {
  switch (st.state) {
    case 'idle':
      return '尚未开始：设置新密钥（旧密钥列入 PII_ENC_KEYS_OLD / PII_INDEX_KEYS_OLD）并部署后，调用 rotateKeys。';
    case 'running':
      return '尚未完成：请再次调用 rotateKeys（npm run rotate-keys 会自动继续），直到状态为 done。';
    case 'done':
      return '轮换完成：数据库中已没有旧密钥下的值。现在可以删除 PII_ENC_KEYS_OLD 和 PII_INDEX_KEYS_OLD 并重新部署。';
    default:
      return [
        '尚有数据留在旧密钥下，暂不能删除旧密钥：',
        st.waiting
          ? `${st.waiting} 个已使用的一次性凭证到期后（${new Date(st.waitUntil).toISOString()}）再运行一次；`
          : '',
        st.unrekeyable
          ? `${st.unrekeyable} 个文档写于保存 openid 之前且持有人此后未再访问：等待其访问，或以 dropUnrekeyable 删除（这些人需重新认证）；`
          : '',
        st.unreadable ? `${st.unreadable} 个文档无法解密（可能被篡改），请人工检查；` : '',
      ].join('');
  }
}

export class KeyRotation {
  private readonly target: string;
  /** Pairs stored without a target (by a version before targets) belong to this rotation. */
  private untaggedAreOurs = false;

  constructor(
    private readonly db: CloudDb,
    private readonly keys: PiiKeys,
  ) {
    this.target = keyVersion(keys);
  }

  private async read(): Promise<StatusDoc | undefined> {
    const res = await this.db
      .collection<StatusDoc>(COLLECTION.keyRotation)
      .where(serverWritten(this.db, { _id: STATUS_ID }))
      .limit(1)
      .get();
    return res.data[0];
  }

  /** Where the rotation to the current keys stands (`idle` when it was never run for them). */
  async status(): Promise<AdminRotationStatus> {
    const stored = await this.read();
    return this.view(stored && stored.target === this.target ? stored : freshStatus(this.target));
  }

  private view(st: StatusDoc): AdminRotationStatus {
    return {
      state: st.state,
      target: st.target,
      ...(st.state === 'running' && st.phase < ROTATION_ORDER.length ? { collection: ROTATION_ORDER[st.phase] } : {}),
      rekeyed: st.rekeyed,
      removed: st.removed,
      unrekeyable: st.unrekeyable,
      waiting: st.waiting,
      unreadable: st.unreadable,
      ...(st.waiting ? { waitUntil: new Date(st.waitUntil).toISOString() } : {}),
      next: nextStep(st),
    };
  }

  /** Takes the lease (ROTATION_BUSY when another call holds it); a new target starts afresh. */
  private async acquire(leaseUntil: number): Promise<StatusDoc> {
    const { db } = this;
    const _ = db.command;
    const col = db.collection(COLLECTION.keyRotation);
    const stored = await this.read();
    if (!stored) {
      const st = { ...freshStatus(this.target), leaseUntil };
      try {
        await col.add({ data: st });
      } catch {
        throw new Refusal('ROTATION_BUSY');
      }
      return st;
    }
    const taken = await col.where({ _id: STATUS_ID, leaseUntil: _.lt(Date.now()) }).update({ data: { leaseUntil } });
    if (taken.stats.updated !== 1) throw new Refusal('ROTATION_BUSY');
    if (stored.target !== this.target) {
      // A rotation to keys this instance has as old ones was abandoned for these (its learned pairs
      // name their target and are ignored; the end of this rotation deletes them). A target it does
      // not know at all means this instance is the one out of date: it must not reset the rotation.
      if (!this.knowsAsOld(stored.target)) {
        await col.where({ _id: STATUS_ID }).update({ data: { leaseUntil: 0 } });
        throw new Refusal(
          'ROTATION_KEY_MISSING',
          '正在进行的密钥轮换使用的密钥不在本函数的配置中：请先把同一组密钥部署到所有函数再运行',
        );
      }
      return { ...freshStatus(this.target), leaseUntil };
    }
    this.untaggedAreOurs = true;
    // A finished (or blocked) rotation run again, or one saved under another collection order (an
    // upgrade): a new pass from the start checks that nothing is left (re-keyed documents are skipped).
    if (stored.state !== 'running' || stored.order !== ORDER) return { ...stored, ...this.newPass(stored), leaseUntil };
    return { ...stored, leaseUntil };
  }

  /** `target` (`<encKeyId>.<indexKeyId>`) names keys this instance holds (current or old). */
  private knowsAsOld(target: string): boolean {
    const [enc = '', index = ''] = target.split('.');
    return this.keys.encKeys.has(enc) && (index === this.keys.indexKeyId || this.keys.oldIndexKeys.has(index));
  }

  private newPass(st: StatusDoc): Partial<StatusDoc> {
    return {
      state: 'running',
      phase: 0,
      order: ORDER,
      cursor: '',
      pass: st.pass + 1,
      passChanged: 0,
      unrekeyable: 0,
      waiting: 0,
      unreadable: 0,
      waitUntil: 0,
    };
  }

  private async save(st: StatusDoc): Promise<void> {
    const { _id, ...fields } = st;
    await this.db
      .collection(COLLECTION.keyRotation)
      .doc(_id)
      .set({ data: { ...fields, updatedAt: new Date() } });
  }

  /** Re-keys until done, the deadline or the limit; answers where it stands. */
  async run(options: RotationRun): Promise<AdminRotationStatus> {
    const clock = options.clock ?? Date.now;
    // The lease (real time) outlasts the slice by a minute.
    let st = await this.acquire(Date.now() + Math.max(0, options.deadline - clock()) + 60_000);
    if (st.state === 'idle') st = { ...st, ...this.newPass(st) };
    try {
      let visited = 0;
      while (clock() < options.deadline && (options.limit === undefined || visited < options.limit)) {
        if (st.phase >= ROTATION_ORDER.length) {
          if (st.passChanged > 0) {
            st = { ...st, ...this.newPass(st) };
            continue;
          }
          st.state = st.unrekeyable + st.waiting + st.unreadable === 0 ? 'done' : 'blocked';
          if (st.state === 'done') await this.forgetLearned();
          break;
        }
        const size = Math.min(PAGE, options.limit === undefined ? PAGE : options.limit - visited);
        const collection = ROTATION_ORDER[st.phase]!;
        const page = await this.page(collection, st, size);
        const handled = await this.rekeyPage(collection, page, st, {
          drop: options.dropUnrekeyable === true,
          more: () => clock() < options.deadline,
        });
        visited += handled;
        // The deadline came inside the page: the next call resumes right after the last one handled.
        if (handled < page.length) break;
        if (page.length < size) {
          st.phase += 1;
          st.cursor = '';
        }
        await this.save(st);
      }
    } finally {
      st.leaseUntil = 0;
      await this.save(st);
    }
    return this.view(st);
  }

  private async page(collection: RotatedCollection, st: StatusDoc, size: number): Promise<Doc[]> {
    const _ = this.db.command;
    const where = { kv: _.neq(st.target), ...(st.cursor ? { _id: _.gt(st.cursor) } : {}) };
    const res = await this.db
      .collection<Doc>(collection)
      .where(serverWritten(this.db, where))
      .orderBy('_id', 'asc')
      .limit(size)
      .get();
    return res.data;
  }

  /**
   * Re-keys `docs` in order while `more()` allows, moving the cursor past each one handled (saved
   * every CHECKPOINT documents); answers how many were handled.
   */
  private async rekeyPage(
    collection: RotatedCollection,
    docs: Doc[],
    st: StatusDoc,
    options: { drop: boolean; more: () => boolean },
  ): Promise<number> {
    const learned = await this.learnedFor(docs);
    let handled = 0;
    for (const doc of docs) {
      if (!options.more()) break;
      await this.rekey(collection, doc, st, learned, options.drop);
      st.cursor = doc._id;
      handled += 1;
      if (handled % CHECKPOINT === 0 && handled < docs.length) await this.save(st);
    }
    return handled;
  }

  /** One document: planned, its pairs learned (also for the rest of the page), applied, counted. */
  private async rekey(
    collection: RotatedCollection,
    doc: Doc,
    st: StatusDoc,
    learned: Map<string, string>,
    drop: boolean,
  ): Promise<void> {
    let plan: Plan = planRekey(collection, doc, {
      keys: this.keys,
      mapped: (old) => learned.get(old),
      now: Date.now(),
    });
    const pairs = plan.kind === 'delete' ? [] : (plan.learned ?? []);
    if (pairs.length) {
      await this.learn(pairs);
      for (const [old, next] of pairs) learned.set(old, next);
    }
    if (plan.kind === 'skip' && plan.reason === 'unrekeyable' && drop) plan = { kind: 'delete' };
    if (plan.kind === 'skip') {
      st[plan.reason] += 1;
      if (plan.until !== undefined) st.waitUntil = Math.max(st.waitUntil, plan.until);
      return;
    }
    // Changed or gone since this page was read (a withdrawal, a closed session): nothing written;
    // counted as a change so that another pass looks at it again.
    if (await this.apply(collection, doc, plan)) {
      if (plan.kind === 'delete') st.removed += 1;
      else st.rekeyed += 1;
    }
    st.passChanged += 1;
  }

  /**
   * Applies `plan` to `doc` only while `doc` is still as this page read it: its keys (`kv`) and
   * every ciphertext field (`…Enc`) unchanged. A page takes a while; meanwhile a holder may
   * withdraw (the document is deleted) or a session close (its name and number removed), and a
   * write from the stale read must not bring either back. Answers whether it applied.
   */
  protected async apply(
    collection: RotatedCollection,
    doc: Doc,
    plan: Exclude<Plan, { kind: 'skip' }>,
  ): Promise<boolean> {
    const col = this.db.collection(collection);
    const _ = this.db.command;
    const asRead = unchangedSince(doc, plan.kind === 'update' ? Object.keys(plan.set) : [], _);
    if (plan.kind === 'delete') {
      return (await col.where(asRead).remove()).stats.removed === 1;
    }
    if (plan.kind === 'update') {
      const data = Object.fromEntries(Object.entries(plan.set).map(([k, v]) => [k, v === null ? _.remove() : v]));
      return (await col.where(asRead).update({ data })).stats.updated === 1;
    }
    // New before old: a crash in between leaves the old one, which the next call finds and removes.
    const { _id, _openid: _planted, ...fields } = plan.doc;
    const held = (await col.where({ _id }).limit(1).get()).data[0];
    // Written under the current keys meanwhile (the person verified again, a new import): it is newer.
    const write = !held || held.kv !== this.target;
    if (write) await col.doc(_id).set({ data: fields });
    if ((await col.where(asRead).remove()).stats.removed === 1) return true;
    // The old one changed or went meanwhile (withdrawn): the copy just written must not outlive it.
    if (write) await col.where({ _id, kv: this.target }).remove();
    return false;
  }

  /** The learned new hashes of the hash fields of `docs`. */
  private async learnedFor(docs: readonly Doc[]): Promise<Map<string, string>> {
    const values = [
      ...new Set(
        docs.flatMap((d) =>
          HASH_FIELDS.flatMap((f) => ([] as unknown[]).concat(d[f])).filter(
            (v): v is string => typeof v === 'string' && v !== '',
          ),
        ),
      ),
    ];
    const learned = new Map<string, string>();
    const _ = this.db.command;
    for (let i = 0; i < values.length; i += IN_CHUNK) {
      const ids = values.slice(i, i + IN_CHUNK).map((v) => MAP_PREFIX + v);
      const res = await this.db
        .collection<{ _id: string; to: string; target?: string }>(COLLECTION.keyRotation)
        .where(serverWritten(this.db, { _id: _.in(ids) }))
        .limit(IN_CHUNK)
        .get();
      // A pair learned for other keys (an abandoned rotation) maps to a hash nobody will look for.
      for (const m of res.data) {
        const ours = m.target === this.target || (m.target === undefined && this.untaggedAreOurs);
        if (ours) learned.set(m._id.slice(MAP_PREFIX.length), m.to);
      }
    }
    return learned;
  }

  private async learn(pairs: readonly [string, string][]): Promise<void> {
    for (const [old, next] of pairs) {
      await this.db
        .collection(COLLECTION.keyRotation)
        .doc(MAP_PREFIX + old)
        .set({ data: { kind: 'map', to: next, target: this.target } });
    }
  }

  /** The old hashes go once nothing needs them (done), or when a rotation to other keys starts. */
  private async forgetLearned(): Promise<void> {
    await this.db.collection(COLLECTION.keyRotation).where({ kind: 'map' }).remove();
  }
}

/**
 * The condition "as read": same `_id`, same keys (`kv`, or none), same ciphertexts (every `…Enc`
 * field read, and none of those `also` names that was absent).
 */
function unchangedSince(doc: Doc, also: readonly string[], _: CloudDb['command']): Record<string, unknown> {
  const where: Record<string, unknown> = { _id: doc._id, kv: doc.kv === undefined ? _.exists(false) : doc.kv };
  for (const [field, value] of Object.entries(doc)) {
    if (field.endsWith('Enc') && typeof value === 'string') where[field] = value;
  }
  for (const field of also) {
    if (field.endsWith('Enc') && !(field in where)) where[field] = _.exists(false);
  }
  return where;
}
