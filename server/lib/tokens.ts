/**
 * One-time credentials (real-name auth tokens, city-service codes...): each is reserved once, under
 * a keyed hash of its value (`used_tokens`, unique `_id`), before anything is done with it. The value
 * itself is never stored. A reservation a client planted (a document with `_openid`, possible under
 * the platform's default rules) does not count as a use: it is removed and the reservation retried.
 */
import { USED_TOKEN_RETENTION_MS } from '../core/limits';
import { blindIndexes, keyVersion, type PiiKeys } from '../core/pii';
import { COLLECTION } from '../manifest';
import { isClientWritten, removeClientWritten, serverWritten, type CloudDb } from './cloud-db';

const USED_TOKENS = COLLECTION.usedTokens;

export class OneTimeTokens {
  constructor(
    private readonly db: CloudDb,
    private readonly keys: PiiKeys,
  ) {}

  private idOf(kind: string, value: string): string {
    return this.idsOf(kind, value)[0]!;
  }

  /** Its ids under the current index key, then under the old ones (during a key rotation). */
  private idsOf(kind: string, value: string): string[] {
    return blindIndexes(this.keys, 'oneTimeToken', `${kind}\0${value}`).map((hash) => `${kind}_${hash}`);
  }

  /**
   * Spent under an old index key (before a key rotation's deploy): still spent. Such reservations
   * cannot be re-keyed (the value is not kept); the rotation waits until they expire.
   */
  private async spentUnderOldKey(kind: string, value: string): Promise<boolean> {
    const old = this.idsOf(kind, value).slice(1);
    if (old.length === 0) return false;
    const res = await this.db
      .collection(USED_TOKENS)
      .where(serverWritten(this.db, { _id: this.db.command.in(old) }))
      .limit(1)
      .get();
    return res.data.length > 0;
  }

  /**
   * Reserves `value`: true when this call got it, false when it was used before. A failed insert
   * whose document exists is a use (a duplicate `_id`): what the database holds decides, not the
   * error's wording. Any other failure is thrown, and the credential stays usable.
   */
  async reserve(kind: string, value: string, openidHash: string): Promise<boolean> {
    const _id = this.idOf(kind, value);
    if (await this.spentUnderOldKey(kind, value)) return false;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const usedAt = new Date();
        const expiresAt = new Date(usedAt.getTime() + USED_TOKEN_RETENTION_MS);
        await this.db
          .collection(USED_TOKENS)
          .add({ data: { _id, kind, openidHash, usedAt, expiresAt, kv: keyVersion(this.keys) } });
        return true;
      } catch (err) {
        const held = (await this.db.collection(USED_TOKENS).where({ _id }).limit(1).get()).data[0];
        if (!held) throw err;
        if (!isClientWritten(held)) return false;
        await removeClientWritten(this.db, USED_TOKENS, _id);
      }
    }
    return false;
  }

  /** Gives a reservation back (the credential was not consumed: WeChat was busy or unreachable). */
  async release(kind: string, value: string): Promise<void> {
    await this.db.collection(USED_TOKENS).doc(this.idOf(kind, value)).remove();
  }
}
