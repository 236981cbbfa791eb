/**
 * Writes roster batches to `roster`: each person under the blind index of their ID number (`_id`),
 * so a re-import is idempotent. Per batch: one `_.in` lookup of what is stored, then at most one
 * remove (changed rows) and one array insert (new and changed rows); unchanged rows cost no write
 * and no cipher work. When another import stored some of the batch first (a duplicate `_id`), only
 * what is still missing is written: what the database holds decides, not the error's wording.
 */
import { blindIndex, encryptField, type PiiKeys } from '../../core/pii';
import { rosterAad, type RosterPii } from '../../lib/roster-record';
import type { RosterRecord } from '../../core/roster';
import type { BatchCounts } from '../../core/roster/job';
import type { Logger } from '../../core/router';
import { addMany, isClientWritten, type CloudDb } from '../../lib/cloud-db';
import type { Throttle } from '../../lib/throttle';
import { COLLECTION } from '../../manifest';

const ROSTER = COLLECTION.roster;

const ROSTER_OPTIONAL_FIELDS = ['phone', 'department', 'employeeNo', 'note', 'startDate'] as const;

export interface WriterDeps {
  db: CloudDb;
  throttle: Throttle;
  keys: PiiKeys;
  logger: Logger;
  /** Most rows a batch may hold (the lookup's limit). */
  batchSize: number;
}

interface StoredRow {
  _id: string;
  rowHash: string;
}

interface KeyedRecord {
  record: RosterRecord;
  /** Blind index of the ID number. */
  _id: string;
  /** Keyed hash of the row's content: unchanged rows are skipped. */
  rowHash: string;
}

export class RosterWriter {
  constructor(private readonly deps: WriterDeps) {}

  /** Upserts one batch for job `jobId` (a dry run only counts); answers what it did. */
  async apply(records: readonly RosterRecord[], job: { _id: string; dryRun: boolean }): Promise<BatchCounts> {
    const counts: BatchCounts = { inserted: 0, updated: 0, unchanged: 0 };
    if (records.length === 0) return counts;
    const keyed = records.map((record) => ({ record, ...this.keyOf(record) }));
    const known = await this.stored(keyed.map((r) => r._id));
    const fresh = keyed.filter((r) => !known.has(r._id));
    const changed = keyed.filter((r) => known.has(r._id) && known.get(r._id) !== r.rowHash);
    counts.inserted = fresh.length;
    counts.updated = changed.length;
    counts.unchanged = keyed.length - fresh.length - changed.length;
    if (job.dryRun) return counts;
    await this.remove(changed.map((r) => r._id));
    // Only what is written gets encrypted: an unchanged re-import costs no cipher work at all.
    const writes = [...fresh, ...changed].map((r) => this.toDoc(r, job._id));
    const present = await this.insert(writes, job._id);
    if (present.size > 0) {
      counts.unchanged += present.size;
      counts.inserted -= fresh.filter((r) => present.has(r._id)).length;
      counts.updated -= changed.filter((r) => present.has(r._id)).length;
    }
    return counts;
  }

  private async remove(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const { db, throttle } = this.deps;
    await throttle.run(() =>
      db
        .collection(ROSTER)
        .where({ _id: db.command.in(ids) })
        .remove(),
    );
  }

  /**
   * One array insert; on failure, the rows already stored (by another import) are left alone and the
   * rest written. Answers the ids that were found stored (empty when the insert went through).
   */
  private async insert(writes: ReturnType<RosterWriter['toDoc']>[], jobId: string): Promise<Set<string>> {
    const { db, throttle, logger } = this.deps;
    try {
      await throttle.run(() => addMany(db, ROSTER, writes));
      return new Set();
    } catch (err) {
      const present = await this.stored(writes.map((r) => r._id));
      if (present.size === 0) throw err; // nothing stored: another error, not a race
      logger.info('roster batch partly stored already; writing the rest', {
        job: jobId,
        present: present.size,
        of: writes.length,
      });
      await throttle.run(() =>
        addMany(
          db,
          ROSTER,
          writes.filter((r) => !present.has(r._id)),
        ),
      );
      return new Set(present.keys());
    }
  }

  /** The stored rows among `ids` (at most one batch): `_id` → `rowHash`, in one request. */
  private async stored(ids: string[]): Promise<Map<string, string>> {
    const { db, throttle, batchSize } = this.deps;
    const res = await throttle.run(() =>
      db
        .collection<StoredRow>(ROSTER)
        .where({ _id: db.command.in(ids) })
        .field({ rowHash: true, _openid: true })
        .limit(batchSize)
        .get(),
    );
    // A row a client planted (possible under the platform's default rules) matches nothing: it is
    // seen as changed, so the real row replaces it.
    return new Map(res.data.map((d) => [d._id, isClientWritten(d) ? '' : d.rowHash]));
  }

  /** The row's key (blind index of the ID) and a keyed hash of its content (to skip unchanged rows). */
  private keyOf(record: RosterRecord): { _id: string; rowHash: string } {
    const { keys } = this.deps;
    const content = [
      record.name,
      record.idCard,
      record.phone,
      record.department,
      record.employeeNo,
      record.note,
      record.startDate,
    ];
    return {
      _id: blindIndex(keys, 'idCard', record.idCard),
      // 'rosterRow2': rows stored before every field was encrypted hash differently, so the next
      // import rewrites them (and their plaintext fields go).
      rowHash: blindIndex(keys, 'rosterRow2', JSON.stringify(content.map((v) => v ?? ''))),
    };
  }

  /**
   * The stored person: every field of the row (name, ID, phone, department, staff number, note,
   * start date) in one AES-256-GCM field bound to the document. Nothing else in it identifies
   * anyone, not even masked values: the collection may be readable by clients where the rules were
   * never applied. Masked values are derived when someone with the keys presents the person.
   */
  private toDoc(row: KeyedRecord, jobId: string) {
    const { record, _id, rowHash } = row;
    const fields: RosterPii = {
      name: record.name,
      idCard: record.idCard,
      ...Object.fromEntries(
        ROSTER_OPTIONAL_FIELDS.map((key) => [key, record[key]]).filter(([, v]) => v !== undefined && v !== ''),
      ),
    };
    return {
      _id,
      rowHash,
      piiEnc: encryptField(this.deps.keys, JSON.stringify(fields), rosterAad(_id)),
      jobId,
      updatedAt: new Date(),
    };
  }
}
