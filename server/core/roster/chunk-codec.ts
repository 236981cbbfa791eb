/**
 * A chunk's bytes (see functions/roster/chunks.ts): deflated JSON, encrypted with the PII key
 * (AES-256-GCM) bound to its job and index. Pure: no storage.
 */
import { deflateRawSync, inflateRawSync } from 'zlib';
import { cloudPathOf } from '../../../miniprogram/shared/requests';
import { decryptField, encryptField, type PiiKeys } from '../pii';
import type { RosterBatch } from './parse';
import type { RosterColumn } from './columns';
import { RosterFileError } from './types';

/** What a chunk holds: the file's columns (the writer needs them) and its batches. */
export interface Chunk {
  columns: RosterColumn[];
  batches: RosterBatch[];
}

/** The jobs' collection (the manifest's `rosterJobs`; core does not import the manifest). */
const JOBS = 'roster_jobs';
export const aadOf = (jobId: string, index: number) => `${JOBS}:${jobId}:chunk:${index}`;

/** The file ID of a cloud path in the environment of `fileID` (cloud://<env>.<bucket>/<path>). */
export function siblingFileID(fileID: string, cloudPath: string): string {
  return fileID.slice(0, fileID.length - cloudPathOf(fileID).length) + cloudPath;
}

export function encodeChunk(keys: PiiKeys, jobId: string, index: number, chunk: Chunk): Buffer {
  const packed = deflateRawSync(Buffer.from(JSON.stringify(chunk), 'utf8'), { level: 1 }).toString('base64');
  return Buffer.from(encryptField(keys, packed, aadOf(jobId, index)), 'utf8');
}

/** The chunk, or ROSTER_CHUNK_LOST when it does not decrypt (altered, cut, another job's or index's). */
export function decodeChunk(keys: PiiKeys, jobId: string, index: number, stored: Buffer): Chunk {
  try {
    const packed = decryptField(keys, stored.toString('utf8'), aadOf(jobId, index));
    const chunk = JSON.parse(inflateRawSync(Buffer.from(packed, 'base64')).toString('utf8')) as Chunk;
    if (!Array.isArray(chunk.columns) || !Array.isArray(chunk.batches)) throw new Error('not a chunk');
    return chunk;
  } catch {
    throw new RosterFileError('ROSTER_CHUNK_LOST');
  }
}
