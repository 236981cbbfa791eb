/**
 * Writes roster batches to `roster`: each person under the blind index of their ID number (`_id`),
 * so a re-import is idempotent. Per batch: one `_.in` lookup of what is stored, then at most one
 * remove (changed rows) and one array insert (new and changed rows); unchanged rows cost no write
 * and no cipher work. What a row does to a stored person (merge or replace, conflicts) is decided
 * by core/roster/merge.ts; only rows that differ from what is stored are decrypted. When another
 * import stored some of the batch first (a duplicate `_id`), only what is still missing is
 * written: what the database holds decides, not the error's wording.
 *
 * A stored person that cannot be decrypted (another key, a damaged document) is never taken for
 * nobody and overwritten: the row is reported (ROW_STORED_UNREADABLE) and left alone. Documents
 * of the first version kept department, staff number, note and start date in plain text beside
 * the ciphertext: they count as stored values, so a merge carries them into the encrypted field.
 */
import type { RosterImportMode, RosterRowError } from '../../../miniprogram/shared/contracts';
import { ERRORS } from '../../../miniprogram/shared/errors';
import { blindIndex, decryptField, encryptField, type PiiKeys } from '../../core/pii';
import type { RosterColumn, RosterRecord } from '../../core/roster';
import { rosterAad } from '../../lib/roster-record';
import type { BatchCounts } from '../../core/roster/job';
import { canonical, contentOf, mergePerson, type RosterPerson } from '../../core/roster/merge';
import type { Logger } from '../../core/router';
import { addMany, isClientWritten, type CloudDb } from '../../lib/cloud-db';
import type { Throttle } from '../../lib/throttle';
import { COLLECTION } from '../../manifest';

const ROSTER = COLLECTION.roster;
/** A stored document that holds no readable person (never taken for nobody). */
const UNREADABLE = Symbol('unreadable');

export interface WriterDeps {
  db: CloudDb;
  throttle: Throttle;
  keys: PiiKeys;
  logger: Logger;
  /** Most rows a batch may hold (the lookup's limit). */
  batchSize: number;
}

/** The fields the first version stored in plain text beside `piiEnc` (which held name, ID, phone). */
export const LEGACY_PLAIN_FIELDS = ['department', 'employeeNo', 'note', 'startDate'] as const;
type LegacyPlain = Partial<Pick<RosterPerson, (typeof LEGACY_PLAIN_FIELDS)[number]>>;

interface StoredRow extends LegacyPlain {
  _id: string;
  rowHash: string;
  piiEnc?: string;
  jobId?: string;
}

/** A stored person as the lookup found it; `planted` when a client wrote it (never trusted). */
interface Stored {
  rowHash: string;
  piiEnc?: string;
  planted: boolean;
  /** Plain-text fields of a first-version document. */
  legacy: LegacyPlain;
  jobId?: string;
}

/** The legacy plain-text fields a stored document holds (strings only). */
function legacyOf(doc: StoredRow): LegacyPlain {
  const legacy: LegacyPlain = {};
  for (const field of LEGACY_PLAIN_FIELDS) {
    const value = doc[field];
    if (typeof value === 'string' && value !== '') legacy[field] = value;
  }
  return legacy;
}

interface Write {
  _id: string;
  person: RosterPerson;
  rowHash: string;
}

/** How the job applies rows (see core/roster/merge.ts). */
export interface WriteJob {
  _id: string;
  dryRun: boolean;
  mode: RosterImportMode;
  acceptConflicts: boolean;
}

export interface BatchWrite {
  counts: BatchCounts;
  /**
   * Rows not applied: ROW_CONFLICT (the ID is stored under another name) and ROW_STORED_UNREADABLE
   * (what is stored under the ID cannot be decrypted).
   */
  conflicts: RosterRowError[];
  /** People of the batch found stored (0 when the batch was inserted without a lookup). */
  found: number;
}

export interface ApplyOptions {
  /**
   * The previous batch found nobody stored: insert first, look up only if the insert is refused
   * (a fresh roster then costs one request per batch instead of two). Never for a dry run.
   */
  expectNew?: boolean;
}

/** Stored by this job's own refused insert a moment ago (an insert may stop part-way). */
function insertedBy(job: WriteJob, attempted: ReadonlySet<string>, id: string, stored: Stored): boolean {
  return attempted.has(id) && stored.jobId === job._id;
}

export class RosterWriter {
  constructor(private readonly deps: WriterDeps) {}

  /** Applies one batch for `job` (a dry run only counts); `columns` are the file's. */
  async apply(
    records: readonly RosterRecord[],
    job: WriteJob,
    columns: readonly RosterColumn[],
    options: ApplyOptions = {},
  ): Promise<BatchWrite> {
    const counts: BatchCounts = { inserted: 0, updated: 0, unchanged: 0, conflicts: 0 };
    if (records.length === 0) return { counts, conflicts: [], found: 0 };
    let attempted: ReadonlySet<string> = new Set();
    if (options.expectNew && !job.dryRun) {
      const writes = this.asNew(records, job, columns);
      try {
        await this.deps.throttle.run(() =>
          addMany(
            this.deps.db,
            ROSTER,
            writes.map((r) => this.toDoc(r, job._id)),
          ),
        );
        counts.inserted = writes.length;
        return { counts, conflicts: [], found: 0 };
      } catch (err) {
        // Someone in the batch is stored already (or the insert failed): the lookup below decides.
        // Rows this attempt did store (an insert may stop part-way) are recognised by job and hash.
        this.deps.logger.info('roster batch not new after all; looking up', {
          job: job._id,
          error: err instanceof Error ? err.name : 'unknown',
        });
        attempted = new Set(writes.map((r) => r._id));
      }
    }
    const { fresh, changed, conflicts, found } = await this.classify(records, job, columns, counts, attempted);
    counts.inserted += fresh.length;
    counts.updated = changed.length;
    if (job.dryRun) return { counts, conflicts, found };
    await this.remove(changed.map((r) => r._id));
    // Only what is written gets encrypted: an unchanged re-import costs no cipher work at all.
    const writes = [...fresh, ...changed].map((r) => this.toDoc(r, job._id));
    const present = await this.insert(writes, job._id);
    if (present.size > 0) {
      counts.unchanged += present.size;
      counts.inserted -= fresh.filter((r) => present.has(r._id)).length;
      counts.updated -= changed.filter((r) => present.has(r._id)).length;
    }
    return { counts, conflicts, found };
  }

  /** Every record as a new person (what it makes of nobody stored). */
  private asNew(records: readonly RosterRecord[], job: WriteJob, columns: readonly RosterColumn[]): Write[] {
    const options = { fields: columns.map((c) => c.field), mode: job.mode, acceptConflicts: job.acceptConflicts };
    return records.map((record) => {
      const outcome = mergePerson(undefined, record, options);
      const person = outcome.kind === 'write' ? outcome.person : canonical(record);
      return { _id: blindIndex(this.deps.keys, 'idCard', record.idCard), person, rowHash: this.hash(person) };
    });
  }

  /** Each row against what is stored: new, changed, unchanged (counted) or a conflict. */
  private async classify(
    records: readonly RosterRecord[],
    job: WriteJob,
    columns: readonly RosterColumn[],
    counts: BatchCounts,
    attempted: ReadonlySet<string> = new Set(),
  ): Promise<{ fresh: Write[]; changed: Write[]; conflicts: RosterRowError[]; found: number }> {
    const options = { fields: columns.map((c) => c.field), mode: job.mode, acceptConflicts: job.acceptConflicts };
    const nameHeader = columns.find((c) => c.field === 'name')?.header ?? '姓名';
    const keyed = records.map((record) => ({ record, _id: blindIndex(this.deps.keys, 'idCard', record.idCard) }));
    const known = await this.stored(keyed.map((r) => r._id));
    const fresh: Write[] = [];
    const changed: Write[] = [];
    const conflicts: RosterRowError[] = [];
    for (const { record, _id } of keyed) {
      const verdict = this.verdict(record, _id, known.get(_id), { job, attempted, options });
      if (verdict.kind === 'fresh') fresh.push(verdict.write);
      else if (verdict.kind === 'changed') changed.push(verdict.write);
      else if (verdict.kind === 'conflict') {
        counts.conflicts += 1;
        conflicts.push(
          verdict.unreadable
            ? this.unreadable(record, job)
            : { row: record.row, column: nameHeader, code: 'ROW_CONFLICT', message: ERRORS.ROW_CONFLICT },
        );
      } else counts[verdict.kind] += 1;
    }
    return { fresh, changed, conflicts, found: known.size };
  }

  /** One row against what is stored under its ID (`stored`, if any). */
  private verdict(
    record: RosterRecord,
    _id: string,
    stored: Stored | undefined,
    context: { job: WriteJob; attempted: ReadonlySet<string>; options: Parameters<typeof mergePerson>[2] },
  ):
    | { kind: 'fresh' | 'changed'; write: Write }
    | { kind: 'unchanged' | 'inserted' }
    | { kind: 'conflict'; unreadable: boolean } {
    const trusted = stored && !stored.planted ? stored : undefined;
    if (trusted && this.hash(canonical(record)) === trusted.rowHash) {
      // The row is exactly what is stored: nothing to decrypt or write. Stored by this job's
      // refused insert a moment ago, it was inserted.
      return { kind: insertedBy(context.job, context.attempted, _id, trusted) ? 'inserted' : 'unchanged' };
    }
    const current = trusted && this.decrypt(_id, trusted);
    if (current === UNREADABLE) return { kind: 'conflict', unreadable: true };
    const outcome = mergePerson(current, record, context.options);
    if (outcome.kind === 'conflict') return { kind: 'conflict', unreadable: false };
    const write = { _id, person: outcome.person, rowHash: this.hash(outcome.person) };
    if (!stored) return { kind: 'fresh', write };
    if (!trusted || trusted.rowHash !== write.rowHash) return { kind: 'changed', write };
    return { kind: 'unchanged' };
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

  /** The stored rows among `ids` (at most one batch), in one request. */
  private async stored(ids: string[]): Promise<Map<string, Stored>> {
    const { db, throttle, batchSize } = this.deps;
    const res = await throttle.run(() =>
      db
        .collection<StoredRow>(ROSTER)
        .where({ _id: db.command.in(ids) })
        .field({
          rowHash: true,
          piiEnc: true,
          _openid: true,
          department: true,
          employeeNo: true,
          note: true,
          startDate: true,
          jobId: true,
        })
        .limit(batchSize)
        .get(),
    );
    // A row a client planted (possible under the platform's default rules) is never read: it is
    // replaced by the file's row as if nobody were stored.
    return new Map(
      res.data.map((d) => [
        d._id,
        {
          rowHash: String(d.rowHash ?? ''),
          piiEnc: d.piiEnc,
          planted: isClientWritten(d),
          legacy: legacyOf(d),
          ...(typeof d.jobId === 'string' ? { jobId: d.jobId } : {}),
        },
      ]),
    );
  }

  /**
   * The stored person, its first-version plain-text fields included (the ciphertext wins where both
   * hold a field); `UNREADABLE` when the document holds no ciphertext that decrypts to a person.
   */
  private decrypt(id: string, stored: Stored): RosterPerson | typeof UNREADABLE {
    if (typeof stored.piiEnc !== 'string') return UNREADABLE;
    let person: RosterPerson;
    try {
      person = JSON.parse(decryptField(this.deps.keys, stored.piiEnc, rosterAad(id))) as RosterPerson;
    } catch {
      return UNREADABLE;
    }
    if (typeof person?.name !== 'string' || typeof person.idCard !== 'string') return UNREADABLE;
    return { ...stored.legacy, ...person };
  }

  /** The row error of a row whose stored person cannot be read; logged with the row number only. */
  private unreadable(record: RosterRecord, job: WriteJob): RosterRowError {
    this.deps.logger.error('a stored roster person cannot be decrypted: the row is not applied', {
      job: job._id,
      row: record.row,
    });
    return { row: record.row, column: '', code: 'ROW_STORED_UNREADABLE', message: ERRORS.ROW_STORED_UNREADABLE };
  }

  /**
   * Keyed hash of a person's content (to skip unchanged rows). 'rosterRow2': rows stored before
   * every field was encrypted hash differently, so the next import rewrites them.
   */
  private hash(person: RosterPerson): string {
    return blindIndex(this.deps.keys, 'rosterRow2', contentOf(person));
  }

  /**
   * The stored person: every field of the row (name, ID, phone, department, staff number, note,
   * start date) in one AES-256-GCM field bound to the document. Nothing else in it identifies
   * anyone, not even masked values: the collection may be readable by clients where the rules were
   * never applied. Masked values are derived when someone with the keys presents the person.
   */
  private toDoc(row: Write, jobId: string) {
    const { person, _id, rowHash } = row;
    return {
      _id,
      rowHash,
      piiEnc: encryptField(this.deps.keys, JSON.stringify(person), rosterAad(_id)),
      jobId,
      updatedAt: new Date(),
    };
  }
}
