/**
 * Visible best-effort work and file deletion that says what failed. (The record-and-retry path of
 * FileCleanup runs against the sandbox in test/integration/roster-faults.test.ts.)
 */
import { InternalError, StorageError } from '../../../server/core/errors';
import { bestEffort } from '../../../server/lib/cleanup';
import {
  deleteFiles,
  deleteFilesReporting,
  deleteOneFile,
  FILE_NOT_FOUND_STATUS,
  temporaryUrl,
  type CloudStorage,
} from '../../../server/lib/storage';

function logger() {
  const lines: { message: string; fields?: Record<string, unknown> }[] = [];
  return {
    lines,
    info: () => undefined,
    error: (message: string, fields?: Record<string, unknown>) => void lines.push({ message, fields }),
  };
}

describe('bestEffort', () => {
  it('answers true and logs nothing when the work succeeds', async () => {
    const log = logger();
    await expect(bestEffort(log, 'releasing the lease', async () => 'done')).resolves.toBe(true);
    expect(log.lines).toEqual([]);
  });

  it('answers false and logs the work, its fields and the error when it fails, never throwing', async () => {
    const log = logger();
    const failing = async () => {
      throw new Error('database down');
    };
    await expect(bestEffort(log, 'releasing the lease', failing, { job: 'j1' })).resolves.toBe(false);
    expect(log.lines).toEqual([
      { message: 'releasing the lease failed', fields: { job: 'j1', error: 'Error', detail: 'database down' } },
    ]);
  });
});

describe('deleteFiles', () => {
  /** The SDK's deleteFile answer: a status per file (0 ok, -503003 not found, others failed). */
  const storage = (statuses: Record<string, number>): CloudStorage & { calls: string[][] } => {
    const calls: string[][] = [];
    return {
      calls,
      deleteFile: async ({ fileList }) => {
        calls.push(fileList);
        return {
          fileList: fileList.filter((id) => id in statuses).map((fileID) => ({ fileID, status: statuses[fileID]! })),
        };
      },
      downloadFile: async () => ({ fileContent: Buffer.alloc(0) }),
      uploadFile: async () => ({ fileID: '' }),
      getTempFileURL: async () => ({ fileList: [] }),
    };
  };

  it('resolves when every file is deleted or already gone, and asks nothing for an empty list', async () => {
    const s = storage({ a: 0, b: FILE_NOT_FOUND_STATUS });
    await expect(deleteFiles(s, ['a', 'b'])).resolves.toBeUndefined();
    await deleteFiles(s, []);
    expect(s.calls).toEqual([['a', 'b']]);
  });

  it('throws naming how many failed, with their statuses, when the SDK resolved with failures', async () => {
    await expect(deleteFiles(storage({ a: 0, b: -503001 }), ['a', 'b'])).rejects.toThrow(
      new InternalError('1 of 2 file(s) not deleted (status -503001)'),
    );
    // A file the answer does not mention was not deleted either.
    await expect(deleteFiles(storage({}), ['a'])).rejects.toThrow('1 of 1 file(s) not deleted (status no answer)');
  });

  it('deleteFilesReporting names each file not deleted (what FileCleanup.deleteMany records for the sweep)', async () => {
    const s = storage({ a: 0, b: -503001, c: FILE_NOT_FOUND_STATUS });
    await expect(deleteFilesReporting(s, ['a', 'b', 'c', 'd'])).resolves.toEqual({
      failed: ['b', 'd'],
      detail: '2 of 4 file(s) not deleted (status -503001, no answer)',
    });
    await expect(deleteFilesReporting(s, ['a'])).resolves.toMatchObject({ failed: [] });
    await expect(deleteFilesReporting(s, [])).resolves.toEqual({ failed: [], detail: '' });
    expect(s.calls).toEqual([['a', 'b', 'c', 'd'], ['a']]);
  });

  it('deleteOneFile says whether there was a file (what keeps a reservation whose upload has not landed)', async () => {
    const s = storage({ a: 0, b: FILE_NOT_FOUND_STATUS, c: -503001 });
    await expect(deleteOneFile(s, 'a')).resolves.toBe('deleted');
    await expect(deleteOneFile(s, 'b')).resolves.toBe('missing');
    await expect(deleteOneFile(s, 'c')).rejects.toThrow(
      new InternalError('1 of 1 file(s) not deleted (status -503001)'),
    );
    await expect(deleteOneFile(s, 'd')).rejects.toThrow('1 of 1 file(s) not deleted (status no answer)');
    // The SDK rejecting for a missing file (rather than answering its status) is a missing file too.
    const rejecting = (err: unknown): CloudStorage => ({ ...s, deleteFile: async () => Promise.reject(err) });
    await expect(deleteOneFile(rejecting({ errCode: FILE_NOT_FOUND_STATUS }), 'x')).resolves.toBe('missing');
    await expect(deleteOneFile(rejecting({ errMsg: 'STORAGE_FILE_NONEXIST' }), 'x')).resolves.toBe('missing');
    await expect(deleteOneFile(rejecting(new Error('network down')), 'x')).rejects.toThrow('network down');
  });
});

describe('temporaryUrl', () => {
  const storage = (answer: { fileID: string; tempFileURL: string; status: number }[]): CloudStorage => ({
    deleteFile: async () => ({ fileList: [] }),
    downloadFile: async () => ({ fileContent: Buffer.alloc(0) }),
    uploadFile: async () => ({ fileID: '' }),
    getTempFileURL: async () => ({ fileList: answer }),
  });

  it('answers the link the storage signed', async () => {
    await expect(
      temporaryUrl(storage([{ fileID: 'cloud://a', tempFileURL: 'https://x/a', status: 0 }]), 'cloud://a'),
    ).resolves.toBe('https://x/a');
  });

  it.each([
    ['a status other than 0', [{ fileID: 'cloud://a', tempFileURL: '', status: -503003 }], 'status -503003'],
    ['status 0 without a link', [{ fileID: 'cloud://a', tempFileURL: '', status: 0 }], 'status 0'],
    ['no answer for the file', [], 'status nothing'],
  ])(
    'refuses with FILE_LINK_FAILED, logged, on %s (never an empty link answered as success)',
    async (_, answer, detail) => {
      const err = await temporaryUrl(storage(answer), 'cloud://a').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect(err).toMatchObject({ code: 'FILE_LINK_FAILED', logged: true });
      expect((err as Error).message).toContain(detail);
    },
  );
});
