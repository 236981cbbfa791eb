/**
 * The part of wx-server-sdk's database API the functions use, typed as the promises it really
 * returns (the SDK's own typings union in callback-style `void | string` results).
 */
import type { DB } from 'wx-server-sdk';

export type Data = Record<string, unknown>;

export interface CloudQuery<T = Data> {
  where(query: object): CloudQuery<T>;
  orderBy(field: string, order: 'asc' | 'desc'): CloudQuery<T>;
  skip(n: number): CloudQuery<T>;
  limit(n: number): CloudQuery<T>;
  field(projection: Record<string, boolean>): CloudQuery<T>;
  get(): Promise<{ data: T[] }>;
  count(): Promise<{ total: number }>;
  update(options: { data: object }): Promise<{ stats: { updated: number } }>;
  remove(): Promise<{ stats: { removed: number } }>;
}

export interface CloudDoc<T = Data> {
  get(): Promise<{ data: T }>;
  set(options: { data: object }): Promise<{ stats: { updated: number; created?: number } }>;
  update(options: { data: object }): Promise<{ stats: { updated: number } }>;
  remove(): Promise<{ stats: { removed: number } }>;
}

export interface CloudCollection<T = Data> extends CloudQuery<T> {
  doc(id: string): CloudDoc<T>;
  add(options: { data: object }): Promise<{ _id: string }>;
}

export interface CloudTransaction {
  collection<T = Data>(name: string): CloudCollection<T>;
  commit(): Promise<unknown>;
  rollback(reason?: unknown): Promise<unknown>;
}

export interface CloudDb {
  collection<T = Data>(name: string): CloudCollection<T>;
  command: DB.Database['command'];
  serverDate(options?: { offset: number }): unknown;
  createCollection(name: string): Promise<unknown>;
  startTransaction(): Promise<CloudTransaction>;
  runTransaction<R>(callback: (transaction: CloudTransaction) => Promise<R>, times?: number): Promise<R>;
}

/** Array insert: undocumented in the typings but part of the SDK (one request for many documents). */
export async function addMany(db: CloudDb, collection: string, docs: object[]): Promise<string[]> {
  if (docs.length === 0) return [];
  const res = (await db.collection(collection).add({ data: docs })) as unknown as { _ids?: string[] };
  return res._ids ?? [];
}

export function typedDb(db: unknown): CloudDb {
  return db as CloudDb;
}

/**
 * Documents a client wrote carry `_openid` (the platform sets it; the server SDK never does). Under
 * the platform's default rules a client may create documents in any collection, so nothing is ever
 * trusted on the strength of one: every query whose answer grants something goes through this.
 */
export function serverWritten<W extends object>(db: CloudDb, where: W): W & { _openid: unknown } {
  return { ...where, _openid: db.command.exists(false) };
}

/** The document was written by a client (it carries `_openid`). */
export function isClientWritten(doc: object | undefined): boolean {
  return doc !== undefined && Object.prototype.hasOwnProperty.call(doc, '_openid');
}

/**
 * Removes the client-written document with this `_id`, if there is one (whatever its `_openid`
 * holds: the filter never trusts the planted value). Server-written documents are never touched.
 */
export async function removeClientWritten(db: CloudDb, collection: string, _id: string): Promise<number> {
  const res = await db
    .collection(collection)
    .where({ _id, _openid: db.command.exists(true) })
    .remove();
  return res.stats.removed;
}
