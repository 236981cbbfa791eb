/**
 * The device's file APIs for page tests against a REAL sandbox (companion of ./bridge.ts, which
 * bridges `wx.request` and `wx.cloud.callFunction`):
 *
 * - `wx.chooseMessageFile` answers the file a test put in its temp dir (`bridge.choose(...)`);
 * - `wx.uploadFile` reads the local file and POSTs it as multipart/form-data with Node's `http`,
 *   as the client runtime does, reporting progress per chunk; `wx.cloud.uploadFile` (cloud mode)
 *   sends the same bytes into the sandbox's storage, as the device's cloud client would;
 * - `wx.downloadFile` really GETs the link into the temp dir; `wx.openDocument` is recorded with
 *   the bytes it was given.
 *
 * Typed without the mini-program typings on purpose: this file is also checked by the Node config.
 */
import { config } from '../../miniprogram/config';

const fs = require('fs') as typeof import('fs');
const http = require('http') as typeof import('http');
const os = require('os') as typeof import('os');
const path = require('path') as typeof import('path');

export interface ChosenFile {
  name: string;
  path: string;
  size: number;
}

export interface UploadRecord {
  via: 'uploadFile' | 'cloud.uploadFile';
  /** The cloud path the file went to. */
  cloudPath: string;
  /** The local file the page sent. */
  filePath: string;
  /** The form field (`wx.uploadFile`'s `name`). */
  field?: string;
  statusCode: number;
  fileID?: string;
}

export interface OpenedDocument {
  filePath: string;
  fileType?: string;
  showMenu?: boolean;
  content: Buffer;
}

export interface FileBridge {
  /** The temp dir: write chosen files here (see `writeFile`); downloads land here too. */
  dir: string;
  /** Writes a file into the temp dir as a chat file would arrive; answers what the picker returns. */
  writeFile(name: string, content: Buffer): ChosenFile;
  /** What the next `wx.chooseMessageFile` answers: a file, or the user closing the picker. */
  choose(next: ChosenFile | 'cancel'): void;
  /** Options of every `wx.chooseMessageFile` call. */
  chooseCalls: Array<Record<string, unknown>>;
  uploads: UploadRecord[];
  /** Every progress value reported to the page. */
  progress: number[];
  downloads: Array<{ url: string; statusCode: number; tempFilePath: string }>;
  opened: OpenedDocument[];
  /**
   * Holds every upload after its first chunk (progress reported, rest not sent) until `release()`:
   * lets a test look at the page mid-upload.
   */
  holdUploads(): { release(): void };
  /** Removes the temp dir. */
  cleanup(): void;
}

type Callback<T> = ((res: T) => void) | undefined;

interface UploadOption {
  url?: string;
  cloudPath?: string;
  filePath: string;
  name?: string;
  header?: Record<string, string>;
  success?: Callback<Record<string, unknown>>;
  fail?: Callback<{ errMsg: string }>;
  complete?: Callback<{ errMsg: string }>;
}

interface ProgressUpdate {
  progress: number;
  totalBytesSent: number;
  totalBytesExpectedToSend: number;
}

/** The `UploadTask` both upload APIs return. */
interface UploadTask {
  onProgressUpdate(listener: (res: ProgressUpdate) => void): void;
  offProgressUpdate(listener: (res: ProgressUpdate) => void): void;
  abort(): void;
}

const CHUNKS = 4;

/** POSTs `body` in CHUNKS writes, reporting progress after each; `gate` may hold it after the first. */
function postInChunks(
  url: string,
  headers: Record<string, string | number>,
  body: Buffer,
  onProgress: (sent: number) => void,
  gate: () => Promise<void>,
): Promise<{ statusCode: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const size = Math.max(1, Math.ceil(body.length / CHUNKS));
    const write = async () => {
      for (let sent = 0; sent < body.length;) {
        const chunk = body.subarray(sent, sent + size);
        await new Promise<void>((done, failed) => req.write(chunk, (err) => (err ? failed(err) : done())));
        sent += chunk.length;
        onProgress(sent);
        if (sent === chunk.length) await gate();
      }
      req.end();
    };
    write().catch(reject);
  });
}

/** The multipart/form-data body `wx.uploadFile` sends: one file part named `field`. */
function multipart(field: string, fileName: string, content: Buffer): { type: string; body: Buffer } {
  const boundary = `----WxUploadBoundary${Math.random().toString(16).slice(2)}`;
  const head =
    `--${boundary}\r\n` +
    `Content-Disposition: form-data; name="${field}"; filename="${fileName}"\r\n` +
    'Content-Type: application/octet-stream\r\n\r\n';
  return {
    type: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([Buffer.from(head), content, Buffer.from(`\r\n--${boundary}--\r\n`)]),
  };
}

function getBytes(url: string): Promise<{ statusCode: number; content: Buffer }> {
  return new Promise((resolve, reject) => {
    // Links may carry raw non-ASCII path segments (the SDK encodes them later); Node wants them encoded.
    const target = /[^\x20-\x7e]/.test(url) ? encodeURI(url) : url;
    http
      .get(target, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, content: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Installs the doubles on `global.wx` (after `installBridge()`, whose `wx.cloud` it extends). */
export function installFileBridge(): FileBridge {
  const wx = (globalThis as unknown as { wx: Record<string, unknown> }).wx;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wx-files-'));
  let next: ChosenFile | 'cancel' | undefined;
  let hold: Promise<void> | undefined;
  let downloads = 0;

  const bridge: FileBridge = {
    dir,
    writeFile(name, content) {
      const file = path.join(dir, `chat-${Date.now()}-${Math.random().toString(16).slice(2, 8)}`, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
      return { name, path: file, size: content.length };
    },
    choose(file) {
      next = file;
    },
    chooseCalls: [],
    uploads: [],
    progress: [],
    downloads: [],
    opened: [],
    holdUploads() {
      let release = () => {};
      hold = new Promise((resolve) => {
        release = () => {
          hold = undefined;
          resolve();
        };
      });
      return { release };
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  /** One upload into the sandbox's storage route, answered as the calling API answers. */
  function upload(via: UploadRecord['via'], option: UploadOption, cloudPath: string, url: string): UploadTask {
    const listeners = new Set<(res: ProgressUpdate) => void>();
    const record: UploadRecord = { via, cloudPath, filePath: option.filePath, field: option.name, statusCode: 0 };
    bridge.uploads.push(record);
    const start = async () => {
      const { type, body } = multipart(
        option.name ?? 'file',
        path.basename(option.filePath),
        fs.readFileSync(option.filePath),
      );
      // wx.uploadFile sends the page's headers; the device's cloud client sends the user it runs as.
      const identity = via === 'uploadFile' ? (option.header ?? {}) : { 'X-WX-OPENID': config.sandboxOpenid };
      const answer = await postInChunks(
        url,
        { ...identity, 'content-type': type },
        body,
        (sent) => {
          const update = {
            progress: Math.round((sent / body.length) * 100),
            totalBytesSent: sent,
            totalBytesExpectedToSend: body.length,
          };
          bridge.progress.push(update.progress);
          listeners.forEach((listener) => listener(update));
        },
        () => hold ?? Promise.resolve(),
      );
      record.statusCode = answer.statusCode;
      if (answer.statusCode === 200) record.fileID = (JSON.parse(answer.text) as { fileID: string }).fileID;
      return answer;
    };
    // Listeners are attached after the call returns the task: the transfer starts on the next tick.
    setTimeout(() => {
      start().then(
        ({ statusCode, text }) => {
          if (via === 'uploadFile') {
            option.success?.({ data: text, statusCode, errMsg: 'uploadFile:ok' });
            option.complete?.({ errMsg: 'uploadFile:ok' });
            return;
          }
          const fileID = record.fileID;
          if (fileID) option.success?.({ fileID, statusCode, errMsg: 'cloud.uploadFile:ok' });
          else option.fail?.({ errMsg: `cloud.uploadFile:fail ${text}` });
          option.complete?.({ errMsg: fileID ? 'cloud.uploadFile:ok' : 'cloud.uploadFile:fail' });
        },
        (err: Error) => {
          option.fail?.({ errMsg: `${via}:fail ${err.message}` });
          option.complete?.({ errMsg: `${via}:fail` });
        },
      );
    }, 0);
    return {
      onProgressUpdate: (listener) => void listeners.add(listener),
      offProgressUpdate: (listener) => void listeners.delete(listener),
      abort() {},
    };
  }

  wx.chooseMessageFile = (option: {
    success?: Callback<{ tempFiles: Array<ChosenFile & { time: number; type: string }>; errMsg: string }>;
    fail?: Callback<{ errMsg: string }>;
  }) => {
    bridge.chooseCalls.push({ ...option });
    const chosen = next;
    next = undefined;
    setTimeout(() => {
      if (!chosen || chosen === 'cancel') option.fail?.({ errMsg: 'chooseMessageFile:fail cancel' });
      else
        option.success?.({
          tempFiles: [{ ...chosen, time: Math.floor(Date.now() / 1000), type: 'file' }],
          errMsg: 'chooseMessageFile:ok',
        });
    }, 0);
  };

  wx.uploadFile = (option: UploadOption & { url: string }) => {
    const cloudPath = new URL(option.url).searchParams.get('cloudPath') ?? '';
    return upload('uploadFile', option, cloudPath, option.url);
  };

  const cloud = (wx.cloud ?? {}) as Record<string, unknown>;
  cloud.uploadFile = (option: UploadOption & { cloudPath: string }) =>
    upload(
      'cloud.uploadFile',
      option,
      option.cloudPath,
      `${config.sandboxUrl}/sandbox/storage/upload?cloudPath=${encodeURIComponent(option.cloudPath)}`,
    );
  wx.cloud = cloud;

  wx.downloadFile = (option: {
    url: string;
    success?: Callback<{ tempFilePath: string; statusCode: number; errMsg: string }>;
    fail?: Callback<{ errMsg: string }>;
  }) => {
    getBytes(option.url).then(
      ({ statusCode, content }) => {
        downloads += 1;
        const tempFilePath = path.join(dir, `download-${downloads}${path.extname(new URL(option.url).pathname)}`);
        fs.writeFileSync(tempFilePath, content);
        bridge.downloads.push({ url: option.url, statusCode, tempFilePath });
        option.success?.({ tempFilePath, statusCode, errMsg: 'downloadFile:ok' });
      },
      (err: Error) => option.fail?.({ errMsg: `downloadFile:fail ${err.message}` }),
    );
    return { abort() {}, onProgressUpdate() {}, offProgressUpdate() {} };
  };

  wx.openDocument = (option: {
    filePath: string;
    fileType?: string;
    showMenu?: boolean;
    success?: Callback<{ errMsg: string }>;
    fail?: Callback<{ errMsg: string }>;
  }) => {
    setTimeout(() => {
      if (!fs.existsSync(option.filePath)) {
        option.fail?.({ errMsg: 'openDocument:fail file not found' });
        return;
      }
      bridge.opened.push({
        filePath: option.filePath,
        fileType: option.fileType,
        showMenu: option.showMenu,
        content: fs.readFileSync(option.filePath),
      });
      option.success?.({ errMsg: 'openDocument:ok' });
    }, 0);
  };

  return bridge;
}
