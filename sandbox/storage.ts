/**
 * Cloud storage emulation: files live under `<dataDir>/storage/`, file IDs look like the cloud's
 * (`cloud://<env>.<bucket>/<path>`), and download URLs are short-lived, HMAC-signed links served
 * by the sandbox itself.
 */
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import { BadRequest } from './http-util';

/** Windows device names: `CON`, `nul.txt` and the like name a device there, not a file. */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;
/** Longest segment a file system takes (bytes), and longest cloud path (COS keys go to 850 bytes). */
const MAX_SEGMENT_BYTES = 255;
const MAX_PATH_BYTES = 850;

/**
 * A cloud path the sandbox may store (leading slashes dropped): `/`-separated segments, none empty,
 * `.` or `..`, and no backslash, `:` or control character anywhere (on Windows a backslash separates
 * and `C:` roots a path; NUL ends one). Also refused, for what Windows makes of them: a segment that
 * ends in a dot or a space (Windows drops those: `.. ` would be `..`), a character Windows refuses
 * in names (`< > " | ? *`), a device name (`CON`, `nul.txt`), and names longer than a file system
 * or COS takes. Anything else is refused, not repaired.
 */
export function safeCloudPath(cloudPath: string): string | undefined {
  const trimmed = cloudPath.replace(/^\/+/, '');
  if (!trimmed || Buffer.byteLength(trimmed) > MAX_PATH_BYTES) return undefined;
  if ([...trimmed].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f || '\\:<>"|?*'.includes(c))) {
    return undefined;
  }
  const segments = trimmed.split('/');
  const bad = (segment: string) =>
    segment === '' ||
    /[. ]$/.test(segment) ||
    WINDOWS_DEVICE.test(segment) ||
    Buffer.byteLength(segment) > MAX_SEGMENT_BYTES;
  return segments.some(bad) ? undefined : trimmed;
}

/**
 * The file a cloud path names under `root`, with the platform's path rules (`p`: path.win32 or
 * path.posix), or undefined when it is not a safe cloud path or resolves outside `root`.
 */
export function fileUnder(root: string, cloudPath: string, p: path.PlatformPath = path): string | undefined {
  const safe = safeCloudPath(cloudPath);
  if (!safe) return undefined;
  const base = p.resolve(root);
  const file = p.resolve(base, ...safe.split('/'));
  const rel = p.relative(base, file);
  if (!rel || rel === '..' || rel.startsWith(`..${p.sep}`) || p.isAbsolute(rel)) return undefined;
  return file;
}

/**
 * A `Range` header against a file of `size` bytes, as COS answers it (one range only:
 * `bytes=first-last`, `bytes=first-`, `bytes=-suffix`; see
 * https://intl.cloud.tencent.com/document/api/436/7753): the inclusive byte span, `undefined` when
 * there is no usable range (the whole file is sent), 'unsatisfiable' when it starts past the end.
 */
export function byteRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec((header ?? '').trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const first = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (first >= size) return 'unsatisfiable';
  if (last < first) return undefined;
  return [first, last];
}

export class Storage {
  readonly root: string;
  private readonly key = crypto.randomBytes(32);
  /** Who uploaded each file from a client (its `_openid`); files the server side wrote have none. */
  private readonly ownersFile: string;
  /** Where a file is written before it is moved into place: beside the root, so a name of 255 bytes has room. */
  private readonly tmpDir: string;
  private owners: Record<string, string>;

  constructor(
    dataDir: string,
    private readonly env: string,
    private readonly baseUrl: () => string,
    private readonly now: () => number,
  ) {
    this.root = path.join(dataDir, 'storage');
    fs.mkdirSync(this.root, { recursive: true });
    this.ownersFile = path.join(dataDir, 'storage-owners.json');
    this.tmpDir = path.join(dataDir, 'storage-tmp');
    fs.mkdirSync(this.tmpDir, { recursive: true });
    // No prototype: a file stored at `__proto__` or `constructor` has an owner like any other.
    this.owners = Object.assign(
      Object.create(null) as Record<string, string>,
      fs.existsSync(this.ownersFile) ? (JSON.parse(fs.readFileSync(this.ownersFile, 'utf8')) as object) : {},
    );
  }

  ownerOf(cloudPath: string): string | undefined {
    return Object.prototype.hasOwnProperty.call(this.owners, cloudPath) ? this.owners[cloudPath] : undefined;
  }

  private setOwner(cloudPath: string, owner: string | undefined): void {
    if (owner === this.ownerOf(cloudPath)) return;
    if (owner === undefined) delete this.owners[cloudPath];
    else this.owners[cloudPath] = owner;
    const tmp = `${this.ownersFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.owners));
    fs.renameSync(tmp, this.ownersFile);
  }

  get bucket(): string {
    return `${this.env}-sandbox`;
  }

  fileId(cloudPath: string): string {
    return `cloud://${this.env}.${this.bucket}/${cloudPath}`;
  }

  /** The cloud path of a file ID of this environment, or undefined. */
  pathOf(fileId: string): string | undefined {
    const prefix = `cloud://${this.env}.${this.bucket}/`;
    if (!fileId.startsWith(prefix)) return undefined;
    return this.safePath(fileId.slice(prefix.length));
  }

  /** The cloud path as stored, or undefined when it could name anything outside the storage root. */
  safePath(cloudPath: string): string | undefined {
    return safeCloudPath(cloudPath);
  }

  /** The file a cloud path names; a path the sandbox does not store is the caller's mistake (400, no file path said). */
  private file(cloudPath: string): string {
    const file = fileUnder(this.root, cloudPath);
    if (!file) throw new BadRequest(`refused cloud path: ${JSON.stringify(cloudPath.slice(0, 200))}`);
    return file;
  }

  /** Whether a stored file is at `file` (a folder that holds others' files is none). */
  private static isFile(file: string): boolean {
    try {
      return fs.statSync(file).isFile();
    } catch {
      return false; // none there, or a file where the path needs a folder (ENOTDIR)
    }
  }

  /** Writes a file; `owner` is the uploading user's openid for a client upload, none for the server side. */
  write(cloudPath: string, content: Buffer, owner?: string): string {
    const file = this.file(cloudPath);
    // Not `${file}.tmp`: a name at the 255-byte limit would have no room for the suffix.
    const tmp = path.join(this.tmpDir, `${process.pid}-${crypto.randomBytes(8).toString('hex')}`);
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      // Made again here too: a data dir deleted by hand under a running sandbox leaves it missing.
      fs.mkdirSync(this.tmpDir, { recursive: true });
      fs.writeFileSync(tmp, content);
      fs.renameSync(tmp, file);
    } catch (err) {
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        // Never written: its folder could not be made.
      }
      // A file where the path needs a folder (`a.txt/b`), or a folder where it names a file: the
      // local disk cannot hold both (COS keys can); said without the data folder's path.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENAMETOOLONG') {
        throw new BadRequest(
          `cloud path ${JSON.stringify(cloudPath.slice(0, 200))} clashes with a stored file (${code})`,
          409,
        );
      }
      throw err;
    }
    this.setOwner(cloudPath, owner);
    return this.fileId(cloudPath);
  }

  read(cloudPath: string): Buffer | undefined {
    const file = this.file(cloudPath);
    return Storage.isFile(file) ? fs.readFileSync(file) : undefined;
  }

  /** The stored size in bytes, or undefined when there is no such file. */
  sizeOf(cloudPath: string): number | undefined {
    const file = this.file(cloudPath);
    return Storage.isFile(file) ? fs.statSync(file).size : undefined;
  }

  /** `length` bytes from `offset` (fewer at the end), read without loading the whole file. */
  readRange(cloudPath: string, offset: number, length: number): Buffer | undefined {
    const file = this.file(cloudPath);
    if (!Storage.isFile(file)) return undefined;
    const fd = fs.openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(Math.max(0, length));
      const read = fs.readSync(fd, buffer, 0, buffer.length, offset);
      return buffer.subarray(0, read);
    } finally {
      fs.closeSync(fd);
    }
  }

  exists(cloudPath: string): boolean {
    return Storage.isFile(this.file(cloudPath));
  }

  delete(cloudPath: string): boolean {
    const file = this.file(cloudPath);
    if (!Storage.isFile(file)) return false;
    fs.unlinkSync(file);
    this.setOwner(cloudPath, undefined);
    return true;
  }

  private sign(cloudPath: string, expires: number): string {
    return crypto.createHmac('sha256', this.key).update(`${cloudPath}\n${expires}`).digest('hex').slice(0, 32);
  }

  /** A temp URL valid for `maxAgeSeconds` (the SDK encodeURIs it, so the path goes in raw). */
  tempUrl(cloudPath: string, maxAgeSeconds: number): string {
    const expires = Math.floor(this.now() / 1000) + Math.max(1, Math.min(maxAgeSeconds, 86400));
    return `${this.baseUrl()}/files/${cloudPath}?t=${expires}&sign=${this.sign(cloudPath, expires)}`;
  }

  /** Checks a temp URL's signature and expiry; returns the cloud path it grants. */
  verify(cloudPath: string, expires: string | null, sign: string | null): boolean {
    if (!expires || !sign || !/^\d+$/.test(expires)) return false;
    if (Number(expires) < Math.floor(this.now() / 1000)) return false;
    const expected = this.sign(cloudPath, Number(expires));
    return expected.length === sign.length && crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(sign));
  }

  /** Upload tokens for the SDK's two-step upload (metadata, then PUT). */
  uploadToken(cloudPath: string): string {
    const expires = Math.floor(this.now() / 1000) + 600;
    return `${expires}.${this.sign(`put:${cloudPath}`, expires)}`;
  }

  verifyUploadToken(cloudPath: string, token: string): boolean {
    const [expires, sign] = token.split('.');
    return this.verify(`put:${cloudPath}`, expires ?? null, sign ?? null);
  }

  /** Every stored file, relative paths (for tests and the PII scan). */
  list(): string[] {
    const out: string[] = [];
    const walk = (dir: string, rel: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const next = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) walk(path.join(dir, entry.name), next);
        else out.push(next);
      }
    };
    walk(this.root, '');
    return out;
  }
}
