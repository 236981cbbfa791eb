/**
 * A stored file read by byte ranges instead of downloaded whole. wx-server-sdk's `downloadFile`
 * takes only a `fileID` and answers the whole file as one Buffer
 * (https://developers.weixin.qq.com/minigame/dev/wxcloud/reference-sdk-api/storage/downloadFile/server.downloadFile.md),
 * so a 100 MB upload would sit in a 256 MB function's memory. Instead the file's temporary link
 * (`getTempFileURL`, https://developers.weixin.qq.com/miniprogram/dev/wxcloud/reference-sdk-api/storage/Cloud.getTempFileURL.html)
 * is read with HTTP `Range: bytes=first-last` requests, which COS answers with 206 and
 * `Content-Range: bytes first-last/size` (https://intl.cloud.tencent.com/document/api/436/7753);
 * the sandbox's storage serves ranges the same way.
 */
import http from 'http';
import https from 'https';
import { InternalError } from '../core/errors';
import { RosterFileError } from '../core/roster/types';
import type { ByteSource } from '../core/roster/xlsx-stream';
import { isFileNotFound, type CloudStorage } from './storage';

/** The link's lifetime asked for (the platform may give less; a 403 fetches a new one). */
const LINK_SECONDS = 3600;
/** One range request may take this long before it counts as failed. */
const REQUEST_MS = 30_000;

export interface RangedFile extends ByteSource {
  /** Bytes fetched so far (for progress and for the benchmark). */
  bytesRead: number;
}

interface Answer {
  status: number;
  body: Buffer;
  contentRange?: string;
}

/** What of an error answer's body is kept (only its status matters). */
const ERROR_BODY_BYTES = 4 * 1024;

/**
 * One GET of bytes `first`-`last`. Every body is read only up to what it may hold, then the request
 * is dropped: a 206 up to the range asked (more is an InternalError); a 200, a server that ignored
 * the range and sends the whole file, up to `maxWholeBytes` (the import's size cap: over it the file
 * is ROSTER_FILE_TOO_LARGE, never held whole); any other answer up to 4 KB.
 */
function get(url: string, first: number, last: number, maxWholeBytes: number): Promise<Answer> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(target, { method: 'GET', headers: { range: `bytes=${first}-${last}` } }, (res) => {
      const status = res.statusCode ?? 0;
      const contentRange = res.headers['content-range'];
      const chunks: Buffer[] = [];
      let received = 0;
      const settle = (outcome: { answer: Answer } | { error: Error }) => {
        clearTimeout(deadline);
        if ('answer' in outcome) resolve(outcome.answer);
        else reject(outcome.error);
      };
      const answer = (): Answer => ({ status, body: Buffer.concat(chunks), ...(contentRange ? { contentRange } : {}) });
      const cap = status === 200 ? maxWholeBytes : status === 206 ? last - first + 1 : ERROR_BODY_BYTES;
      const over = (): void => {
        settle(
          status === 200
            ? { error: new RosterFileError('ROSTER_FILE_TOO_LARGE') }
            : status === 206
              ? { error: new InternalError('the storage answered more than the range asked') }
              : { answer: answer() },
        );
        req.destroy();
      };
      if (status === 200 && Number(res.headers['content-length'] ?? 0) > maxWholeBytes) return over();
      res.on('data', (chunk: Buffer) => {
        if (received + chunk.length > cap) {
          chunks.push(chunk.subarray(0, cap - received));
          received = cap;
          return over();
        }
        received += chunk.length;
        chunks.push(chunk);
      });
      res.on('end', () => settle({ answer: answer() }));
      res.on('error', (error) => settle({ error }));
    });
    const deadline = setTimeout(() => req.destroy(new Error('range request timed out')), REQUEST_MS);
    req.on('error', (err) => {
      clearTimeout(deadline);
      reject(err);
    });
    req.end();
  });
}

/** The first byte of a `Content-Range: bytes a-b/size` header. */
export function startOfContentRange(header: string | undefined): number | undefined {
  const m = /^bytes\s+(\d+)-\d+\/(?:\d+|\*)$/.exec((header ?? '').trim());
  return m ? Number(m[1]) : undefined;
}

/** The total size in a `Content-Range: bytes a-b/size` header. */
export function sizeOfContentRange(header: string | undefined): number | undefined {
  const m = /^bytes\s+(?:\d+-\d+|\*)\/(\d+)$/.exec((header ?? '').trim());
  return m ? Number(m[1]) : undefined;
}

/**
 * Opens `fileID` for ranged reads: one request learns its size (and answers its first bytes, kept
 * for format detection). A file that does not exist is ROSTER_FILE_NOT_FOUND; one over `maxBytes`
 * that the storage answers whole (ignoring the range) is ROSTER_FILE_TOO_LARGE, read no further;
 * any other failure is an InternalError (a fault of the moment: the job keeps its place).
 */
export async function openRangedFile(
  storage: CloudStorage,
  fileID: string,
  maxBytes: number,
): Promise<RangedFile & { head: Buffer }> {
  const link = async (): Promise<string> => {
    let res;
    try {
      res = await storage.getTempFileURL({ fileList: [{ fileID, maxAge: LINK_SECONDS }] });
    } catch (err) {
      if (isFileNotFound(err)) throw new RosterFileError('ROSTER_FILE_NOT_FOUND');
      throw new InternalError('getting the upload link failed', err);
    }
    const entry = res.fileList[0];
    if (!entry || entry.status !== 0 || !entry.tempFileURL) {
      if (entry && isFileNotFound({ errCode: entry.status })) throw new RosterFileError('ROSTER_FILE_NOT_FOUND');
      throw new InternalError(`no link for the upload (status ${entry?.status ?? 'none'})`);
    }
    return entry.tempFileURL;
  };
  let url = await link();
  const fetchRange = async (first: number, last: number): Promise<Answer> => {
    let answer: Answer | undefined;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        answer = await get(url, first, last, maxBytes);
      } catch (err) {
        if (err instanceof RosterFileError) throw err;
        if (attempt === 2) throw new InternalError('reading the upload failed', err);
        continue;
      }
      if (answer.status === 403)
        url = await link(); // the link expired: a new one, once more
      else if (answer.status < 500) break;
    }
    if (!answer) throw new InternalError('reading the upload failed');
    if (answer.status === 404) throw new RosterFileError('ROSTER_FILE_NOT_FOUND');
    // 416: the range starts past the end, which only an empty file does to the first read.
    if (answer.status === 416 && first === 0) return { status: 206, body: Buffer.alloc(0), contentRange: 'bytes */0' };
    if (answer.status !== 206 && answer.status !== 200) {
      throw new InternalError(`reading the upload failed (HTTP ${answer.status})`);
    }
    // Bytes from elsewhere in the file would be read as these.
    if (answer.status === 206 && startOfContentRange(answer.contentRange) !== first) {
      throw new InternalError('the storage answered another range than the one asked');
    }
    return answer;
  };
  const HEAD = 64 * 1024;
  const first = await fetchRange(0, HEAD - 1);
  // 200: the server ignored the range and sent the whole file (tiny files, or no range support).
  const size = first.status === 200 ? first.body.length : sizeOfContentRange(first.contentRange);
  if (size === undefined) throw new InternalError('the storage answered no Content-Range');
  const whole = first.status === 200 ? first.body : undefined;
  const file = {
    size,
    head: first.body.subarray(0, HEAD),
    bytesRead: first.body.length,
    async read(offset: number, length: number): Promise<Buffer> {
      const end = Math.min(size, offset + length);
      if (offset >= end) return Buffer.alloc(0);
      if (whole) return whole.subarray(offset, end);
      if (end <= first.body.length) return first.body.subarray(offset, end);
      const answer = await fetchRange(offset, end - 1);
      const body = answer.status === 200 ? answer.body.subarray(offset, end) : answer.body;
      if (body.length !== end - offset) throw new InternalError('the storage answered a short range');
      file.bytesRead += body.length;
      return body;
    },
  };
  return file;
}
