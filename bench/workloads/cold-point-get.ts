/**
 * Issue 7's cold-tier point reads, ladybug only, on run files written directly
 * (src/run/run-writer.ts) so that only the run read path is in the figure:
 *
 * - `cold-get`: random point reads (versions of one key) from one cold run of JSON
 *   records, with a block cache far smaller than the run, so most reads miss, read
 *   one compressed block, check it and decompress it. The run is written three
 *   times: as the cold tier writes it (run format 4: raw deflate level 1, packed
 *   blocks of RUN_PACKED_BLOCK_TARGET_BYTES, 4 KiB of entries), in brotli quality 1
 *   with 24 KiB blocks (what a miss decompressed in format 3, the layout before
 *   2026-11-30; the writer now packs those blocks too, so that file is a little
 *   smaller than format 3's page-padded one), and in brotli 1 with 4 KiB blocks (the
 *   codec alone); the three alternate in slices. Headline: gets/s of the cold tier's
 *   layout; columns: CPU microseconds per get of each (process CPU time: user +
 *   system) and each file's ratio against the uncompressed run.
 *
 * About 5 s in --quick. Figures measured while other work loads the machine are
 * noisy: run on a quiet one.
 */
import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { loadHash64 } from '../../src/codec/checksum.js';
import { NodeFileSystem } from '../../src/fs/node-file-system.js';
import { BlockCache } from '../../src/run/block-cache.js';
import { RUN_COMPRESSED_BLOCK_TARGET_BYTES, RUN_PACKED_BLOCK_TARGET_BYTES } from '../../src/run/block-compression.js';
import { COLD_TIER_COMPRESSION } from '../../src/compaction/compaction-policy.js';
import type { RunEntry } from '../../src/run/run-descriptor.js';
import type { RunCompressionName } from '../../src/run/run-format.js';
import { RunReader } from '../../src/run/run-reader.js';
import { writeRun } from '../../src/run/run-writer.js';
import type { EngineDefinition } from '../engines/engine.js';
import type { Profile } from '../profile.js';
import type { Workload } from './workload.js';

const ladybugOnly = (definition: EngineDefinition) => definition.id === 'ladybug';
/** Block cache of the readers: far below either run's decompressed size. */
const CACHE_BYTES = 2 * 1024 * 1024;
const SLICES = 10;

function jsonEntries(count: number): RunEntry[] {
  const list: RunEntry[] = [];
  for (let index = 0; index < count; index++) {
    const record = JSON.stringify({ id: index, name: `user number ${index}`, email: `user${index}@example.com`, tags: ['alpha', 'beta'], score: index % 100 });
    list.push({ key: `user-${String(index).padStart(9, '0')}`, version: index + 1, value: Buffer.from(record) });
  }
  return list;
}

export function coldPointGetWorkload(profile: Profile): Workload {
  const keyCount = profile.name === 'quick' ? 60_000 : 300_000;
  const gets = profile.name === 'quick' ? 10_000 : 100_000;
  return {
    id: 'cold-get',
    title: 'point gets from a cold (compressed) run: packed 4 KiB deflate blocks (format 4) against 24 KiB brotli blocks (format 3)',
    unit: 'gets',
    measures: `Headline: random point reads per second from one cold run (${keyCount.toLocaleString('en-US')} JSON records, ${COLD_TIER_COMPRESSION} level 1, packed blocks of ${RUN_PACKED_BLOCK_TARGET_BYTES / 1024} KiB of entries: run format 4) with a ${CACHE_BYTES / 1024 / 1024} MiB block cache. "brotli 24 KiB": the same run in brotli 1 with ${RUN_COMPRESSED_BLOCK_TARGET_BYTES / 1024} KiB blocks, what a cache miss decompressed in format 3 (now packed too, so its file is a little smaller than format 3's page-padded one); "brotli 4 KiB": brotli 1 with the packed 4 KiB blocks; the three alternate in ${SLICES} slices, ${gets.toLocaleString('en-US')} gets each. CPU us/get is process CPU time (user + system).`,
    writes: false,
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'cpuMicrosPerGet', header: 'CPU us/get', shortLabel: 'CPU us/get', format: 'decimal' },
      { key: 'brotli24CpuMicrosPerGet', header: 'brotli 24 KiB CPU us/get', shortLabel: 'brotli 24 KiB CPU us/get', format: 'decimal' },
      { key: 'brotli24GetsPerSecond', header: 'brotli 24 KiB gets/s', shortLabel: 'brotli 24 KiB gets/s', format: 'count' },
      { key: 'brotli4CpuMicrosPerGet', header: 'brotli 4 KiB CPU us/get', shortLabel: 'brotli 4 KiB CPU us/get', format: 'decimal' },
      { key: 'brotli4GetsPerSecond', header: 'brotli 4 KiB gets/s', shortLabel: 'brotli 4 KiB gets/s', format: 'count' },
      { key: 'ratio', header: 'ratio', shortLabel: 'ratio', format: 'decimal' },
      { key: 'brotli24Ratio', header: 'brotli 24 KiB ratio', shortLabel: 'brotli 24 KiB ratio', format: 'decimal' },
      { key: 'brotli4Ratio', header: 'brotli 4 KiB ratio', shortLabel: 'brotli 4 KiB ratio', format: 'decimal' },
    ],
    appliesTo: ladybugOnly,
    run: async (context) => {
      const runsDirectory = `${context.directory}/runs`;
      mkdirSync(runsDirectory, { recursive: true });
      const fileSystem = new NodeFileSystem({ syncMode: 'threadpool' });
      const hash = await loadHash64();
      const list = jsonEntries(keyCount);
      const write = (runId: number, compression: RunCompressionName, compressedBlockTargetBytes?: number) =>
        writeRun({ fileSystem, runsDirectory, runId, generation: randomInt(1, 2 ** 32 - 1), level: 3, hash, entries: list, compression, ...(compressedBlockTargetBytes === undefined ? {} : { compressedBlockTargetBytes }) });
      const plain = await write(1, 'none');
      const today = await write(2, COLD_TIER_COMPRESSION);
      const brotli24 = await write(3, 'brotli', RUN_COMPRESSED_BLOCK_TARGET_BYTES);
      const brotli4 = await write(4, 'brotli', RUN_PACKED_BLOCK_TARGET_BYTES);
      const readers = await Promise.all([today, brotli24, brotli4].map((descriptor) => RunReader.open(fileSystem, runsDirectory, descriptor, hash, new BlockCache(CACHE_BYTES))));
      const keys = Array.from({ length: gets }, () => (list[randomInt(0, list.length)] as RunEntry).key);
      const totals = readers.map(() => ({ ms: 0, cpuMicros: 0, gets: 0 }));
      try {
        context.beginMeasurement();
        const sliceGets = Math.ceil(gets / SLICES);
        for (let slice = 0; slice < SLICES; slice++) {
          const sliceKeys = keys.slice(slice * sliceGets, (slice + 1) * sliceGets);
          for (let side = 0; side < readers.length; side++) {
            const reader = readers[side] as RunReader;
            const total = totals[side] as { ms: number; cpuMicros: number; gets: number };
            const cpuStart = process.cpuUsage();
            const start = performance.now();
            for (const key of sliceKeys) {
              const versions = await reader.versionsSyncWhenCached(key);
              if (versions.length !== 1) throw new Error(`cold-get: ${key} has ${versions.length} versions, wrote 1`);
            }
            total.ms += performance.now() - start;
            const cpu = process.cpuUsage(cpuStart);
            total.cpuMicros += cpu.user + cpu.system;
            total.gets += sliceKeys.length;
          }
        }
        type Total = { ms: number; cpuMicros: number; gets: number };
        const [mine, wide, narrow] = totals as [Total, Total, Total];
        return {
          unitCount: mine.gets,
          callCount: mine.gets,
          durationMs: mine.ms,
          unitsPerSecond: (mine.gets * 1000) / mine.ms,
          extra: {
            cpuMicrosPerGet: mine.cpuMicros / mine.gets,
            brotli24CpuMicrosPerGet: wide.cpuMicros / wide.gets,
            brotli24GetsPerSecond: (wide.gets * 1000) / wide.ms,
            brotli4CpuMicrosPerGet: narrow.cpuMicros / narrow.gets,
            brotli4GetsPerSecond: (narrow.gets * 1000) / narrow.ms,
            ratio: plain.fileBytes / today.fileBytes,
            brotli24Ratio: plain.fileBytes / brotli24.fileBytes,
            brotli4Ratio: plain.fileBytes / brotli4.fileBytes,
          },
          check: { passed: true, summary: `every get found its one version (${mine.gets + wide.gets + narrow.gets} gets)` },
        };
      } finally {
        for (const reader of readers) await reader.close();
      }
    },
  };
}
