/**
 * Reads the .zip a deploy uploads as a function's code (`Code.ZipFile`, base64): every file entry,
 * stored or deflated. Entry names that would escape the function's folder (absolute, `..`, a
 * backslash, NUL) are refused, as is anything that does not parse.
 */
import zlib from 'zlib';

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** A function package is small; this bounds what one upload may unpack to. */
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

export class ZipError extends Error {}

function findEndOfCentralDirectory(zip: Buffer): number {
  const earliest = Math.max(0, zip.length - 22 - 0xffff);
  for (let at = zip.length - 22; at >= earliest; at -= 1) if (zip.readUInt32LE(at) === EOCD) return at;
  throw new ZipError('not a zip file (no end of central directory)');
}

function safeName(name: string): string {
  if (!name || name.startsWith('/') || name.includes('\\') || name.includes('\0') || /^[A-Za-z]:/.test(name)) {
    throw new ZipError(`unsafe entry name in zip: ${JSON.stringify(name.slice(0, 80))}`);
  }
  if (name.split('/').some((part) => part === '..')) throw new ZipError(`unsafe entry name in zip: ${name}`);
  return name;
}

/** The files of a zip archive, by relative path (folders are implied). */
export function unzip(zip: Buffer): Map<string, Buffer> {
  if (zip.length < 22) throw new ZipError('not a zip file (too short)');
  const end = findEndOfCentralDirectory(zip);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const files = new Map<string, Buffer>();
  let total = 0;
  for (let i = 0; i < count; i += 1) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== CENTRAL) throw new ZipError('corrupt central directory');
    const method = zip.readUInt16LE(at + 10);
    const compressed = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localAt = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    at += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/')) continue;
    total += size;
    if (total > MAX_TOTAL_BYTES) throw new ZipError('zip unpacks to more than 64 MB');
    if (localAt + 30 > zip.length || zip.readUInt32LE(localAt) !== LOCAL) throw new ZipError('corrupt local header');
    const dataAt = localAt + 30 + zip.readUInt16LE(localAt + 26) + zip.readUInt16LE(localAt + 28);
    const data = zip.subarray(dataAt, dataAt + compressed);
    if (data.length !== compressed) throw new ZipError('truncated zip entry');
    let content: Buffer;
    if (method === 0) content = Buffer.from(data);
    else if (method === 8) content = zlib.inflateRawSync(data, { maxOutputLength: size + 1 });
    else throw new ZipError(`unsupported zip compression method ${method}`);
    if (content.length !== size) throw new ZipError(`zip entry ${name} is not the size it claims`);
    files.set(safeName(name), content);
  }
  return files;
}
