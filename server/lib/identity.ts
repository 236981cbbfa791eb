/**
 * The identity binding model shared by face verification and WeChat Pay real-name authorization:
 * one document per (openid, method) in `bindings`, name and ID number encrypted (AES-256-GCM) with
 * an HMAC blind index of the ID for lookups (e.g. "is this person in the roster?"). Nothing in a
 * document identifies anyone to a reader without the keys (not even masked values: they are
 * derived when presented), and only masked values ever leave this module.
 */
import { removeClientWritten, serverWritten, type CloudDb } from './cloud-db';
import type { Binding, VerificationMethod } from '../../miniprogram/shared/contracts';
import { maskIdCard, maskName } from '../../miniprogram/shared/mask';
import { blindIndex, decryptField, encryptField, type PiiKeys } from '../core/pii';
import { COLLECTION } from '../manifest';

export interface VerifiedIdentity {
  name: string;
  idCard: string;
}

interface BindingDoc {
  _id: string;
  openidHash: string;
  method: VerificationMethod;
  nameEnc: string;
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

  idIndex(idCard: string): string {
    return blindIndex(this.keys, 'idCard', idCard);
  }

  /** Creates or refreshes the caller's binding for `method`. */
  async bind(openid: string, method: VerificationMethod, identity: VerifiedIdentity): Promise<Binding> {
    const openidHash = this.openidHash(openid);
    const _id = `${method}_${openidHash}`;
    const doc: Omit<BindingDoc, '_id'> = {
      openidHash,
      method,
      nameEnc: encryptField(this.keys, identity.name, `${BINDINGS}:${_id}:name`),
      idEnc: encryptField(this.keys, identity.idCard, `${BINDINGS}:${_id}:idCard`),
      idIndex: this.idIndex(identity.idCard),
      verifiedAt: new Date(),
    };
    // A client-written document under this _id (the platform's default rules allow one) goes first:
    // set() must replace it whole, whatever the platform would keep of the client's _openid.
    await removeClientWritten(this.db, BINDINGS, _id);
    await this.db.collection(BINDINGS).doc(_id).set({ data: doc });
    const [binding] = await this.present([{ _id, ...doc }]);
    return binding!;
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
    const inRoster = await this.db
      .collection(ROSTER)
      .where(serverWritten(this.db, { _id: _.in(docs.map((d) => d.idIndex)) }))
      .field({ _id: true })
      .get();
    const found = new Set(inRoster.data.map((d) => String(d._id)));
    return docs.map((d) => ({
      method: d.method,
      maskedName: maskName(decryptField(this.keys, d.nameEnc, `${BINDINGS}:${d._id}:name`)),
      maskedIdCard: maskIdCard(decryptField(this.keys, d.idEnc, `${BINDINGS}:${d._id}:idCard`)),
      verifiedAt: new Date(d.verifiedAt).toISOString(),
      inRoster: found.has(d.idIndex),
    }));
  }
}
