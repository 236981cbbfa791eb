/**
 * `node scripts/run.js scripts/bench/prepare-1m.ts --rows 1000000 --file /tmp/r.xlsx` writes the
 * generated roster to `--file` (when missing); run again under the function's heap cap
 * (`node --max-old-space-size=256 …`) it measures the prepare alone (the file read by ranges from
 * disk, validated, cut into encrypted chunks of 10,000 rows), printing its time and peak RSS. For
 * sizes whose full benchmark does not fit the time at hand; the chunks are only counted, not stored.
 */
import crypto from 'crypto';
import fs from 'fs';
import type { RosterBatch } from '../../server/core/roster';
import { IdIndex } from '../../server/core/roster/id-index';
import { openRosterRanged } from '../../server/core/roster/parse';
import { encodeChunk } from '../../server/core/roster/chunk-codec';
import { bigRoster } from './big-roster';

export async function main(args: string[]): Promise<number> {
  const at = args.indexOf('--rows');
  const rows = Number(at >= 0 ? args[at + 1] : 1_000_000);
  const fileAt = args.indexOf('--file');
  const path = fileAt >= 0 ? String(args[fileAt + 1]) : '/tmp/roster-bench.xlsx';
  if (!fs.existsSync(path)) {
    fs.writeFileSync(path, bigRoster(rows));
    console.log(`written ${path}`);
    return 0;
  }
  const fd = fs.openSync(path, 'r');
  const size = fs.fstatSync(fd).size;
  const read = async (offset: number, length: number) => {
    const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
    fs.readSync(fd, buffer, 0, buffer.length, offset);
    return buffer;
  };
  const source = { size, head: await read(0, 64 * 1024), read };
  const keys = {
    encKeyId: 'k',
    encKeys: new Map([['k', crypto.randomBytes(32)]]),
    indexKey: crypto.randomBytes(32),
    indexKeyId: 'i',
    oldIndexKeys: new Map<string, Buffer>(),
  };
  const rssBefore = Math.round(process.memoryUsage().rss / 1024 / 1024);
  const started = Date.now();
  const roster = await openRosterRanged(source);
  let pending: RosterBatch[] = [];
  let chunks = 0;
  let chunkBytes = 0;
  let total = 0;
  for await (const batch of roster.batches({ size: 1000, ids: new IdIndex() })) {
    pending.push(batch);
    total = batch.dataRows;
    if (pending.length >= 10 || batch.done) {
      chunkBytes += encodeChunk(keys, 'bench', chunks, { columns: roster.columns, batches: pending }).length;
      chunks += 1;
      pending = [];
    }
  }
  console.log(
    JSON.stringify({
      rows,
      fileMB: Math.round((size / 1024 / 1024) * 10) / 10,
      total,
      chunks,
      chunkMB: Math.round(chunkBytes / 1024 / 1024),
      seconds: (Date.now() - started) / 1000,
      rssBeforeMB: rssBefore,
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
  return 0;
}
