/**
 * Normalised ID number → the row where it first appeared, compact: a 1M-row roster's IDs as a
 * `Map<string, number>` cost ~80 MB of a 256 MB function; here an 18-character ID is two 32-bit
 * numbers in an open-addressing table (~24 MB at 1M). Anything that is not 17 digits and a check
 * character (never the case once checkIdCard accepted it) falls back to a Map.
 */
const ID = /^(\d{9})(\d{8})([\dX])$/;
const EMPTY_SLOT = 0xffffffff;

export class IdIndex {
  private hi = new Uint32Array(1024).fill(EMPTY_SLOT);
  private lo = new Uint32Array(1024);
  private rows = new Uint32Array(1024);
  private count = 0;
  private readonly other = new Map<string, number>();

  get size(): number {
    return this.count + this.other.size;
  }

  private static split(id: string): [number, number] | undefined {
    const m = ID.exec(id);
    if (!m) return undefined;
    const check = m[3] === 'X' ? 10 : Number(m[3]);
    return [Number(m[1]), Number(m[2]) * 11 + check];
  }

  private slot(hi: number, lo: number): number {
    const mask = this.hi.length - 1;
    let i = (Math.imul(hi ^ Math.imul(lo, 0x9e3779b1), 0x85ebca6b) >>> 0) & mask;
    while (this.hi[i] !== EMPTY_SLOT && (this.hi[i] !== hi || this.lo[i] !== lo)) i = (i + 1) & mask;
    return i;
  }

  get(id: string): number | undefined {
    const key = IdIndex.split(id);
    if (!key) return this.other.get(id);
    const i = this.slot(key[0], key[1]);
    return this.hi[i] === EMPTY_SLOT ? undefined : this.rows[i];
  }

  set(id: string, row: number): void {
    const key = IdIndex.split(id);
    if (!key) {
      this.other.set(id, row);
      return;
    }
    if ((this.count + 1) * 2 > this.hi.length) this.grow();
    const i = this.slot(key[0], key[1]);
    if (this.hi[i] === EMPTY_SLOT) this.count += 1;
    this.hi[i] = key[0];
    this.lo[i] = key[1];
    this.rows[i] = row;
  }

  private grow(): void {
    const [hi, lo, rows] = [this.hi, this.lo, this.rows];
    this.hi = new Uint32Array(hi.length * 2).fill(EMPTY_SLOT);
    this.lo = new Uint32Array(hi.length * 2);
    this.rows = new Uint32Array(hi.length * 2);
    for (let j = 0; j < hi.length; j += 1) {
      if (hi[j] === EMPTY_SLOT) continue;
      const i = this.slot(hi[j] as number, lo[j] as number);
      this.hi[i] = hi[j] as number;
      this.lo[i] = lo[j] as number;
      this.rows[i] = rows[j] as number;
    }
  }

  /** The entries as bytes (count, then hi/lo/row triplets, then the others as JSON), to carry to a later slice. */
  toBuffer(): Buffer {
    const others = Buffer.from(JSON.stringify([...this.other]), 'utf8');
    const out = Buffer.alloc(8 + this.count * 12 + others.length);
    out.writeUInt32LE(this.count, 0);
    out.writeUInt32LE(others.length, 4);
    let at = 8;
    for (let i = 0; i < this.hi.length; i += 1) {
      if (this.hi[i] === EMPTY_SLOT) continue;
      out.writeUInt32LE(this.hi[i] as number, at);
      out.writeUInt32LE(this.lo[i] as number, at + 4);
      out.writeUInt32LE(this.rows[i] as number, at + 8);
      at += 12;
    }
    others.copy(out, at);
    return out;
  }

  /**
   * The index `toBuffer` wrote; with `throughRow`, only the IDs first seen at or before that row (a
   * state saved by a pause whose job save then failed holds rows the job will read again).
   */
  static fromBuffer(bytes: Buffer, throughRow = Number.POSITIVE_INFINITY): IdIndex {
    const index = new IdIndex();
    const count = bytes.readUInt32LE(0);
    const othersLength = bytes.readUInt32LE(4);
    if (8 + count * 12 + othersLength !== bytes.length) throw new Error('not an ID index');
    let capacity = 1024;
    while (capacity < count * 2 + 2) capacity *= 2;
    index.hi = new Uint32Array(capacity).fill(EMPTY_SLOT);
    index.lo = new Uint32Array(capacity);
    index.rows = new Uint32Array(capacity);
    for (let at = 8; at < 8 + count * 12; at += 12) {
      const row = bytes.readUInt32LE(at + 8);
      if (row > throughRow) continue;
      const i = index.slot(bytes.readUInt32LE(at), bytes.readUInt32LE(at + 4));
      index.hi[i] = bytes.readUInt32LE(at);
      index.lo[i] = bytes.readUInt32LE(at + 4);
      index.rows[i] = row;
      index.count += 1;
    }
    for (const [id, row] of JSON.parse(bytes.toString('utf8', 8 + count * 12)) as [string, number][]) {
      if (row <= throughRow) index.other.set(id, row);
    }
    return index;
  }
}
