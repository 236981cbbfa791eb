/**
 * Key rotation, the pure part: what to write for one stored document so that it holds values under
 * the current keys only. No SDK, no I/O (server/lib/key-rotation.ts reads, writes and keeps the
 * progress). See docs/security-privacy.md → 密钥轮换 for the procedure and the reasons below.
 *
 * Every document that holds a ciphertext or a keyed hash records the keys it was written under
 * (`kv`, core/pii.ts `keyVersion`); the rotation visits those whose `kv` is not the current one.
 * - Ciphertexts (`v1.<keyId>.…`) are decrypted with the key ring and encrypted under the current key.
 * - Keyed hashes whose plaintext the document holds (encrypted) are recomputed: ID numbers (roster,
 *   bindings, review requests), openids (`openidEnc`, stored since key rotation exists), file IDs,
 *   access tokens. Each old→new pair is learned, for the hashes that have no plaintext.
 * - Keyed hashes without a plaintext (audit entries, the reviewer of a request, a job's creator and
 *   file hash, ended face sessions) take the new hash learned from live data when there is one;
 *   otherwise (a person who withdrew, a reviewer never verified) an HMAC under the new key of the
 *   old hash (`rekeyed` kind): entries stay grouped with each other, but can no longer be linked to
 *   an ID number or openid, which is what the withdrawal asked for, and no value under the old key
 *   remains.
 * - A holder's own documents whose openid is unknown (written before openids were stored, never
 *   touched since) cannot be re-keyed: they are reported (`unrekeyable`); the holder's next call
 *   stores the openid (bindings), or the operator deletes them (`dropUnrekeyable`).
 * - Transient documents: rate-limit counters under an old key are deleted (after the deploy the
 *   functions count under the new key only, so they no longer limit anything); spent one-time
 *   credentials under an old key are kept until they expire (the functions still refuse them while
 *   the old index key is configured: no replay window), then deleted; a roster import's file lock
 *   under an old key is deleted (it no longer matches a new import of the same file).
 */
import type { DocType } from '../../miniprogram/shared/documents';
import { contentOf, type RosterPerson } from './roster/merge';
import {
  blindIndex,
  blindIndexes,
  decryptField,
  documentIndexes,
  encryptField,
  fieldAad,
  keyIdOf,
  keyVersion,
  PiiDecryptError,
  type BlindIndexKind,
  type PiiKeys,
} from './pii';
import { Refusal } from './errors';

export type Doc = Record<string, unknown> & { _id: string };

/** Old hash → new hash, learned from documents whose plaintext is known. */
export type Learned = [old: string, next: string][];

/** What to do with one document. */
export type Plan =
  /** Update these fields in place (`null`: remove the field). */
  | { kind: 'update'; set: Record<string, unknown | null>; learned: Learned }
  /** Write `doc` under its new `_id`, then delete the old one. */
  | { kind: 'move'; doc: Doc; learned: Learned }
  | { kind: 'delete' }
  /**
   * Left as it is, and why: reported by the rotation. An unrekeyable document may still teach pairs
   * (a binding whose holder is unknown holds the number: the audit's entries about it stay linked).
   */
  | { kind: 'skip'; reason: 'unrekeyable' | 'waiting' | 'unreadable'; until?: number; learned?: Learned };

/** What the planner needs besides the document: the keys, learned hashes, the time. */
export interface PlanContext {
  keys: PiiKeys;
  /** New hash of an old one, learned earlier in this rotation. */
  mapped: (old: string) => string | undefined;
  now: number;
}

/**
 * The rotation's collections, in the order it visits them. Live data first: it teaches the map. A
 * hash without plaintext whose pair is not known by the time its document is visited is re-keyed
 * for good (`rekeyHash`: an HMAC of the old one), so every collection that can teach a pair comes
 * before every one that consumes it that way: a face session's holder (from bindings, consents,
 * requests), a request's reviewer (from their bindings and consents), a job's creator, the audit.
 * A holder that is unknown where it is needed is only skipped (`unrekeyable`) and looked at again
 * in the next pass, which follows any pass that changed something (a binding whose openid only its
 * holder's face session holds).
 */
export const ROTATION_ORDER = [
  'roster',
  'consents',
  'bindings',
  'review_requests',
  'face_sessions',
  'pending_cleanup',
  'wx_access_tokens',
  'roster_jobs',
  'audit_log',
  'rate_limits',
  'used_tokens',
] as const;
export type RotatedCollection = (typeof ROTATION_ORDER)[number];

/**
 * A ciphertext under a key id the key ring does not hold, or hashes under an index key id that is
 * neither current nor listed as old: the rotation cannot go on without it.
 */
export class RotationKeyMissing extends Refusal {
  constructor(
    readonly keyId: string,
    kind: 'enc' | 'index' = 'enc',
  ) {
    super(
      'ROTATION_KEY_MISSING',
      kind === 'enc'
        ? `有数据使用密钥 ${keyId} 加密，但当前配置中没有该密钥：请把它列入 PII_ENC_KEYS_OLD 后重试`
        : `有数据的哈希由索引密钥 ${keyId} 计算，但当前配置中没有该密钥：请把它列入 PII_INDEX_KEYS_OLD 后重试`,
    );
  }
}

/** A ciphertext under the current key (the same one when it already is). */
function reencrypt(keys: PiiKeys, value: unknown, oldAad: string, newAad = oldAad): string {
  const keyId = keyIdOf(value);
  if (keyId === undefined) throw new PiiDecryptError();
  if (!keys.encKeys.has(keyId)) throw new RotationKeyMissing(keyId);
  if (keyId === keys.encKeyId && oldAad === newAad) return value as string;
  return encryptField(keys, decryptField(keys, value as string, oldAad), newAad);
}

function decrypt(keys: PiiKeys, value: unknown, aad: string): string {
  const keyId = keyIdOf(value);
  if (keyId === undefined) throw new PiiDecryptError();
  if (!keys.encKeys.has(keyId)) throw new RotationKeyMissing(keyId);
  return decryptField(keys, value as string, aad);
}

/** Whether a keyed hash without plaintext in this document is already under the current index key. */
function indexCurrent(keys: PiiKeys, doc: Doc): boolean {
  const kv = typeof doc.kv === 'string' && doc.kv.includes('.') ? doc.kv : undefined;
  const id = kv?.slice(kv.indexOf('.') + 1);
  // An index key changed without its old one listed: stamping these hashes current would leave
  // them under a key nobody holds (found by nothing), so the rotation stops and says which.
  if (id !== undefined && id !== keys.indexKeyId && !keys.oldIndexKeys.has(id)) {
    throw new RotationKeyMissing(id, 'index');
  }
  if (keys.oldIndexKeys.size === 0) return true; // only the encryption key rotates
  return id === keys.indexKeyId;
}

/** A keyed hash without plaintext: learned, or re-keyed as an HMAC of the old one (see the header). */
export function rekeyHash(ctx: PlanContext, doc: Doc, old: unknown): unknown {
  if (typeof old !== 'string' || old === '' || indexCurrent(ctx.keys, doc)) return old;
  return ctx.mapped(old) ?? blindIndex(ctx.keys, 'rekeyed', old);
}

/** The old→new pairs of a plaintext's hash under every old index key. */
function learn(keys: PiiKeys, kind: BlindIndexKind, value: string): Learned {
  return pairs(blindIndexes(keys, kind, value));
}

function learnDocument(keys: PiiKeys, number: string, docType: DocType): Learned {
  return pairs(documentIndexes(keys, number, docType));
}

/** Indexes current key first (blindIndexes, documentIndexes) as old→new pairs. */
function pairs([next, ...olds]: string[]): Learned {
  return olds.map((old) => [old, next!]);
}

/** The holder's openid hash: from the stored openid, else learned; undefined when neither (unrekeyable). */
function holderHash(ctx: PlanContext, doc: Doc, openidAad: string) {
  if (typeof doc.openidEnc === 'string') {
    const openid = decrypt(ctx.keys, doc.openidEnc, openidAad);
    return { hash: blindIndex(ctx.keys, 'openid', openid), openid, learned: learn(ctx.keys, 'openid', openid) };
  }
  if (indexCurrent(ctx.keys, doc)) return { hash: String(doc.openidHash), learned: [] as Learned };
  const mapped = ctx.mapped(String(doc.openidHash));
  return mapped === undefined ? undefined : { hash: mapped, learned: [] as Learned };
}

const UNREKEYABLE = { kind: 'skip', reason: 'unrekeyable' } as const;

/** Unrekeyable (holder unknown), but the number it holds still teaches its old→new pairs. */
function unrekeyable(learned: Learned): Plan {
  return learned.length ? { ...UNREKEYABLE, learned } : UNREKEYABLE;
}

type Planner = (doc: Doc, ctx: PlanContext) => Plan;

const PLANNERS: { readonly [C in RotatedCollection]: Planner } = {
  roster: (doc, { keys }) => {
    const aad = (id: string) => fieldAad('roster', id, 'pii');
    const person = JSON.parse(decrypt(keys, doc.piiEnc, aad(doc._id))) as RosterPerson;
    const _id = blindIndex(keys, 'idCard', person.idCard);
    const fields = {
      rowHash: blindIndex(keys, 'rosterRow2', contentOf(person)),
      piiEnc: encryptField(keys, JSON.stringify(person), aad(_id)),
      kv: keyVersion(keys),
    };
    const learned = learn(keys, 'idCard', person.idCard);
    return _id === doc._id
      ? { kind: 'update', set: fields, learned }
      : { kind: 'move', doc: { ...doc, ...fields, _id }, learned };
  },

  review_requests: (doc, ctx) => {
    const { keys } = ctx;
    const aad = (field: string) => fieldAad('review_requests', doc._id, field);
    const docType = doc.docType as DocType;
    const number = decrypt(keys, doc.numberEnc, aad('number'));
    const holder = holderHash(ctx, doc, aad('openid'));
    if (!holder) return unrekeyable(learnDocument(keys, number, docType));
    return {
      kind: 'update',
      set: {
        openidHash: holder.hash,
        ...(doc.pendingKey === doc.openidHash ? { pendingKey: holder.hash } : {}),
        ...(doc.openidEnc === undefined ? {} : { openidEnc: reencrypt(keys, doc.openidEnc, aad('openid')) }),
        nameEnc: reencrypt(keys, doc.nameEnc, aad('name')),
        numberEnc: reencrypt(keys, doc.numberEnc, aad('number')),
        ...(doc.reasonEnc === undefined ? {} : { reasonEnc: reencrypt(keys, doc.reasonEnc, aad('reason')) }),
        numberIndex: documentIndexes(keys, number, docType)[0],
        ...(doc.deciderHash === undefined ? {} : { deciderHash: rekeyHash(ctx, doc, doc.deciderHash) }),
        kv: keyVersion(keys),
      },
      learned: [...holder.learned, ...learnDocument(keys, number, docType)],
    };
  },

  consents: (doc, ctx) => {
    const aad = fieldAad('consents', doc._id, 'openid');
    const holder = holderHash(ctx, doc, aad);
    if (!holder) return UNREKEYABLE;
    return {
      kind: 'update',
      set: {
        openidHash: holder.hash,
        ...(doc.openidEnc === undefined ? {} : { openidEnc: reencrypt(ctx.keys, doc.openidEnc, aad) }),
        kv: keyVersion(ctx.keys),
      },
      learned: holder.learned,
    };
  },

  face_sessions: (doc, ctx) => {
    const { keys } = ctx;
    const aad = (field: string) => fieldAad('face_sessions', doc._id, field);
    // A session is short-lived: one whose holder is unknown is re-keyed like a record (a pending one
    // then no longer matches its holder, who starts again).
    const holder = holderHash(ctx, doc, aad('openid')) ?? { hash: rekeyHash(ctx, doc, doc.openidHash), learned: [] };
    const idCard = typeof doc.idEnc === 'string' ? decrypt(keys, doc.idEnc, aad('idCard')) : undefined;
    return {
      kind: 'update',
      set: {
        openidHash: holder.hash,
        ...(doc.openidEnc === undefined ? {} : { openidEnc: reencrypt(keys, doc.openidEnc, aad('openid')) }),
        ...(doc.nameEnc === undefined ? {} : { nameEnc: reencrypt(keys, doc.nameEnc, aad('name')) }),
        ...(doc.idEnc === undefined ? {} : { idEnc: reencrypt(keys, doc.idEnc, aad('idCard')) }),
        kv: keyVersion(keys),
      },
      learned: [...holder.learned, ...(idCard === undefined ? [] : learn(keys, 'idCard', idCard))],
    };
  },

  bindings: (doc, ctx) => {
    const { keys } = ctx;
    const aad = (id: string, field: string) => fieldAad('bindings', id, field);
    const docType = (doc.docType as DocType | undefined) ?? 'id_card';
    const number = decrypt(keys, doc.idEnc, aad(doc._id, 'idCard'));
    const holder = holderHash(ctx, doc, aad(doc._id, 'openid'));
    // Its holder unknown (written before openids were stored), its number is not: the audit's
    // entries about this person are still found by ID number after the rotation.
    if (!holder) return unrekeyable(learnDocument(keys, number, docType));
    const _id = `${String(doc.method)}_${holder.hash}`;
    const fields = {
      openidHash: holder.hash,
      ...(doc.openidEnc === undefined
        ? {}
        : { openidEnc: reencrypt(keys, doc.openidEnc, aad(doc._id, 'openid'), aad(_id, 'openid')) }),
      nameEnc: reencrypt(keys, doc.nameEnc, aad(doc._id, 'name'), aad(_id, 'name')),
      idEnc: reencrypt(keys, doc.idEnc, aad(doc._id, 'idCard'), aad(_id, 'idCard')),
      idIndex: documentIndexes(keys, number, docType)[0],
      kv: keyVersion(keys),
    };
    const learned = [...holder.learned, ...learnDocument(keys, number, docType)];
    return _id === doc._id
      ? { kind: 'update', set: fields, learned }
      : { kind: 'move', doc: { ...doc, ...fields, _id }, learned };
  },

  pending_cleanup: (doc, { keys }) => {
    const aad = (id: string) => fieldAad('pending_cleanup', id, 'fileID');
    // Records of before file IDs were encrypted name theirs in plain: encrypted now.
    const fileID =
      doc.fileIDEnc === undefined && typeof doc.fileID === 'string'
        ? doc.fileID
        : decrypt(keys, doc.fileIDEnc, aad(doc._id));
    const _id = blindIndex(keys, 'pendingCleanup', fileID);
    const fields = { fileIDEnc: encryptField(keys, fileID, aad(_id)), kv: keyVersion(keys) };
    if (_id !== doc._id) {
      const { fileID: _plain, ...rest } = doc;
      return { kind: 'move', doc: { ...rest, ...fields, _id }, learned: [] };
    }
    return { kind: 'update', set: { ...fields, ...(doc.fileID === undefined ? {} : { fileID: null }) }, learned: [] };
  },

  wx_access_tokens: (doc, { keys }) => {
    const aad = fieldAad('wx_access_tokens', doc._id, 'token');
    let token: string;
    try {
      token = decrypt(keys, doc.tokenEnc, aad);
    } catch (err) {
      if (err instanceof RotationKeyMissing || err instanceof PiiDecryptError) return { kind: 'delete' }; // a cache: refetched
      throw err;
    }
    return {
      kind: 'update',
      set: {
        tokenEnc: encryptField(keys, token, aad),
        tokenHash: blindIndex(keys, 'accessToken', token),
        kv: keyVersion(keys),
      },
      learned: [],
    };
  },

  roster_jobs: (doc, ctx) => {
    const { keys } = ctx;
    if (doc.kind === 'lock')
      return indexCurrent(keys, doc)
        ? { kind: 'update', set: { kv: keyVersion(keys) }, learned: [] }
        : { kind: 'delete' };
    const aad = (field: string) => fieldAad('roster_jobs', doc._id, field);
    return {
      kind: 'update',
      set: {
        ...(doc.fileIDEnc === undefined ? {} : { fileIDEnc: reencrypt(keys, doc.fileIDEnc, aad('fileID')) }),
        ...(doc.reportFileIDEnc === undefined
          ? {}
          : { reportFileIDEnc: reencrypt(keys, doc.reportFileIDEnc, aad('reportFileID')) }),
        ...(doc.chunkPathEnc === undefined
          ? {}
          : { chunkPathEnc: reencrypt(keys, doc.chunkPathEnc, aad('chunkPath')) }),
        ...(doc.fileHash === undefined ? {} : { fileHash: rekeyHash(ctx, doc, doc.fileHash) }),
        ...(doc.createdBy === undefined ? {} : { createdBy: rekeyHash(ctx, doc, doc.createdBy) }),
        kv: keyVersion(keys),
      },
      learned: [],
    };
  },

  audit_log: (doc, ctx) => ({
    kind: 'update',
    set: {
      actorHash: rekeyHash(ctx, doc, doc.actorHash),
      // One subject, or several (a withdrawal of bindings naming different numbers).
      ...(doc.subjectIndex === undefined
        ? {}
        : {
            subjectIndex: Array.isArray(doc.subjectIndex)
              ? doc.subjectIndex.map((s: unknown) => rekeyHash(ctx, doc, s))
              : rekeyHash(ctx, doc, doc.subjectIndex),
          }),
      kv: keyVersion(ctx.keys),
    },
    learned: [],
  }),

  rate_limits: (doc, { keys }) =>
    indexCurrent(keys, doc) ? { kind: 'update', set: { kv: keyVersion(keys) }, learned: [] } : { kind: 'delete' },

  used_tokens: (doc, { keys, now }) => {
    if (indexCurrent(keys, doc)) return { kind: 'update', set: { kv: keyVersion(keys) }, learned: [] };
    const until = new Date(doc.expiresAt as string | Date).getTime();
    return Number.isFinite(until) && until > now ? { kind: 'skip', reason: 'waiting', until } : { kind: 'delete' };
  },
};

/**
 * The plan for one document of `collection`. A ciphertext under a key the ring lacks throws
 * `RotationKeyMissing` (→ ROTATION_KEY_MISSING); one that does not decrypt (tampered) is skipped as
 * `unreadable` and reported, never guessed at.
 */
export function planRekey(collection: RotatedCollection, doc: Doc, ctx: PlanContext): Plan {
  try {
    return PLANNERS[collection](doc, ctx);
  } catch (err) {
    if (err instanceof PiiDecryptError || err instanceof SyntaxError) return { kind: 'skip', reason: 'unreadable' };
    throw err;
  }
}
