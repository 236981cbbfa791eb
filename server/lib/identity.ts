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
import { blindIndex, decryptField, encryptField, type PiiKeys } from '../core/pii';
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

interface BindingDoc {
  _id: string;
  openidHash: string;
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

  /** The blind index of a document number: an ID card's is the roster's key; other documents' are kept apart. */
  idIndex(number: string, docType: DocType = 'id_card'): string {
    return docType === 'id_card'
      ? blindIndex(this.keys, 'idCard', number)
      : blindIndex(this.keys, 'document', `${docType}\0${number}`);
  }

  /** Creates or refreshes the caller's binding for `method`. */
  bind(openid: string, method: VerificationMethod, identity: VerifiedIdentity): Promise<Binding> {
    return this.bindHash(this.openidHash(openid), method, identity);
  }

  /** The same for a caller known by the keyed hash of their openid (a reviewer approving someone's request). */
  async bindHash(openidHash: string, method: VerificationMethod, identity: VerifiedIdentity): Promise<Binding> {
    const _id = `${method}_${openidHash}`;
    const doc: Omit<BindingDoc, '_id'> = {
      openidHash,
      method,
      docType: identity.docType,
      nameEnc: encryptField(this.keys, identity.name, `${BINDINGS}:${_id}:name`),
      idEnc: encryptField(this.keys, identity.number, `${BINDINGS}:${_id}:idCard`),
      idIndex: this.idIndex(identity.number, identity.docType),
      verifiedAt: new Date(),
    };
    // A client-written document under this _id (the platform's default rules allow one) goes first:
    // set() must replace it whole, whatever the platform would keep of the client's _openid.
    await removeClientWritten(this.db, BINDINGS, _id);
    await this.db.collection(BINDINGS).doc(_id).set({ data: doc });
    const [binding] = await this.present([{ _id, ...doc }]);
    return binding!;
  }

  /** The ID blind indexes of the holder's bindings of these methods (for the audit of a withdrawal). */
  async indexesOf(openidHash: string, methods: readonly VerificationMethod[]): Promise<string[]> {
    const _ = this.db.command;
    const res = await this.db
      .collection(BINDINGS)
      .where(serverWritten(this.db, { openidHash, method: _.in([...methods]) }))
      .field({ idIndex: true })
      .get();
    return res.data.map((d) => String(d.idIndex));
  }

  /** Deletes the holder's bindings of these methods (planted look-alikes under their hash too). */
  async remove(openidHash: string, methods: readonly VerificationMethod[]): Promise<number> {
    const _ = this.db.command;
    const res = await this.db
      .collection(BINDINGS)
      .where({ openidHash, method: _.in([...methods]) })
      .remove();
    return res.stats.removed;
  }

  /** Everyone verified with this ID card number, masked (admin lookup). */
  async listByIdCard(idCard: string): Promise<Binding[]> {
    const res = await this.db
      .collection(BINDINGS)
      .where(serverWritten(this.db, { idIndex: this.idIndex(idCard, 'id_card') }))
      .orderBy('verifiedAt', 'desc')
      .limit(20)
      .get();
    return this.present(res.data as unknown as BindingDoc[]);
  }

  /** Every binding of the caller, masked, newest first. */
  async list(openid: string): Promise<Binding[]> {
    const res = await this.db
      .collection(BINDINGS)
      .where(serverWritten(this.db, { openidHash: this.openidHash(openid) }))
      .orderBy('verifiedAt', 'desc')
      .limit(10)
      .get();
    return this.present(res.data as unknown as BindingDoc[]);
  }

  private async present(docs: BindingDoc[]): Promise<Binding[]> {
    if (docs.length === 0) return [];
    const _ = this.db.command;
    // Only an ID card can be in the roster (its key is the ID number's blind index).
    const idCards = docs.filter((d) => (d.docType ?? 'id_card') === 'id_card').map((d) => d.idIndex);
    const inRoster = idCards.length
      ? await this.db
          .collection(ROSTER)
          .where(serverWritten(this.db, { _id: _.in(idCards) }))
          .field({ _id: true })
          .get()
      : { data: [] };
    const found = new Set(inRoster.data.map((d) => String(d._id)));
    return docs.map((d) => {
      const docType = d.docType ?? 'id_card';
      const number = decryptField(this.keys, d.idEnc, `${BINDINGS}:${d._id}:idCard`);
      return {
        method: d.method,
        docType,
        maskedName: maskName(decryptField(this.keys, d.nameEnc, `${BINDINGS}:${d._id}:name`)),
        maskedIdCard: docType === 'id_card' ? maskIdCard(number) : maskDocNumber(number),
        verifiedAt: new Date(d.verifiedAt).toISOString(),
        inRoster: docType === 'id_card' && found.has(d.idIndex),
      };
    });
  }
}
