/**
 * The sandbox's document database: MongoDB semantics from `mingo` (queries, projection, sort,
 * update operators) and `bson` EJSON (the wire format wx-server-sdk speaks), with the cloud's
 * rules layered on top: collections must exist before use, `_id` is unique, so is every key of a
 * unique index (created through the management API, as a deploy does), reads default to 100 and
 * cap at 1000 documents, transactions are server-side and conflict-checked.
 *
 * Durability: every acknowledged write is appended to a journal (`db.jsonl`) and fsync'ed before
 * the answer goes out; on start the journal is replayed, then compacted.
 */
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import { BSONRegExp, EJSON } from 'bson';
import { find, update as applyUpdate } from 'mingo';

export type Doc = Record<string, unknown> & { _id: string };

export class DbError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** A secondary index as the management API describes it (only uniqueness is enforced). */
export interface IndexSpec {
  name: string;
  keys: Record<string, 1 | -1>;
  unique: boolean;
}

type JournalEntry =
  | { op: 'create'; c: string }
  | { op: 'drop'; c: string }
  | { op: 'index'; c: string; index: IndexSpec }
  | { op: 'dropIndex'; c: string; name: string }
  | { op: 'put'; c: string; d: string }
  | { op: 'del'; c: string; id: string };

interface Collection {
  docs: Map<string, Doc>;
  versions: Map<string, number>;
  indexes: IndexSpec[];
}

/** Copy-on-write view of a transaction: its own writes (null = deleted) and the versions it saw. */
interface Transaction {
  writes: Map<string, Map<string, Doc | null>>;
  seen: Map<string, number>;
}

export interface QueryOptions {
  order?: Record<string, 1 | -1>;
  offset?: number;
  limit?: number;
  projection?: Record<string, unknown>;
}

/**
 * A deep copy made of this module's own `Date`, `RegExp`, `Array` and `Object`. `structuredClone`
 * makes its copies in Node's main realm, which differs from this module's wherever the sandbox is
 * loaded into a `vm` context (jest's test environments): there a copied Date fails mingo's
 * `instanceof Date`, and mingo then compares two such dates by `toString()`, which has whole
 * seconds, so dates of the same second sorted as equal (in write order, not by time). Other
 * values (typed arrays, Maps, ...) still go through `structuredClone`.
 */
function clone<T>(value: T): T {
  return copyValue(value) as T;
}

function copyValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyValue);
  const tag = Object.prototype.toString.call(value);
  if (tag === '[object Date]') return new Date((value as Date).getTime());
  if (tag === '[object RegExp]') return new RegExp((value as RegExp).source, (value as RegExp).flags);
  if (tag === '[object Object]') {
    // Own enumerable properties into a plain object, as structuredClone copies any object.
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, copyValue(v)]));
  }
  return structuredClone(value);
}

export class Database {
  private collections = new Map<string, Collection>();
  private transactions = new Map<string, Transaction>();
  private journalFd: number | undefined;
  private version = 0;

  constructor(
    dir: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    if (dir) this.load(dir);
  }

  // ------------------------------------------------------------ persistence

  private load(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'db.jsonl');
    if (fs.existsSync(file)) {
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.replay(JSON.parse(line) as JournalEntry);
        } catch {
          // A torn last line from a crash mid-write was never acknowledged: drop it.
        }
      }
    }
    // Compact: rewrite the journal as the current state, atomically.
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    for (const [name, coll] of this.collections) {
      fs.writeSync(fd, JSON.stringify({ op: 'create', c: name }) + '\n');
      for (const index of coll.indexes) fs.writeSync(fd, JSON.stringify({ op: 'index', c: name, index }) + '\n');
      for (const doc of coll.docs.values()) fs.writeSync(fd, JSON.stringify(this.putEntry(name, doc)) + '\n');
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    this.journalFd = fs.openSync(file, 'a');
  }

  private replay(entry: JournalEntry): void {
    if (entry.op === 'create') this.collections.set(entry.c, { docs: new Map(), versions: new Map(), indexes: [] });
    else if (entry.op === 'drop') this.collections.delete(entry.c);
    else if (entry.op === 'index') {
      const coll = this.coll(entry.c);
      coll.indexes = [...coll.indexes.filter((i) => i.name !== entry.index.name), entry.index];
    } else if (entry.op === 'dropIndex') {
      const coll = this.coll(entry.c);
      coll.indexes = coll.indexes.filter((i) => i.name !== entry.name);
    } else if (entry.op === 'put') {
      const doc = EJSON.parse(entry.d, { relaxed: true }) as Doc;
      this.coll(entry.c).docs.set(doc._id, doc);
    } else this.coll(entry.c).docs.delete(entry.id);
  }

  private putEntry(c: string, doc: Doc): JournalEntry {
    return { op: 'put', c, d: EJSON.stringify(doc, { relaxed: false }) };
  }

  private journal(entries: JournalEntry[]): void {
    if (this.journalFd === undefined || entries.length === 0) return;
    fs.writeSync(this.journalFd, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
    fs.fsyncSync(this.journalFd);
  }

  close(): void {
    if (this.journalFd !== undefined) fs.closeSync(this.journalFd);
    this.journalFd = undefined;
  }

  // ------------------------------------------------------------ values

  /**
   * Replaces `{ $tcb_server_date: { offset } }` (db.serverDate()) with the emulated server time, and
   * a regular expression on the wire (`$regularExpression`: a JS RegExp or db.RegExp) with a RegExp.
   */
  resolveServerDates(value: unknown): unknown {
    if (value instanceof BSONRegExp) return regExpOf(value.pattern, value.options);
    if (Array.isArray(value)) return value.map((v) => this.resolveServerDates(v));
    if (value && typeof value === 'object' && !(value instanceof Date)) {
      const record = value as Record<string, unknown>;
      const marker = record.$tcb_server_date as { offset?: number } | undefined;
      if (marker && Object.keys(record).length === 1) return new Date(this.now() + Number(marker.offset ?? 0));
      return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, this.resolveServerDates(v)]));
    }
    return value;
  }

  parse(ejson: string | undefined): Record<string, unknown> {
    if (!ejson) return {};
    return this.resolveServerDates(EJSON.parse(ejson, { relaxed: true })) as Record<string, unknown>;
  }

  static serialize(doc: unknown): string {
    return EJSON.stringify(doc, { relaxed: false });
  }

  // ------------------------------------------------------------ collections

  private coll(name: string): Collection {
    const coll = this.collections.get(name);
    if (!coll) {
      throw new DbError('DATABASE_COLLECTION_NOT_EXIST', `Db or Table not exist: ${name}. [ResourceNotFound]`);
    }
    return coll;
  }

  hasCollection(name: string): boolean {
    return this.collections.has(name);
  }

  collectionNames(): string[] {
    return [...this.collections.keys()];
  }

  createCollection(name: string): void {
    if (!/^[A-Za-z_][\w-]{0,63}$/.test(name)) throw new DbError('INVALID_PARAM', `invalid collection name: ${name}`);
    if (this.collections.has(name)) {
      throw new DbError('DATABASE_COLLECTION_ALREADY_EXIST', `Table exist: ${name}. [ResourceInUse]`);
    }
    this.collections.set(name, { docs: new Map(), versions: new Map(), indexes: [] });
    this.journal([{ op: 'create', c: name }]);
  }

  indexes(c: string): IndexSpec[] {
    return clone(this.coll(c).indexes);
  }

  /**
   * Adds an index (replacing one of the same name). A unique index over documents that already
   * collide is refused, as the database refuses to build it.
   */
  createIndex(c: string, index: IndexSpec): void {
    const coll = this.coll(c);
    if (index.unique) {
      const seen = new Set<string>();
      for (const doc of coll.docs.values()) {
        const key = indexKey(doc, index);
        if (seen.has(key)) throw duplicateKey(c, index.name, key);
        seen.add(key);
      }
    }
    coll.indexes = [...coll.indexes.filter((i) => i.name !== index.name), clone(index)];
    this.journal([{ op: 'index', c, index }]);
  }

  dropIndex(c: string, name: string): void {
    const coll = this.coll(c);
    coll.indexes = coll.indexes.filter((i) => i.name !== name);
    this.journal([{ op: 'dropIndex', c, name }]);
  }

  /** Refuses `puts` (new versions of documents) when one would share a unique index key with another document. */
  private checkUnique(c: string, puts: Doc[], tx: Transaction | undefined): void {
    const unique = this.coll(c).indexes.filter((i) => i.unique);
    if (unique.length === 0 || puts.length === 0) return;
    const replaced = new Set(puts.map((d) => d._id));
    const others = this.view(c, tx).filter((d) => !replaced.has(d._id));
    for (const index of unique) {
      const taken = new Set(others.map((d) => indexKey(d, index)));
      for (const doc of puts) {
        const key = indexKey(doc, index);
        if (taken.has(key)) throw duplicateKey(c, index.name, key);
        taken.add(key);
      }
    }
  }

  // ------------------------------------------------------------ transactions

  startTransaction(): string {
    const id = crypto.randomBytes(12).toString('hex');
    this.transactions.set(id, { writes: new Map(), seen: new Map() });
    return id;
  }

  private tx(id: string | undefined): Transaction | undefined {
    if (id === undefined) return undefined;
    const tx = this.transactions.get(id);
    if (!tx) throw new DbError('DATABASE_TRANSACTION_FAIL', `transaction ${id} does not exist or has ended`);
    return tx;
  }

  commitTransaction(id: string): void {
    const tx = this.tx(id)!;
    this.transactions.delete(id);
    for (const [key, version] of tx.seen) {
      const [c, docId] = splitKey(key);
      if ((this.collections.get(c)?.versions.get(docId) ?? 0) !== version) {
        throw new DbError(
          'DATABASE_TRANSACTION_CONFLICT',
          'transaction conflict: a document changed since it was read',
        );
      }
    }
    // Unique keys again, against what was committed meanwhile (the writes were checked against
    // the state the transaction saw).
    for (const [c, writes] of tx.writes) {
      const puts = [...writes.values()].filter((doc): doc is Doc => doc !== null);
      this.checkUnique(c, puts, tx);
    }
    const entries: JournalEntry[] = [];
    for (const [c, writes] of tx.writes) {
      for (const [docId, doc] of writes) {
        if (doc) this.putDoc(c, doc, entries);
        else this.deleteDoc(c, docId, entries);
      }
    }
    this.journal(entries);
  }

  abortTransaction(id: string): void {
    this.tx(id);
    this.transactions.delete(id);
  }

  // ------------------------------------------------------------ primitive reads and writes

  private putDoc(c: string, doc: Doc, entries: JournalEntry[]): void {
    const coll = this.coll(c);
    coll.docs.set(doc._id, doc);
    coll.versions.set(doc._id, ++this.version);
    entries.push(this.putEntry(c, doc));
  }

  private deleteDoc(c: string, id: string, entries: JournalEntry[]): void {
    const coll = this.coll(c);
    coll.docs.delete(id);
    coll.versions.set(id, ++this.version);
    entries.push({ op: 'del', c, id });
  }

  /** The documents as a transaction (or the committed state) sees them. */
  private view(c: string, tx: Transaction | undefined): Doc[] {
    const coll = this.coll(c);
    const writes = tx?.writes.get(c);
    if (!writes || writes.size === 0) return [...coll.docs.values()];
    const merged = new Map(coll.docs);
    for (const [id, doc] of writes) {
      if (doc) merged.set(id, doc);
      else merged.delete(id);
    }
    return [...merged.values()];
  }

  /**
   * The documents a query can match: by `_id` (one, or `$in`) straight from the map, as the real
   * database's primary index would, else every document.
   */
  private candidates(c: string, criteria: Record<string, unknown>, tx: Transaction | undefined): Doc[] {
    refuseUnsafePaths(criteria);
    const id = criteria._id as unknown;
    let ids: unknown[] | undefined;
    if (typeof id === 'string') ids = [id];
    else if (id && typeof id === 'object' && !Array.isArray(id)) {
      const ops = id as Record<string, unknown>;
      if (Object.keys(ops).length === 1 && Array.isArray(ops.$in)) ids = ops.$in;
    }
    if (!ids) return this.view(c, tx);
    const out: Doc[] = [];
    for (const key of new Set(ids.map(String))) {
      const doc = this.lookup(c, key, tx);
      if (doc) out.push(doc);
    }
    return out;
  }

  private lookup(c: string, id: string, tx: Transaction | undefined): Doc | undefined {
    const writes = tx?.writes.get(c);
    if (writes?.has(id)) return writes.get(id) ?? undefined;
    return this.coll(c).docs.get(id);
  }

  private write(c: string, tx: Transaction | undefined, puts: Doc[], dels: string[]): void {
    if (tx) {
      const coll = this.coll(c);
      const writes = tx.writes.get(c) ?? new Map<string, Doc | null>();
      tx.writes.set(c, writes);
      for (const doc of puts) {
        tx.seen.set(`${c}\u0000${doc._id}`, tx.seen.get(`${c}\u0000${doc._id}`) ?? coll.versions.get(doc._id) ?? 0);
        writes.set(doc._id, doc);
      }
      for (const id of dels) {
        tx.seen.set(`${c}\u0000${id}`, tx.seen.get(`${c}\u0000${id}`) ?? coll.versions.get(id) ?? 0);
        writes.set(id, null);
      }
      return;
    }
    const entries: JournalEntry[] = [];
    for (const doc of puts) this.putDoc(c, doc, entries);
    for (const id of dels) this.deleteDoc(c, id, entries);
    this.journal(entries);
  }

  // ------------------------------------------------------------ the operations the SDK sends

  insert(c: string, docs: Record<string, unknown>[], txId?: string): string[] {
    const tx = this.tx(txId);
    const batch = new Set<string>();
    const prepared: Doc[] = [];
    for (const raw of docs) {
      refuseUnsafePaths(raw);
      const id = raw._id === undefined ? newId() : String(raw._id);
      if (batch.has(id) || this.lookup(c, id, tx)) {
        throw new DbError(
          'DATABASE_DUPLICATE_KEY',
          `E11000 duplicate key error collection: ${c} index: _id_ dup key: { _id: "${id}" }`,
        );
      }
      batch.add(id);
      prepared.push({ ...clone(raw), _id: id });
    }
    // All or nothing: a duplicate anywhere in the batch writes none of it.
    this.checkUnique(c, prepared, tx);
    this.write(c, tx, prepared, []);
    return prepared.map((d) => d._id);
  }

  query(c: string, criteria: Record<string, unknown>, options: QueryOptions = {}, txId?: string): Doc[] {
    const tx = this.tx(txId);
    refuseUnsafePaths([options.projection, options.order]);
    let cursor = find<Doc>(
      this.candidates(c, criteria, tx),
      criteria,
      options.projection && Object.keys(options.projection).length ? options.projection : undefined,
    );
    if (options.order && Object.keys(options.order).length) cursor = cursor.sort(options.order);
    const limit = Math.min(options.limit && options.limit > 0 ? options.limit : DEFAULT_LIMIT, MAX_LIMIT);
    cursor = cursor.skip(options.offset ?? 0).limit(limit);
    const docs = cursor.all().map((d) => clone(d));
    if (tx) for (const d of docs) tx.seen.set(`${c}\u0000${d._id}`, this.coll(c).versions.get(d._id) ?? 0);
    return docs;
  }

  count(c: string, criteria: Record<string, unknown>): number {
    return find(this.candidates(c, criteria, undefined), criteria).count();
  }

  /** `update` with operators (merge) or a replacement document (`set`). */
  modify(
    c: string,
    criteria: Record<string, unknown>,
    data: Record<string, unknown>,
    options: { multi: boolean; merge: boolean; upsert: boolean },
    txId?: string,
  ): { updated: number; upsertId?: string } {
    const tx = this.tx(txId);
    refuseUnsafePaths(data);
    const matches = find<Doc>(this.candidates(c, criteria, tx), criteria).all();
    const targets = options.multi ? matches : matches.slice(0, 1);
    const puts: Doc[] = [];
    for (const doc of targets) {
      puts.push(options.merge ? updated(doc, data) : { ...clone(stripOperators(data)), _id: doc._id });
    }
    if (targets.length === 0 && options.upsert) {
      const id = typeof criteria._id === 'string' ? criteria._id : newId();
      const base: Doc = { _id: id };
      const doc = options.merge ? updated(base, data) : { ...clone(stripOperators(data)), _id: id };
      this.checkUnique(c, [doc], tx);
      this.write(c, tx, [doc], []);
      return { updated: 0, upsertId: id };
    }
    this.checkUnique(c, puts, tx);
    this.write(c, tx, puts, []);
    return { updated: puts.length };
  }

  remove(c: string, criteria: Record<string, unknown>, multi: boolean, txId?: string): number {
    const tx = this.tx(txId);
    const matches = find<Doc>(this.candidates(c, criteria, tx), criteria).all();
    const targets = multi ? matches : matches.slice(0, 1);
    this.write(
      c,
      tx,
      [],
      targets.map((d) => d._id),
    );
    return targets.length;
  }

  /** Every document of a collection (for tests and the PII scan). */
  dump(c: string): Doc[] {
    return [...this.coll(c).docs.values()].map((d) => clone(d));
  }
}

/** A document's key under an index: its values of the index's fields (a missing field is null, as in MongoDB). */
function indexKey(doc: Record<string, unknown>, index: IndexSpec): string {
  return EJSON.stringify(Object.keys(index.keys).map((field) => fieldValue(doc, field) ?? null));
}

function fieldValue(doc: Record<string, unknown>, field: string): unknown {
  let value: unknown = doc;
  for (const part of field.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function duplicateKey(c: string, index: string, key: string): DbError {
  return new DbError(
    'DATABASE_DUPLICATE_KEY',
    `E11000 duplicate key error collection: ${c} index: ${index} dup key: ${key}`,
  );
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}

const UNSAFE_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Refuses field paths through `__proto__`, `constructor` or `prototype`, in keys (dotted or not) and
 * in `$rename`'s targets: mingo follows them, and a client's update could otherwise change
 * Object.prototype in the sandbox process (whose children inherit its environment).
 */
/**
 * The cloud's regular expression flags (db.RegExp options: i, m, s —
 * https://developers.weixin.qq.com/miniprogram/dev/wxcloud/reference-sdk-api/database/Database.RegExp.html)
 * as a RegExp; any other flag, or a pattern that does not compile, is the caller's error.
 */
export function regExpOf(pattern: string, options: string): RegExp {
  const unknown = [...options].filter((flag) => !'ims'.includes(flag));
  if (unknown.length) {
    throw new DbError('INVALID_PARAM', `regular expression options support i, m and s only, not ${unknown.join('')}`);
  }
  try {
    return new RegExp(pattern, [...new Set(options)].join(''));
  } catch {
    throw new DbError('INVALID_PARAM', `invalid regular expression: ${pattern}`);
  }
}

function refuseUnsafePaths(value: unknown, renaming = false): void {
  const unsafe = (path: string) => path.split('.').some((segment) => UNSAFE_SEGMENTS.has(segment));
  if (typeof value === 'string' && renaming && unsafe(value)) throw unsafePath(value);
  if (Array.isArray(value)) {
    for (const item of value) refuseUnsafePaths(item, renaming);
    return;
  }
  if (!value || typeof value !== 'object' || value instanceof Date) return;
  for (const key of Object.keys(value)) {
    if (unsafe(key)) throw unsafePath(key);
    refuseUnsafePaths((value as Record<string, unknown>)[key], renaming || key === '$rename');
  }
}

function unsafePath(path: string): DbError {
  return new DbError('INVALID_PARAM', `field path not allowed: ${JSON.stringify(path.slice(0, 60))}`);
}

function newId(): string {
  // Like the cloud's: 32 hex characters.
  return crypto.randomBytes(16).toString('hex');
}

function stripOperators(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).filter(([k]) => k !== '_id'));
}

/** Applies MongoDB update operators; plain fields (no operator) are treated as `$set`. */
function updated(doc: Doc, data: Record<string, unknown>): Doc {
  const next = clone(doc);
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (key.startsWith('$')) applyUpdate(next, { [key]: value } as never);
    else if (key !== '_id') plain[key] = value;
  }
  if (Object.keys(plain).length) applyUpdate(next, { $set: plain } as never);
  next._id = doc._id;
  return next;
}
