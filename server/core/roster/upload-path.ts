/**
 * Where an admin's roster file is uploaded: a path the server chooses (`roster.reserveUpload`), so
 * that it can schedule the file's deletion before the file exists. An upload that no import takes
 * (the page closed, the phone lost its network between the upload and the import) is then deleted
 * by the sweep like any other scheduled deletion; the server SDK cannot list storage to find it
 * (https://developers.weixin.qq.com/minigame/en/dev/wxcloud/reference-server-api/storage).
 */
import { ROSTER_EXTENSIONS, ROSTER_UPLOAD_PREFIX } from '../../../miniprogram/shared/contracts';

/**
 * How long a reserved upload may wait for its import. An import deletes its upload itself once the
 * file is in chunks (minutes), so this only ever removes files nobody imported.
 */
export const UPLOAD_WINDOW_MS = 2 * 3600_000;

/**
 * `roster-uploads/<timestamp>-<nonce>-<safe name>`: the name keeps ASCII letters, digits, `.`, `_`
 * and `-` (anything else, and any run of dots, becomes `_`), at most 60 characters, and its spreadsheet extension, which
 * the function uses to tell CSV from Excel. The nonce (hex from the server's CSPRNG) keeps the path
 * unguessable: storage left at the platform's default lets any user read a file whose path they know
 * (the deploy sets PRIVATE, which is the real protection; this is depth).
 */
export function rosterUploadPath(fileName: string, now: number, nonce: string): string {
  const dot = fileName.lastIndexOf('.');
  const extension = dot > 0 ? fileName.slice(dot + 1).toLowerCase() : '';
  const base = (dot > 0 ? fileName.slice(0, dot) : fileName)
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/\.{2,}/g, '_') // `..` anywhere in a path is refused by the import (isRosterUpload)
    .slice(0, 60)
    .replace(/^[._]+|[._]+$/g, ''); // after the cut: a dot it leaves last would make `..` with the extension
  const safeExtension = ROSTER_EXTENSIONS.includes(extension) ? extension : 'xlsx';
  return `${ROSTER_UPLOAD_PREFIX}${now}-${nonce}-${base || 'roster'}.${safeExtension}`;
}

/**
 * The storage's file-ID prefix (`cloud://<env>.<bucket>/`), from a file ID the server got for a
 * path of its own: every file of the environment's storage shares it. Undefined when `fileID` does
 * not end with `cloudPath` (then no file ID can be derived, and nothing is guessed).
 */
export function fileIDPrefix(fileID: string, cloudPath: string): string | undefined {
  if (!fileID.startsWith('cloud://') || !fileID.endsWith(`/${cloudPath}`)) return undefined;
  return fileID.slice(0, fileID.length - cloudPath.length);
}
