/**
 * Visible best-effort work. A cleanup that may fail without failing what the user asked for still
 * says when it failed (one log line naming the work, the error class and message), and the cleanups
 * that matter, deleting an upload that holds plain PII, are recorded in `pending_cleanup` when they
 * fail so that the timer sweep retries them until they succeed. Nothing is swallowed silently.
 */
import { describeError, InternalError } from '../core/errors';
import { blindIndex, decryptField, encryptField, fieldAad, type PiiKeys } from '../core/pii';
import type { Logger } from '../core/router';
import { COLLECTION } from '../manifest';
import { ROSTER_UPLOAD_PREFIX } from '../../miniprogram/shared/contracts';
import { cloudPathOf } from '../../miniprogram/shared/requests';
import { ROSTER_CHUNK_PREFIX, ROSTER_REPORT_PREFIX } from '../core/roster/job';
import { removeClientWritten, serverWritten, type CloudDb } from './cloud-db';
import { deleteFiles, deleteFilesReporting, deleteOneFile, type CloudStorage } from './storage';

/** Files one `deleteFile` request names at most (the storage API takes lists of up to 50). */
export const DELETE_GROUP = 50;

/**
 * Runs `work`; a failure is logged (`<what> failed`, with `fields`, which must hold no PII) and
 * answered `false` instead of thrown. For work whose failure the caller can live with.
 */
export async function bestEffort(
  logger: Logger,
  what: string,
  work: () => Promise<unknown>,
  fields: Record<string, unknown> = {},
): Promise<boolean> {
  try {
    await work();
    return true;
  } catch (err) {
    logger.error(`${what} failed`, { ...fields, ...describeError(err) });
    return false;
  }
}

/** Where the admins' masked coverage exports go (one file per admin, deleted after EXPORT_RETENTION_MINUTES). */
export const ADMIN_EXPORT_PREFIX = 'admin-exports/';

/**
 * The only places a recorded deletion may name: every sweep retries every record, whichever
 * function recorded it (a record naming a file elsewhere is forgotten, never acted on).
 */
export const CLEANUP_PREFIXES: readonly string[] = [
  ROSTER_UPLOAD_PREFIX,
  ROSTER_REPORT_PREFIX,
  ROSTER_CHUNK_PREFIX,
  ADMIN_EXPORT_PREFIX,
];

/**
 * A deletion that failed, or one scheduled for later, kept for the sweep. `_id` is a keyed hash of the file ID and the file ID
 * is stored encrypted: where the rules are left at the platform's defaults, a client can read this
 * collection and any file whose ID it knows.
 */
export interface PendingCleanup {
  _id: string;
  fileIDEnc: string;
  reason: string;
  attempts: number;
  firstFailedAt: Date;
  /**
   * The last failure; for a scheduled deletion, the time it falls due. The sweep takes the records
   * whose time has come (`lastFailedAt <= now`), oldest first.
   */
  lastFailedAt: Date;
}

const PENDING = COLLECTION.pendingCleanup;

/** The reason `roster.reserveUpload` schedules its upload's deletion under: what `isReservedUpload` looks for. */
export const UPLOAD_RESERVED = 'upload not imported';
const aadOf = (_id: string) => fieldAad(PENDING, _id, 'fileID');

/** A fresh record of `fileID`'s deletion (`_id` a keyed hash of it, the file ID encrypted). */
export function pendingRecord(
  keys: PiiKeys,
  fileID: string,
  reason: string,
  fresh: Pick<PendingCleanup, 'attempts' | 'lastFailedAt'>,
): PendingCleanup {
  const _id = blindIndex(keys, 'pendingCleanup', fileID);
  return { _id, fileIDEnc: encryptField(keys, fileID, aadOf(_id)), reason, firstFailedAt: new Date(), ...fresh };
}

export class FileCleanup {
  constructor(
    private readonly db: CloudDb,
    private readonly storage: CloudStorage,
    private readonly logger: Logger,
    private readonly keys: PiiKeys,
  ) {}

  /**
   * Deletes `fileID` now (and any record still scheduling it, once a file was deleted). When that
   * fails it is logged and recorded for the sweep; when even the record fails, that is logged too.
   * Never throws: the caller's own outcome stands.
   */
  async delete(fileID: string, reason: string): Promise<void> {
    let outcome: 'deleted' | 'missing' | undefined;
    await bestEffort(this.logger, 'file deletion', async () => (outcome = await deleteOneFile(this.storage, fileID)), {
      reason,
    });
    if (outcome === 'missing') {
      // Nothing there (yet): a reservation stays, so an upload still on its way is deleted by the
      // sweep when its time comes instead of staying for good.
      return;
    }
    if (outcome === 'deleted') {
      // Nothing is pending for it any more: a reservation (roster.reserveUpload) or an earlier failed
      // deletion goes with the file, so `pending_cleanup` holds only what is still to delete.
      const _id = blindIndex(this.keys, 'pendingCleanup', fileID);
      await bestEffort(
        this.logger,
        'removing a settled cleanup record',
        () => this.db.collection(PENDING).doc(_id).remove(),
        {
          reason,
        },
      );
      return;
    }
    await bestEffort(this.logger, 'recording a failed file deletion', () => this.record(fileID, reason), { reason });
  }

  /**
   * Deletes `fileID` at `dueAt` or soon after (the next sweep after it): a file that must outlive
   * the call that wrote it, but not by long (an export behind a 10-minute link). Scheduling it
   * again moves the time. Throws when the record cannot be written: then nobody would delete it.
   */
  async schedule(fileID: string, reason: string, dueAt: Date): Promise<void> {
    await this.upsert(fileID, reason, { lastFailedAt: dueAt, reason }, { attempts: 0, lastFailedAt: dueAt });
  }

  /**
   * Whether `fileID` is an upload `roster.reserveUpload` named and scheduled (UPLOAD_RESERVED) whose
   * deletion is not yet due or picked up: a record the server wrote, never tried (a failed deletion
   * counts an attempt), its time still ahead. Anything else was not reserved, or is past its window.
   */
  async isReservedUpload(fileID: string, now = Date.now()): Promise<boolean> {
    const _id = blindIndex(this.keys, 'pendingCleanup', fileID);
    const res = await this.db.collection<PendingCleanup>(PENDING).where(serverWritten(this.db, { _id })).limit(1).get();
    const held = res.data[0];
    return (
      held !== undefined &&
      held.reason === UPLOAD_RESERVED &&
      held.attempts === 0 &&
      new Date(held.lastFailedAt).getTime() > now
    );
  }

  /**
   * Deletes many files (a job's chunks), `DELETE_GROUP` per request; each file that could not be
   * deleted is logged and recorded for the sweep, as `delete` does. A missing file counts as deleted.
   * Never throws.
   */
  async deleteMany(fileIDs: readonly string[], reason: string): Promise<void> {
    for (let at = 0; at < fileIDs.length; at += DELETE_GROUP) {
      const group = fileIDs.slice(at, at + DELETE_GROUP);
      // Which ones failed matters here (each is recorded): the storage's per-file answer, as `deleteFiles` reads it.
      let failed: readonly string[] = group;
      await bestEffort(
        this.logger,
        'file deletion',
        async () => {
          const answer = await deleteFilesReporting(this.storage, group);
          failed = answer.failed;
          if (failed.length > 0) throw new InternalError(answer.detail);
        },
        { reason },
      );
      for (const fileID of failed) {
        await bestEffort(this.logger, 'recording a failed file deletion', () => this.record(fileID, reason), {
          reason,
        });
      }
    }
  }

  private async record(fileID: string, reason: string): Promise<void> {
    const now = new Date();
    await this.upsert(
      fileID,
      reason,
      // The latest reason: a reserved upload's record ('upload not imported') now says why it is retried.
      { attempts: this.db.command.inc(1), lastFailedAt: now, reason },
      { attempts: 1, lastFailedAt: now },
    );
  }

  /** Updates the server's record of `fileID` with `change`, or writes a fresh one. */
  private async upsert(
    fileID: string,
    reason: string,
    change: Record<string, unknown>,
    fresh: Pick<PendingCleanup, 'attempts' | 'lastFailedAt'>,
  ): Promise<void> {
    const _id = blindIndex(this.keys, 'pendingCleanup', fileID);
    const updated = await this.db.collection(PENDING).where(serverWritten(this.db, { _id })).update({ data: change });
    if (updated.stats.updated > 0) return;
    // A document a client planted under this _id (the platform's default rules allow it) goes first.
    await removeClientWritten(this.db, PENDING, _id);
    await this.db.collection(PENDING).add({ data: pendingRecord(this.keys, fileID, reason, fresh) });
  }

  /**
   * The sweep: every recorded deletion whose time has come is tried again; done ones are
   * forgotten. Only records the server wrote count (a client could otherwise plant one naming any
   * file), and only files under `prefixes` are ever deleted.
   */
  async retry(
    prefixes: readonly string[] = CLEANUP_PREFIXES,
    limit = 100,
    now: Date = new Date(),
  ): Promise<{ deleted: number; pending: number }> {
    const _ = this.db.command;
    const res = await this.db
      .collection<PendingCleanup>(PENDING)
      .where(serverWritten(this.db, { lastFailedAt: _.lte(now) }))
      .orderBy('lastFailedAt', 'asc')
      .limit(limit)
      .get();
    let deleted = 0;
    let failed = 0;
    for (const pending of res.data) {
      const result: { outcome?: 'deleted' | 'forgotten' } = {};
      // One record's failure (the storage, or the database under it) never stops the others.
      const done = await bestEffort(
        this.logger,
        'retried file deletion',
        async () => {
          result.outcome = await this.retryOne(pending, prefixes);
        },
        { reason: pending.reason, attempts: pending.attempts },
      );
      if (!done) failed += 1;
      else if (result.outcome === 'deleted') deleted += 1;
    }
    return { deleted, pending: failed };
  }

  /** Deletes the record's file and forgets the record; a failure is counted on it and thrown. */
  private async retryOne(pending: PendingCleanup, prefixes: readonly string[]): Promise<'deleted' | 'forgotten'> {
    // Records written before file IDs were encrypted still name theirs in plain.
    const legacy = (pending as { fileID?: unknown }).fileID;
    const fileID =
      pending.fileIDEnc === undefined && typeof legacy === 'string'
        ? legacy
        : decryptField(this.keys, String(pending.fileIDEnc), aadOf(pending._id));
    const path = cloudPathOf(fileID);
    const ours = prefixes.some((prefix) => path.startsWith(prefix)) && !path.includes('..');
    if (ours) {
      try {
        await deleteFiles(this.storage, [fileID]);
      } catch (err) {
        const _ = this.db.command;
        await this.db
          .collection(PENDING)
          .doc(pending._id)
          .update({ data: { attempts: _.inc(1), lastFailedAt: new Date() } });
        throw err;
      }
    } else {
      this.logger.error('pending cleanup names a file outside its prefixes: forgotten', { reason: pending.reason });
    }
    await this.db.collection(PENDING).doc(pending._id).remove();
    return ours ? 'deleted' : 'forgotten';
  }
}
