/**
 * Roster import (名单导入), for roster admins: one function per action of the `roster` cloud
 * function, the device steps around them (choose a file, upload it under `roster-uploads/`), and
 * `driveRosterJob`, the client-driven continuation that calls `run` until the job has finished.
 */
import {
  ROSTER_UPLOAD_PREFIX,
  type ResponseOf,
  type RosterImportRequest,
  type RosterJobStatus,
} from '../../shared/contracts';
import { failure, type Result } from '../../shared/errors';
import { callCloud } from '../../services/cloud';
import { type ProgressListener, uploadFile } from './storage';

export { ROSTER_UPLOAD_PREFIX };
export const ROSTER_EXTENSIONS = ['xlsx', 'xls', 'csv'];

export function getRosterAccess(): Promise<ResponseOf<'roster', 'access'>> {
  return callCloud('roster', 'access', {});
}

/** Starts an import job (it already processes the first slice); `dryRun` validates and counts only. */
export function importRoster(request: RosterImportRequest): Promise<ResponseOf<'roster', 'import'>> {
  return callCloud('roster', 'import', request);
}

/** Processes the next slice of a running job; answers its status either way. */
export function runRosterJob(jobId: string): Promise<ResponseOf<'roster', 'run'>> {
  return callCloud('roster', 'run', { jobId });
}

export function getRosterStatus(jobId: string): Promise<ResponseOf<'roster', 'status'>> {
  return callCloud('roster', 'status', { jobId });
}

/** The empty template (.xlsx) behind a short-lived link. */
export function getRosterTemplate(): Promise<ResponseOf<'roster', 'template'>> {
  return callCloud('roster', 'template', {});
}

/** The job's error report (.xlsx: 行号 / 列 / 问题) behind a short-lived link. */
export function getRosterReport(jobId: string): Promise<ResponseOf<'roster', 'report'>> {
  return callCloud('roster', 'report', { jobId });
}

// ------------------------------------------------------------ the file

/** A file chosen on the device (a temporary local path: it stays valid while the mini-program runs). */
export interface RosterFile {
  name: string;
  path: string;
  size: number;
}

/** The chosen file, or `CANCELLED` (the user closed the picker) or `FILE_CHOOSE_FAILED`. */
export type ChooseResult = Result<{ file: RosterFile }>;

/** Picks one spreadsheet from a WeChat chat (the only file source a phone offers mini-programs). */
export function chooseRosterFile(): Promise<ChooseResult> {
  return new Promise((resolve) => {
    wx.chooseMessageFile({
      count: 1,
      type: 'file',
      extension: ROSTER_EXTENSIONS,
      success: (res) => {
        const chosen = res.tempFiles[0];
        if (chosen) resolve({ ok: true, file: { name: chosen.name, path: chosen.path, size: chosen.size } });
        else resolve(failure('CANCELLED'));
      },
      fail: (err) => resolve(failure(err.errMsg.indexOf('cancel') >= 0 ? 'CANCELLED' : 'FILE_CHOOSE_FAILED')),
    });
  });
}

/**
 * `roster-uploads/<timestamp>-<nonce>-<safe name>`: the name keeps ASCII letters, digits, `.`, `_`
 * and `-` (anything else becomes `_`), at most 60 characters, and its spreadsheet extension, which
 * the function uses to tell CSV from Excel. The nonce (16 hex digits) keeps the path unguessable:
 * storage left at the platform's default lets any user read a file whose path they know (the deploy
 * sets PRIVATE, which is the real protection; this is depth).
 */
export function rosterUploadPath(fileName: string, now: number = Date.now(), nonce: string = randomHex(16)): string {
  const dot = fileName.lastIndexOf('.');
  const extension = dot > 0 ? fileName.slice(dot + 1).toLowerCase() : '';
  const base = (dot > 0 ? fileName.slice(0, dot) : fileName)
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+|[._]+$/g, '')
    .slice(0, 60);
  const safeExtension = ROSTER_EXTENSIONS.indexOf(extension) >= 0 ? extension : 'xlsx';
  return `${ROSTER_UPLOAD_PREFIX}${now}-${nonce}-${base || 'roster'}.${safeExtension}`;
}

function randomHex(digits: number): string {
  let out = '';
  while (out.length < digits)
    out += Math.floor(Math.random() * 0x10000)
      .toString(16)
      .padStart(4, '0');
  return out.slice(0, digits);
}

/** Uploads a chosen file for one import (the function deletes it when that import is done). */
export function uploadRosterFile(file: RosterFile, onProgress: ProgressListener): Promise<Result<{ fileID: string }>> {
  return uploadFile(file.path, rosterUploadPath(file.name), onProgress);
}

// ------------------------------------------------------------ the job

export interface DriveOptions {
  /** How to wait between attempts (tests pass a faster one). */
  wait?: (ms: number) => Promise<void>;
  /** Wait between attempts when the job did not move or a call failed. Default 3 s. */
  pauseMs?: number;
  /** Consecutive answers without progress before giving up. Default 30 (≈ 90 s: past the server's 75 s lease). */
  maxStalls?: number;
  /** Consecutive failed calls (network) before giving up. Default 3. */
  maxRetries?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Answers worth asking again: no answer came (`NETWORK`), or the function failed on the way (`INTERNAL`). */
const RETRIED = ['NETWORK', 'INTERNAL'];

/**
 * Calls `run` until the job is no longer running, reporting every status. A call that fails on the
 * way (`NETWORK`, or `INTERNAL`: the job keeps its place) is retried; what the server refuses is
 * answered as is. When another
 * invocation holds the job (a slice still running, or one that died and left its lease), the job
 * does not move: it waits and asks again, and gives up after `maxStalls` such answers.
 */
export async function driveRosterJob(
  jobId: string,
  onStatus: (status: RosterJobStatus) => void,
  options: DriveOptions = {},
): Promise<ResponseOf<'roster', 'run'>> {
  const { wait = sleep, pauseMs = 3000, maxStalls = 30, maxRetries = 3 } = options;
  let retries = 0;
  let stalls = 0;
  let processed = -1;
  for (;;) {
    const res = await runRosterJob(jobId);
    if (!res.ok) {
      if (RETRIED.indexOf(res.code) < 0 || retries >= maxRetries) return res;
      retries += 1;
      await wait(pauseMs);
      continue;
    }
    retries = 0;
    onStatus(res);
    if (res.state !== 'running') return res;
    if (res.processed > processed) {
      processed = res.processed;
      stalls = 0;
      continue;
    }
    stalls += 1;
    if (stalls > maxStalls) return failure('ROSTER_JOB_STALLED');
    await wait(pauseMs);
  }
}
