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
}
