/**
 * Roster import (名单导入), for roster admins: one function per action of the `roster` cloud
 * function, the device steps around them (choose a file, upload it under `roster-uploads/`), and
 * `driveRosterJob`, the client-driven continuation that calls `run` until the job has finished.
 */
import {
  ROSTER_EXTENSIONS,
  type ResponseOf,
  type RosterImportRequest,
  type RosterJobStatus,
} from '../../shared/contracts';
import { failure, type Result } from '../../shared/errors';
import { callCloud } from '../../services/cloud';
import { type ProgressListener, uploadFile } from './storage';

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
      extension: [...ROSTER_EXTENSIONS],
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
 * Uploads a chosen file for one import: the function first names the place (`reserveUpload`, with
 * a random part) and schedules the file's deletion, so a file no import takes (the page closed
 * between upload and import) is deleted all the same; the import deletes it as soon as it is read.
 */
export async function uploadRosterFile(
  file: RosterFile,
  onProgress: ProgressListener,
): Promise<Result<{ fileID: string }>> {
  const reserved = await callCloud('roster', 'reserveUpload', { fileName: file.name });
  if (!reserved.ok) return reserved;
  return uploadFile(file.path, reserved.cloudPath, onProgress);
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
