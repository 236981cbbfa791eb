/**
 * The storage calls of wx-server-sdk the functions use (cloud.downloadFile etc.), typed as they
 * answer, and a delete that says which files it could not delete instead of reporting it per file
 * and resolving anyway (the SDK's `deleteFile` resolves with a status per file).
 */
import { InternalError, StorageError } from '../core/errors';

export interface CloudStorage {
  downloadFile(options: { fileID: string }): Promise<{ fileContent: Buffer }>;
  uploadFile(options: { cloudPath: string; fileContent: Buffer }): Promise<{ fileID: string }>;
  getTempFileURL(options: { fileList: { fileID: string; maxAge: number }[] }): Promise<{
    fileList: { fileID: string; tempFileURL: string; status: number }[];
  }>;
  deleteFile(options: { fileList: string[] }): Promise<{
    fileList?: { fileID: string; status: number; errMsg?: string }[];
  }>;
}

/** The SDK's status for a file that does not exist (TCB_ERR_CODE.STORAGE_FILE_NONEXIST): already gone. */
export const FILE_NOT_FOUND_STATUS = -503003;

/** The SDK's rejection for a file that does not exist (errCode -503003, or the service's code name). */
export function isFileNotFound(err: unknown): boolean {
  const { errCode, errMsg, message, code } = (err ?? {}) as Record<string, unknown>;
  if (errCode === FILE_NOT_FOUND_STATUS) return true;
  return /STORAGE_FILE_NONEXIST|not exist/i.test(
    [errMsg, message, code].filter((v) => typeof v === 'string').join(' '),
  );
}

/**
 * Deletes `fileIDs` in one request; answers those the storage did not delete and why (a missing
 * file counts as deleted; a file the answer does not mention was not deleted).
 */
export async function deleteFilesReporting(
  storage: CloudStorage,
  fileIDs: readonly string[],
): Promise<{ failed: string[]; detail: string }> {
  if (fileIDs.length === 0) return { failed: [], detail: '' };
  const res = await storage.deleteFile({ fileList: [...fileIDs] });
  const answered = new Map((res.fileList ?? []).map((f) => [f.fileID, f]));
  const failed = fileIDs.filter((id) => {
    const status = answered.get(id)?.status;
    return status !== 0 && status !== FILE_NOT_FOUND_STATUS;
  });
  const statuses = failed.map((id) => answered.get(id)?.status ?? 'no answer').join(', ');
  return { failed, detail: `${failed.length} of ${fileIDs.length} file(s) not deleted (status ${statuses})` };
}

/**
 * Deletes one file: 'deleted' when it was there, 'missing' when there was nothing to delete; throws
 * `InternalError` when the storage did not delete it.
 */
export async function deleteOneFile(storage: CloudStorage, fileID: string): Promise<'deleted' | 'missing'> {
  let res: Awaited<ReturnType<CloudStorage['deleteFile']>>;
  try {
    res = await storage.deleteFile({ fileList: [fileID] });
  } catch (err) {
    // The SDK may reject for a missing file instead of answering its status.
    if (isFileNotFound(err)) return 'missing';
    throw err;
  }
  const status = (res.fileList ?? []).find((f) => f.fileID === fileID)?.status;
  if (status === 0) return 'deleted';
  if (status === FILE_NOT_FOUND_STATUS) return 'missing';
  throw new InternalError(`1 of 1 file(s) not deleted (status ${status ?? 'no answer'})`);
}

/** Deletes `fileIDs`; throws `InternalError` naming how many could not be deleted (a missing file counts as deleted). */
export async function deleteFiles(storage: CloudStorage, fileIDs: readonly string[]): Promise<void> {
  const { failed, detail } = await deleteFilesReporting(storage, fileIDs);
  if (failed.length > 0) throw new InternalError(detail);
}

/**
 * A short-lived download link for `fileID` (10 minutes by default). A file the storage could not
 * sign is an error (FILE_LINK_FAILED), never an empty link answered as success: the SDK reports it
 * per file, in `status` (https://developers.weixin.qq.com/miniprogram/dev/wxcloudservice/wxcloud/reference-sdk-api/storage/Cloud.getTempFileURL.html).
 */
export async function temporaryUrl(storage: CloudStorage, fileID: string, maxAge = 600): Promise<string> {
  const res = await storage.getTempFileURL({ fileList: [{ fileID, maxAge }] });
  const answer = res.fileList.find((f) => f.fileID === fileID) ?? res.fileList[0];
  if (!answer || answer.status !== 0 || !answer.tempFileURL) {
    throw new StorageError('FILE_LINK_FAILED', `getTempFileURL answered status ${answer?.status ?? 'nothing'}`);
  }
  return answer.tempFileURL;
}
