/**
 * What a mini-program can do to the database and storage without any function: `wx.cloud.database()`
 * and `wx.cloud.downloadFile` / `uploadFile`, as user `openid`, under the permission the environment
 * gives each collection and the storage (sandbox/environment.ts). Documents a client adds get
 * `_openid`, which it can never set, change or remove.
 *
 * Permissions (the platform's tags):
 *   READONLY   all users read, creators write their own      PRIVATE   creators read and write their own
 *   ADMINWRITE all users read, nobody writes                  ADMINONLY nobody reads or writes
 *   CUSTOM     `{ "read": <rule>, "write": <rule> }` where a rule is `true`, `false`, or
 *              `doc._openid == auth.openid` (other expressions are refused: the sandbox fails closed)
 * A query is answered with the documents the caller may read (the platform instead requires the
 * query to name `_openid` where the rule depends on it; the sandbox filters, and says so).
 */
import { DbError, type Database, type Doc } from './db';
import type { Environment, Permission } from './environment';

export const CLIENT_QUERY_LIMIT = 20;

export interface ClientAnswer {
  status: number;
  body: { ok: true; [key: string]: unknown } | { ok: false; code: string; message: string };
}

const denied = (message = 'Permission denied'): ClientAnswer => ({
  status: 200,
  body: { ok: false, code: 'DATABASE_PERMISSION_DENIED', message },
});
const invalid = (message: string): ClientAnswer => ({
  status: 400,
  body: { ok: false, code: 'INVALID_PARAM', message },
});

type Rule = (doc: Record<string, unknown>, openid: string) => boolean;

const OWN: Rule = (doc, openid) => doc._openid === openid;
const ALL: Rule = () => true;
const NONE: Rule = () => false;

/** A CUSTOM rule's expression, or NONE when the sandbox cannot evaluate it (fail closed). */
function expression(value: unknown): Rule {
  if (value === true) return ALL;
  if (value === false || value === undefined) return NONE;
  if (typeof value !== 'string') return NONE;
  const compact = value.replace(/\s+/g, '');
  if (compact === 'true') return ALL;
  if (/^(doc\._openid={2,3}auth\.openid|auth\.openid={2,3}doc\._openid)$/.test(compact)) return OWN;
  return NONE;
}

/** What the caller may read and write under `permission`. */
export function rulesOf(permission: Permission): { read: Rule; write: Rule } {
  switch (permission.acl) {
    case 'READONLY':
      return { read: ALL, write: OWN };
    case 'PRIVATE':
      return { read: OWN, write: OWN };
    case 'ADMINWRITE':
      return { read: ALL, write: NONE };
    case 'ADMINONLY':
      return { read: NONE, write: NONE };
    case 'CUSTOM': {
      let rule: { read?: unknown; write?: unknown } = {};
      try {
        rule = JSON.parse(permission.rule ?? '{}') as typeof rule;
      } catch {
        rule = {};
      }
      return { read: expression(rule.read), write: expression(rule.write) };
    }
  }
}

/** Operators a query sent from a client may not use (the server could be made to run code). */
function unsafeQuery(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(unsafeQuery);
  if (value && typeof value === 'object') {
    return Object.entries(value).some(
      ([key, v]) => ['$where', '$function', '$accumulator', '$expr'].includes(key) || unsafeQuery(v),
    );
  }
  return false;
}

/**
 * The update names `_openid` or `_id`: as a field (top level, dotted, or inside any operator's
 * argument) or as `$rename`'s target. A client may change neither (the owner is the platform's).
 */
function touchesOwner(data: unknown, renaming = false): boolean {
  const owner = (path: string) => ['_openid', '_id'].includes(path.split('.')[0]!);
  if (typeof data === 'string') return renaming && owner(data);
  if (Array.isArray(data)) return data.some((item) => touchesOwner(item, renaming));
  if (!data || typeof data !== 'object') return false;
  return Object.entries(data).some(
    ([key, value]) =>
      owner(key) || (key.startsWith('$') || renaming ? touchesOwner(value, renaming || key === '$rename') : false),
  );
}

export interface ClientRequest {
  collection?: unknown;
  action?: unknown;
  data?: unknown;
  where?: unknown;
  docId?: unknown;
  limit?: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

interface Operation {
  db: Database;
  collection: string;
  rules: { read: Rule; write: Rule };
  openid: string;
  criteria: Record<string, unknown>;
  input: ClientRequest;
}

function add({ db, collection, rules, openid, input }: Operation): ClientAnswer {
  if (!isRecord(input.data) || unsafeQuery(input.data)) return invalid('data must be one plain object');
  const doc = { ...input.data, _openid: openid };
  if (!rules.write(doc, openid)) return denied();
  const [id] = db.insert(collection, [doc]);
  return { status: 200, body: { ok: true, _id: id } };
}

function get({ db, collection, rules, openid, criteria, input }: Operation): ClientAnswer {
  if (rules.read === NONE) return denied();
  const asked = typeof input.limit === 'number' && input.limit > 0 ? input.limit : CLIENT_QUERY_LIMIT;
  const data = db
    .query(collection, criteria, { limit: 1000 })
    .filter((d: Doc) => rules.read(d, openid))
    .slice(0, Math.min(asked, CLIENT_QUERY_LIMIT));
  return { status: 200, body: { ok: true, data } };
}

function change(
  action: 'update' | 'remove',
  { db, collection, rules, openid, criteria, input }: Operation,
): ClientAnswer {
  if (Object.keys(criteria).length === 0) return invalid('update and remove need a docId or a where');
  if (action === 'update' && (!isRecord(input.data) || unsafeQuery(input.data) || touchesOwner(input.data))) {
    return invalid('data must be a plain object that leaves _id and _openid alone');
  }
  const targets = db.query(collection, criteria, { limit: 1000 }).filter((d) => rules.write(d, openid));
  if (targets.length === 0) {
    return rules.write === NONE ? denied() : { status: 200, body: { ok: true, updated: 0, removed: 0 } };
  }
  const ids = { _id: { $in: targets.map((d) => d._id) } };
  if (action === 'remove') return { status: 200, body: { ok: true, removed: db.remove(collection, ids, true) } };
  const { updated } = db.modify(collection, ids, input.data as Record<string, unknown>, {
    multi: true,
    merge: true,
    upsert: false,
  });
  return { status: 200, body: { ok: true, updated } };
}

/** One client database operation as `openid`. */
export function clientDatabase(db: Database, env: Environment, openid: string, input: ClientRequest): ClientAnswer {
  try {
    return clientOperation(db, env, openid, input);
  } catch (err) {
    // What the database refuses (an unsafe field path, a duplicate key) is the client's answer, as the SDK gets it.
    if (err instanceof DbError) {
      return {
        status: err.code === 'INVALID_PARAM' ? 400 : 200,
        body: { ok: false, code: err.code, message: err.message },
      };
    }
    throw err;
  }
}

function clientOperation(db: Database, env: Environment, openid: string, input: ClientRequest): ClientAnswer {
  const { collection, action } = input;
  if (typeof collection !== 'string' || !db.hasCollection(collection)) {
    return {
      status: 200,
      body: { ok: false, code: 'DATABASE_COLLECTION_NOT_EXIST', message: 'collection does not exist' },
    };
  }
  if (input.where !== undefined && (!isRecord(input.where) || unsafeQuery(input.where))) {
    return invalid('where must be a plain query object');
  }
  const criteria: Record<string, unknown> = {
    ...((input.where as Record<string, unknown> | undefined) ?? {}),
    ...(typeof input.docId === 'string' ? { _id: input.docId } : {}),
  };
  const operation: Operation = {
    db,
    collection,
    rules: rulesOf(env.collectionPermission(collection)),
    openid,
    criteria,
    input,
  };
  if (action === 'add') return add(operation);
  if (action === 'get') return get(operation);
  if (action === 'update' || action === 'remove') return change(action, operation);
  return invalid('action must be add, get, update or remove');
}

/** May `openid` read (download) a file owned by `owner` (undefined: written by the server side)? */
export function mayReadFile(permission: Permission, owner: string | undefined, openid: string): boolean {
  return rulesOf(permission).read({ _openid: owner }, openid);
}

/** May `openid` write (upload over) a path now owned by `owner` (undefined for a new file)? */
export function mayWriteFile(
  permission: Permission,
  owner: string | undefined,
  openid: string,
  exists: boolean,
): boolean {
  return rulesOf(permission).write({ _openid: exists ? owner : openid }, openid);
}
