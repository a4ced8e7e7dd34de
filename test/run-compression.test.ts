/**
 * Cold tier (src/run/block-compression.ts, compression-pool.ts): runs written with
 * compressed data blocks (brotli, gzip) in piscina workers read back exact, the
 * parity covers the compressed bytes (a damaged compressed page is rebuilt), and
 * the ratio and the event loop's delay while compressing are printed.
 * Needs the build (dist/src/run/compression-worker.js): `npm test` builds first.
 */
import { Buffer } from 'node:buffer';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import { CompressionPool } from '../src/run/compression-pool.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES, type RunCompressionName } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelScan, modelVersions, plain, RUNS_DIRECTORY } from './run-helpers.js';
import { overwriteDurably, runPath } from './stripe-helpers.js';

let hash: Hash64;
let pool: CompressionPool;
beforeAll(async () => {
  hash = await loadHash64();
  pool = new CompressionPool(2);
});
afterAll(async () => {
  await pool.close();
});

/** JSON-like records, as the measurement used. */
function jsonEntries(count: number): RunEntry[] {
  const entries: RunEntry[] = [];
  for (let index = 0; index < count; index++) {
    const record = { id: index, name: `user-${index}`, email: `user${index}@example.com`, active: index % 3 === 0, tags: ['a', 'b', String(index % 17)] };
    entries.push({ key: `user-${String(index).padStart(8, '0')}`, version: index + 1, value: index % 50 === 49 ? undefined : Buffer.from(JSON.stringify(record)) });
  }
  return entries;
}

describe('compressed runs (cold tier)', () => {
  for (const compression of ['brotli', 'gzip'] as RunCompressionName[]) {
    it(`${compression}: reads back exact, smaller than the plain run, and a damaged compressed page is rebuilt from parity`, async () => {
      const sorted = jsonEntries(20_000);
      const fileSystem = await freshFileSystem();
      const plainRun = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 1, level: 0, hash, entries: sorted });
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 2, generation: 2, level: 3, hash, entries: sorted, compression, compressor: pool });
      delay.disable();
      console.log(
        `${compression}: plain run ${plainRun.fileBytes} B, compressed run ${descriptor.fileBytes} B, ratio ${(plainRun.fileBytes / descriptor.fileBytes).toFixed(2)}; ` +
          `event loop delay while writing p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms`,
      );
      expect(descriptor.fileBytes).toBeLessThan(plainRun.fileBytes / 2);
      await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0x33), RUN_PAGE_BYTES);
      const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(4 * 1024 * 1024));
      expect(reader.footer.compression).not.toBe(0);
      expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
      expect(await drain(await reader.cursor({ gte: 'user-00012345', lt: 'user-00012400' }, true))).toEqual(modelScan(sorted, { gte: 'user-00012345', lt: 'user-00012400' }, true));
      for (const key of ['user-00000000', 'user-00010049', 'user-00019999']) expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
      expect(reader.repairCounters.repairedBlocks).toBe(1);
      expect((await reader.verify()).problems).toEqual([]);
      await reader.close();
    }, 60_000);
  }
});
