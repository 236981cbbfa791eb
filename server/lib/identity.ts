/**
 * The identity binding model shared by every method (face, WeChat Pay authorization, the
 * city-service check, staff review): one document per (openid, method) in `bindings`, name and
 * document number encrypted (AES-256-GCM) with an HMAC blind index of the number for lookups (e.g.
 * "is this person in the roster?", only ever for a mainland ID card). Nothing in a document
 * identifies anyone to a reader without the keys (not even masked values: they are derived when
 * presented), and only masked values ever leave this module.
 */
import { removeClientWritten, serverWritten, type CloudDb } from './cloud-db';
import type { Binding, VerificationMethod } from '../../miniprogram/shared/contracts';
import type { DocType } from '../../miniprogram/shared/documents';
import { maskDocNumber, maskIdCard, maskName } from '../../miniprogram/shared/mask';
import {
  blindIndex,
  blindIndexes,
  decryptField,
  documentIndexes,
  encryptField,
  fieldAad,
  keyVersion,
  type PiiKeys,
} from '../core/pii';
import { COLLECTION } from '../manifest';

/** Who a method verified: the name and the number of a document (a mainland ID card for every WeChat method). */
export interface VerifiedIdentity {
  name: string;
  docType: DocType;
  number: string;
}

/** A mainland ID card holder (what every WeChat method verifies). */
export const idCardHolder = (name: string, idCard: string): VerifiedIdentity => ({
  name,
  docType: 'id_card',
  number: idCard,
});

export interface BindingDoc {
  _id: string;
  openidHash: string;
  /**
   * The openid itself, encrypted (bound to the document): what lets a key rotation recompute
   * `openidHash` and `_id` under a new index key. Absent on bindings written before key rotation
   * existed: the holder's next `list` (any status/mine call) adds it while the old index key is
   * still configured (see docs/security-privacy.md → 密钥轮换).
   */
  openidEnc?: string;
  /** The keys this document was written under (core/pii.ts `keyVersion`). */
  kv?: string;
  method: VerificationMethod;
  /** Absent on bindings written before other documents were accepted: an ID card. */
  docType?: DocType;
  nameEnc: string;
  /** The document's number (the field keeps its first name: every binding was an ID card then). */
  idEnc: string;
  idIndex: string;
  verifiedAt: Date;
}

const BINDINGS = COLLECTION.bindings;
const ROSTER = COLLECTION.roster;

export class IdentityStore {
  constructor(
    private readonly db: CloudDb,
    private readonly keys: PiiKeys,
  ) {}

  openidHash(openid: string): string {
    return blindIndex(this.keys, 'openid', openid);
  }

  /** The openid's hash under the current index key, then under the old ones (during a key rotation). */
  openidHashes(openid: string): string[] {
    return blindIndexes(this.keys, 'openid', openid);
  }

  /** The blind index of a document number: an ID card's is the roster's key; other documents' are kept apart. */
  idIndex(number: string, docType: DocType = 'id_card'): string {
    return this.idIndexes(number, docType)[0]!;
  }

  /** The same under the current index key, then under the old ones (during a key rotation). */
  idIndexes(number: string, docType: DocType = 'id_card'): string[] {
    return documentIndexes(this.keys, number, docType);
  }

  /** Creates or refreshes the caller's binding for `method`. */
  bind(openid: string, method: VerificationMethod, identity: VerifiedIdentity): Promise<Binding> {
    return this.bindHash(this.openidHash(openid), method, identity, openid);
  }

  /**
   * The same for a caller known by the keyed hash of their openid (a reviewer approving someone's
   * request), with the openid when it is known (the request stored it): then the binding is written
   * under the current index key even if the request was not re-keyed yet.
   */
  async bindHash(
    storedHash: string,
    method: VerificationMethod,
    identity: VerifiedIdentity,
    openid?: string,
  ): Promise<Binding> {
    const openidHash = openid === undefined ? storedHash : this.openidHash(openid);
    const _id = `${method}_${openidHash}`;
    const doc: Omit<BindingDoc, '_id'> = {
      openidHash,
      ...(openid === undefined
        ? {}
        : { openidEnc: encryptField(this.keys, openid, fieldAad(BINDINGS, _id, 'openid')) }),
      // Without the openid the hash may be an old index key's: the rotation then sees it as not re-keyed.
      ...(openid === undefined && this.keys.oldIndexKeys.size > 0 ? {} : { kv: keyVersion(this.keys) }),
      method,
      docType: identity.docType,
      nameEnc: encryptField(this.keys, identity.name, fieldAad(BINDINGS, _id, 'name')),
      idEnc: encryptField(this.keys, identity.number, fieldAad(BINDINGS, _id, 'idCard')),
      idIndex: this.idIndex(identity.number, identity.docType),
      verifiedAt: new Date(),
    };
    // A client-written document under this _id (the platform's default rules allow one) goes first:
    // set() must replace it whole, whatever the platform would keep of the client's _openid.
    await removeClientWritten(this.db, BINDINGS, _id);
    await this.db.collection(BINDINGS).doc(_id).set({ data: doc });
    // During a key rotation the same binding may still be stored under an old index key: it is replaced.
    if (openid !== undefined && this.keys.oldIndexKeys.size > 0) {
      const _ = this.db.command;
      const stale = this.openidHashes(openid)
        .slice(1)
        .map((hash) => `${method}_${hash}`);
      await this.db
        .collection(BINDINGS)
        .where({ _id: _.in(stale) })
        .remove();
    }
    const [binding] = await this.present([{ _id, ...doc }]);
    return binding!;
  }

  /**
   * The ID blind indexes (under the current index key) of the holder's bindings of these methods,
   * for the audit of a withdrawal: recomputed from the number, as a binding not yet re-keyed by a
   * rotation holds an old key's index, and the audit entry is written under the current key.
   */
  async indexesOf(openidHashes: readonly string[], methods: readonly VerificationMethod[]): Promise<string[]> {
    const _ = this.db.command;
    const res = await this.db
      .collection(BINDINGS)
      .where(serverWritten(this.db, { openidHash: _.in([...openidHashes]), method: _.in([...methods]) }))
      .field({ idEnc: true, docType: true, idIndex: true })
      .get();
    return (res.data as unknown as BindingDoc[]).map((d) => {
      try {
        return this.idIndex(
          decryptField(this.keys, d.idEnc, fieldAad(BINDINGS, d._id, 'idCard')),
          d.docType ?? 'id_card',
        );
      } catch {
        // Damaged, or under a key no longer configured: the stored index still names it, and the
        // withdrawal it is recorded for must not fail for it.
        return String(d.idIndex);
      }
    });
  }

  /** Deletes the holder's bindings of these methods (planted look-alikes under their hash too). */
  async remove(openidHashes: readonly string[], methods: readonly VerificationMethod[]): Promise<number> {
    const _ = this.db.command;
    const res = await this.db
      .collection(BINDINGS)
      .where({ openidHash: _.in([...openidHashes]), method: _.in([...methods]) })
      .remove();
    return res.stats.removed;
  }

  /** Everyone verified with this ID card number, masked (admin lookup). */
  async listByIdCard(idCard: string): Promise<Binding[]> {
    const _ = this.db.command;
    const res = await this.db
      .collection(BINDINGS)
      .where(serverWritten(this.db, { idIndex: _.in(this.idIndexes(idCard, 'id_card')) }))
      .orderBy('verifiedAt', 'desc')
      .limit(20)
      .get();
    return this.present(res.data as unknown as BindingDoc[]);
  }

  /** Every binding of the caller, masked, newest first. */
  async list(openid: string): Promise<Binding[]> {
    const _ = this.db.command;
    const res = await this.db
      .collection(BINDINGS)
      .where(serverWritten(this.db, { openidHash: _.in(this.openidHashes(openid)) }))
      .orderBy('verifiedAt', 'desc')
      .limit(10)
      .get();
    const docs = res.data as unknown as BindingDoc[];
    await this.backfill(openid, docs);
    return this.present(docs);
  }

  /**
   * Bindings written before the openid was stored gain it on their holder's next call, so that a
   * key rotation can re-key them (it cannot recompute an openid hash otherwise). Under the hash the
   * document was found by: only the holder's own openid hashes to it.
   */
  private async backfill(openid: string, docs: readonly BindingDoc[]): Promise<void> {
    for (const doc of docs.filter((d) => d.openidEnc === undefined)) {
      await this.db
        .collection(BINDINGS)
        .where({ _id: doc._id, openidEnc: this.db.command.exists(false) })
        .update({ data: { openidEnc: encryptField(this.keys, openid, fieldAad(BINDINGS, doc._id, 'openid')) } });
    }
  }

  private async present(docs: BindingDoc[]): Promise<Binding[]> {
    if (docs.length === 0) return [];
    const _ = this.db.command;
    const shown = docs.map((d) => {
      const docType = d.docType ?? 'id_card';
      const number = decryptField(this.keys, d.idEnc, fieldAad(BINDINGS, d._id, 'idCard'));
      // Only an ID card can be in the roster (its key is the ID number's blind index): under every
      // index key configured, as a rotation may have re-keyed one of the two and not yet the other.
      return { d, docType, number, rosterKeys: docType === 'id_card' ? this.idIndexes(number, 'id_card') : [] };
    });
    const idCards = shown.flatMap((b) => b.rosterKeys);
    const inRoster = idCards.length
      ? await this.db
          .collection(ROSTER)
          .where(serverWritten(this.db, { _id: _.in(idCards) }))
          .field({ _id: true })
          .get()
      : { data: [] };
    const found = new Set(inRoster.data.map((d) => String(d._id)));
    return shown.map(({ d, docType, number, rosterKeys }) => ({
      method: d.method,
      docType,
      maskedName: maskName(decryptField(this.keys, d.nameEnc, fieldAad(BINDINGS, d._id, 'name'))),
      maskedIdCard: docType === 'id_card' ? maskIdCard(number) : maskDocNumber(number),
      verifiedAt: new Date(d.verifiedAt).toISOString(),
      inRoster: rosterKeys.some((index) => found.has(index)),
    }));
  }
}
