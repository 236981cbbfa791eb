/**
 * A job's chunks: its file, validated once, as encrypted pieces of `CHUNK_BATCHES` batches in
 * storage, so a later slice reads only the rows it writes. A chunk holds personal data (names, ID
 * numbers): it is deflated, then encrypted with the PII key (AES-256-GCM) bound to its job and
 * index, so a chunk cannot be read without the key nor swapped for another job's or another
 * index's. Its name carries the job's random `chunkPath`. Every way a chunk can be wrong (missing,
 * cut, altered, from another job) reads as ROSTER_CHUNK_LOST, which fails the job cleanly.
 */
import { deflateRawSync, inflateRawSync } from 'zlib';
import { aadOf, decodeChunk, encodeChunk, siblingFileID, type Chunk } from '../../core/roster/chunk-codec';
import { describeError, InternalError } from '../../core/errors';
import { decryptField, encryptField, type PiiKeys } from '../../core/pii';
import { IdIndex } from '../../core/roster/id-index';
import { chunkPathOf, chunkPaths, statePathOf, type RosterJob } from '../../core/roster/job';
import { RosterFileError } from '../../core/roster/types';
import { isFileNotFound, type CloudStorage } from '../../lib/storage';

export { decodeChunk, encodeChunk, siblingFileID, type Chunk } from '../../core/roster/chunk-codec';

export class ChunkStore {
  constructor(
    private readonly storage: CloudStorage,
    private readonly keys: PiiKeys,
  ) {}

  async write(job: RosterJob, index: number, chunk: Chunk): Promise<void> {
    await this.storage.uploadFile({
      cloudPath: chunkPathOf(job, index),
      fileContent: encodeChunk(this.keys, job._id, index, chunk),
    });
  }

  /** A missing chunk is ROSTER_CHUNK_LOST (the job fails); a storage fault is thrown as is (the next run retries). */
  async read(job: RosterJob, index: number): Promise<Chunk> {
    let stored: Buffer;
    try {
      stored = (await this.storage.downloadFile({ fileID: siblingFileID(job.fileID, chunkPathOf(job, index)) }))
        .fileContent;
    } catch (err) {
      if (isFileNotFound(err)) throw new RosterFileError('ROSTER_CHUNK_LOST');
      throw new InternalError(`reading a chunk failed: ${describeError(err).detail}`, err);
    }
    return decodeChunk(this.keys, job._id, index, stored);
  }

  /** Saves the IDs a paused prepare has seen (encrypted, bound to the job). */
  async writeState(job: RosterJob, ids: IdIndex): Promise<void> {
    const packed = deflateRawSync(ids.toBuffer(), { level: 1 }).toString('base64');
    await this.storage.uploadFile({
      cloudPath: statePathOf(job),
      fileContent: Buffer.from(encryptField(this.keys, packed, aadOf(job._id, -1)), 'utf8'),
    });
  }

  /**
   * The IDs a paused prepare saw up to where the job says it paused (a later pause may have written
   * the state and then failed to save the job); missing or not decrypting: ROSTER_CHUNK_LOST.
   */
  async readState(job: RosterJob): Promise<IdIndex> {
    let stored: Buffer;
    try {
      stored = (await this.storage.downloadFile({ fileID: siblingFileID(job.fileID, statePathOf(job)) })).fileContent;
    } catch (err) {
      if (isFileNotFound(err)) throw new RosterFileError('ROSTER_CHUNK_LOST');
      throw new InternalError(`reading the prepare state failed: ${describeError(err).detail}`, err);
    }
    try {
      const packed = decryptField(this.keys, stored.toString('utf8'), aadOf(job._id, -1));
      return IdIndex.fromBuffer(inflateRawSync(Buffer.from(packed, 'base64')), job.preparedRow ?? 0);
    } catch {
      throw new RosterFileError('ROSTER_CHUNK_LOST');
    }
  }

  /** The file IDs of every chunk the job may have stored (see core/roster/job.ts `chunkPaths`). */
  fileIDs(job: RosterJob): string[] {
    return chunkPaths(job).map((path) => siblingFileID(job.fileID, path));
  }
}
