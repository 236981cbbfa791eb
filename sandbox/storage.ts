/**
 * Cloud storage emulation: files live under `<dataDir>/storage/`, file IDs look like the cloud's
 * (`cloud://<env>.<bucket>/<path>`), and download URLs are short-lived, HMAC-signed links served
 * by the sandbox itself.
 */
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';

export class Storage {
  readonly root: string;
  private readonly key = crypto.randomBytes(32);
  /** Who uploaded each file from a client (its `_openid`); files the server side wrote have none. */
  private readonly ownersFile: string;
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
    this.owners = fs.existsSync(this.ownersFile)
      ? (JSON.parse(fs.readFileSync(this.ownersFile, 'utf8')) as Record<string, string>)
      : {};
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

  /** Rejects absolute paths and `..` so nothing escapes the storage root. */
  safePath(cloudPath: string): string | undefined {
    const normalized = path.posix.normalize(cloudPath.replace(/^\/+/, ''));
    if (!normalized || normalized.startsWith('..') || normalized.includes('\0')) return undefined;
    return normalized;
  }

  private file(cloudPath: string): string {
    return path.join(this.root, ...cloudPath.split('/'));
  }

  /** Writes a file; `owner` is the uploading user's openid for a client upload, none for the server side. */
  write(cloudPath: string, content: Buffer, owner?: string): string {
    const file = this.file(cloudPath);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
    this.setOwner(cloudPath, owner);
    return this.fileId(cloudPath);
  }

  read(cloudPath: string): Buffer | undefined {
    const file = this.file(cloudPath);
    return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
  }

  exists(cloudPath: string): boolean {
    return fs.existsSync(this.file(cloudPath));
  }

  delete(cloudPath: string): boolean {
    const file = this.file(cloudPath);
    if (!fs.existsSync(file)) return false;
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
