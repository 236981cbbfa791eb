/**
 * Consent records: before a method collects anything, what the person agreed to (method, purpose,
 * the version of the notice text shown, time), under the keyed hash of their openid. Read back by
 * `identity.mine`; deleted with the method's data by `identity.withdraw` (the withdrawal itself is
 * in the audit trail).
 */
import crypto from 'crypto';
import { NOTICES, noticeVersion } from '../../miniprogram/shared/consent';
import type { ConsentView, VerificationMethod } from '../../miniprogram/shared/contracts';
import { encryptField, fieldAad, keyVersion, type PiiKeys } from '../core/pii';
import { COLLECTION } from '../manifest';
import { serverWritten, type CloudDb } from './cloud-db';

const CONSENTS = COLLECTION.consents;
/** Records `mine` answers at most, newest first. */
const LIST_LIMIT = 50;

export interface ConsentDoc {
  _id: string;
  openidHash: string;
  /** The openid, encrypted (bound to the record): lets a key rotation recompute `openidHash`. */
  openidEnc?: string;
  /** The keys this document was written under (core/pii.ts `keyVersion`). */
  kv?: string;
  method: VerificationMethod;
  purpose: string;
  version: string;
  at: Date;
}

export class ConsentStore {
  constructor(
    private readonly db: CloudDb,
    private readonly keys: PiiKeys,
  ) {}

  /** Records that `openid` (known by `openidHash`) agreed to `method`'s current notice, now. */
  async record(openid: string, openidHash: string, method: VerificationMethod): Promise<void> {
    const _id = crypto.randomBytes(16).toString('hex');
    const doc: ConsentDoc = {
      _id,
      openidHash,
      openidEnc: encryptField(this.keys, openid, fieldAad(CONSENTS, _id, 'openid')),
      kv: keyVersion(this.keys),
      method,
      purpose: NOTICES[method].purpose,
      version: noticeVersion(method),
      at: new Date(),
    };
    await this.db.collection(CONSENTS).add({ data: doc });
  }

  /** The holder's records, found under each of their openid hashes (every index key configured). */
  async list(openidHashes: readonly string[]): Promise<ConsentView[]> {
    const _ = this.db.command;
    const res = await this.db
      .collection<ConsentDoc>(CONSENTS)
      .where(serverWritten(this.db, { openidHash: _.in([...openidHashes]) }))
      .orderBy('at', 'desc')
      .limit(LIST_LIMIT)
      .get();
    return res.data.map((d) => ({
      method: d.method,
      purpose: d.purpose,
      version: d.version,
      at: new Date(d.at).toISOString(),
    }));
  }

  /** Deletes the holder's records of these methods (client-planted look-alikes too: they are theirs to lose). */
  async remove(openidHashes: readonly string[], methods: readonly VerificationMethod[]): Promise<number> {
    const _ = this.db.command;
    const res = await this.db
      .collection(CONSENTS)
      .where({ openidHash: _.in([...openidHashes]), method: _.in([...methods]) })
      .remove();
    return res.stats.removed;
  }
}
