/**
 * Files between the device and cloud storage: upload a local file (with progress) and open a
 * document behind a temporary link. Besides services/cloud.ts, the only module that touches
 * `wx.cloud`. In sandbox mode uploads go to the sandbox's storage route as multipart/form-data,
 * which is what `wx.uploadFile` sends.
 */
import { config, sandboxHeaders } from '../../config';
import { failure, type Result } from '../../shared/errors';
import { ensureCloud } from '../../services/cloud';
import { clientMode, RELEASE_SANDBOX_MESSAGE } from '../../services/mode';

/** Upload progress, 0–100. */
export type ProgressListener = (percent: number) => void;

function clampPercent(progress: number): number {
  return Math.max(0, Math.min(100, Math.round(progress)));
}

function uploadToCloud(localPath: string, cloudPath: string, onProgress: ProgressListener): Promise<string> {
  ensureCloud();
  return new Promise((resolve, reject) => {
    const task = wx.cloud.uploadFile({
      cloudPath,
      filePath: localPath,
      success: (res) => (res.fileID ? resolve(res.fileID) : reject(new Error('no fileID in the answer'))),
      fail: (err) => reject(new Error(err.errMsg)),
    });
    task.onProgressUpdate((res) => onProgress(clampPercent(res.progress)));
  });
}

/** The sandbox's `POST /sandbox/storage/upload?cloudPath=` answers `{ fileID }` (as text: uploadFile does not parse). */
function fileIdOf(statusCode: number, data: string): string {
  if (statusCode !== 200) throw new Error(`sandbox storage answered ${statusCode}: ${data}`);
  const fileID = (JSON.parse(data) as { fileID?: unknown }).fileID;
  if (typeof fileID !== 'string' || !fileID) throw new Error('no fileID in the answer');
  return fileID;
}

function uploadToSandbox(localPath: string, cloudPath: string, onProgress: ProgressListener): Promise<string> {
  return new Promise((resolve, reject) => {
    const task = wx.uploadFile({
      url: `${config.sandboxUrl}/sandbox/storage/upload?cloudPath=${encodeURIComponent(cloudPath)}`,
      filePath: localPath,
      name: 'file',
      // The sandbox's storage permission decides as the cloud's does: the file becomes this user's.
      header: { 'X-WX-OPENID': config.sandboxOpenid, ...sandboxHeaders() },
      success: (res) => {
        try {
          resolve(fileIdOf(res.statusCode, res.data));
        } catch (err) {
          reject(err);
        }
      },
      fail: (err) => reject(new Error(err.errMsg)),
    });
    task.onProgressUpdate((res) => onProgress(clampPercent(res.progress)));
  });
}

/** Uploads a local (temporary) file to `cloudPath` in cloud storage; answers its file ID. Never throws. */
export async function uploadFile(
  localPath: string,
  cloudPath: string,
  onProgress: ProgressListener = () => undefined,
): Promise<Result<{ fileID: string }>> {
  try {
    const mode = clientMode();
    if (!mode) return failure('NOT_CONFIGURED', RELEASE_SANDBOX_MESSAGE);
    const upload = mode === 'sandbox' ? uploadToSandbox : uploadToCloud;
    return { ok: true, fileID: await upload(localPath, cloudPath, onProgress) };
  } catch (err) {
    console.warn('[storage] upload failed:', (err as Error).message);
    return failure('FILE_UPLOAD_FAILED');
  }
}

function download(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    wx.downloadFile({
      url,
      success: (res) => {
        if (res.statusCode === 200) resolve(res.tempFilePath);
        else reject(new Error(`download answered ${res.statusCode}`));
      },
      fail: (err) => reject(new Error(err.errMsg)),
    });
  });
}

function openXlsx(filePath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    wx.openDocument({
      filePath,
      fileType: 'xlsx',
      showMenu: true,
      success: () => resolve(),
      fail: (err) => reject(new Error(err.errMsg)),
    });
  });
}

/**
 * Downloads a spreadsheet behind a temporary link and opens it in WeChat's document viewer (its
 * menu lets the user forward or save it). Never throws.
 */
export async function openRemoteDocument(tempFileURL: string): Promise<Result> {
  let filePath: string;
  try {
    filePath = await download(tempFileURL);
  } catch (err) {
    console.warn('[storage] download failed:', (err as Error).message);
    return failure('FILE_DOWNLOAD_FAILED');
  }
  try {
    await openXlsx(filePath);
    return { ok: true };
  } catch (err) {
    console.warn('[storage] openDocument failed:', (err as Error).message);
    return failure('FILE_OPEN_FAILED');
  }
}
