/**
 * The upload read by ranges against a storage that does not honour them: a server answering 200 with
 * the whole body is read whole only when the file is under the import's size cap; over it, the read
 * stops at the cap and the file is ROSTER_FILE_TOO_LARGE (never held whole in a 256 MB function).
 */
import http from 'http';
import type { AddressInfo } from 'net';
import { RosterFileError } from '../../../server/core/roster/types';
import { openRangedFile } from '../../../server/lib/ranged-file';
import type { CloudStorage } from '../../../server/lib/storage';

const MB = 1024 * 1024;

interface Served {
  url: string;
  /** Bytes the server has written to the client so far. */
  sent: () => number;
  /** Resolves when the client has closed the connection (or the body ended). */
  closed: Promise<void>;
  stop: () => Promise<void>;
}

/** A server that ignores Range: 200 with `total` bytes, written 64 KB at a time while the client reads. */
async function ignoringRanges(total: number, contentLength: boolean): Promise<Served> {
  let sent = 0;
  let onClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const server = http.createServer((_req, res) => {
    res.writeHead(200, contentLength ? { 'content-length': String(total) } : {});
    const block = Buffer.alloc(64 * 1024, 0x41);
    const pump = () => {
      while (sent < total) {
        const part = block.subarray(0, Math.min(block.length, total - sent));
        sent += part.length;
        if (!res.write(part)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', onClosed);
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/upload.xlsx`,
    sent: () => sent,
    closed,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function storageLinkingTo(url: string): CloudStorage {
  const unused = () => Promise.reject(new Error('not used by a ranged read'));
  return {
    downloadFile: unused,
    uploadFile: unused,
    deleteFile: unused,
    getTempFileURL: async ({ fileList }) => ({
      fileList: fileList.map(({ fileID }) => ({ fileID, tempFileURL: url, status: 0 })),
    }),
  };
}

const FILE_ID = 'cloud://env-1.bucket/roster-uploads/u.xlsx';

describe('a storage that answers a range with the whole file', () => {
  it('under the cap: the file is read once and served from memory', async () => {
    const served = await ignoringRanges(300 * 1024, true);
    try {
      const file = await openRangedFile(storageLinkingTo(served.url), FILE_ID, 1 * MB);
      expect(file.size).toBe(300 * 1024);
      expect((await file.read(200 * 1024, 100 * 1024)).length).toBe(100 * 1024);
      expect(file.bytesRead).toBe(300 * 1024);
    } finally {
      await served.stop();
    }
  });

  it.each([
    ['with a Content-Length', true],
    ['without a Content-Length (read until the cap)', false],
  ])('over the cap %s: ROSTER_FILE_TOO_LARGE, the connection dropped before the body was sent', async (_, length) => {
    // 200 MB offered, a 4 MB cap: without the cap the client would read all of it.
    const served = await ignoringRanges(200 * MB, length);
    try {
      const opened = openRangedFile(storageLinkingTo(served.url), FILE_ID, 4 * MB);
      await expect(opened).rejects.toBeInstanceOf(RosterFileError);
      await expect(opened).rejects.toMatchObject({ code: 'ROSTER_FILE_TOO_LARGE' });
      await served.closed;
      // What the socket buffers held beyond the cap, at most; far from the 200 MB offered.
      expect(served.sent()).toBeLessThan(40 * MB);
    } finally {
      await served.stop();
    }
  });
});
