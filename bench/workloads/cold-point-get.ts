/**
 * Issue 7's cold-tier point reads, ladybug only, on run files written directly
 * (src/run/run-writer.ts) so that only the run read path is in the figure:
 *
 * - `cold-get`: random point reads (versions of one key) from one cold run of JSON
 *   records (brotli quality 1), with a block cache far smaller than the run, so most
 *   reads miss, read one compressed block, check it and decompress it. The run is
 *   written three times: with today's block target (RUN_COMPRESSED_BLOCK_TARGET_BYTES,
 *   24 KiB of entries), with the older 64 KiB layout, and with today's target in gzip
 *   level 1 (the candidate codec: at 24 KiB a block of JSON records fits one page with
 *   either, so the files are the same size); the three alternate in slices. Headline:
 *   gets/s of today's layout; columns: CPU microseconds per get of each (process
 *   CPU time: user + system) and each file's ratio against the uncompressed run.
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
import { RUN_COMPRESSED_BLOCK_TARGET_BYTES } from '../../src/run/block-compression.js';
import type { RunEntry } from '../../src/run/run-descriptor.js';
import type { RunCompressionName } from '../../src/run/run-format.js';
import { RunReader } from '../../src/run/run-reader.js';
import { writeRun } from '../../src/run/run-writer.js';
import type { EngineDefinition } from '../engines/engine.js';
import type { Profile } from '../profile.js';
import type { Workload } from './workload.js';

const ladybugOnly = (definition: EngineDefinition) => definition.id === 'ladybug';
/** The cold block target before 2026-11-30 (docs/FORMAT.md changelog). */
const OLDER_BLOCK_TARGET_BYTES = 64 * 1024;
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
    title: 'point gets from a cold (compressed) run: 24 KiB blocks against the older 64 KiB',
    unit: 'gets',
    measures: `Headline: random point reads per second from one cold run (${keyCount.toLocaleString('en-US')} JSON records, brotli 1, ${RUN_COMPRESSED_BLOCK_TARGET_BYTES / 1024} KiB blocks of entries) with a ${CACHE_BYTES / 1024 / 1024} MiB block cache. "64 KiB": the same run written in the older 64 KiB blocks; "gzip": today's blocks in gzip level 1; the three alternate in ${SLICES} slices, ${gets.toLocaleString('en-US')} gets each. CPU us/get is process CPU time (user + system).`,
    writes: false,
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'cpuMicrosPerGet', header: 'CPU us/get', shortLabel: 'CPU us/get', format: 'decimal' },
      { key: 'olderCpuMicrosPerGet', header: '64 KiB CPU us/get', shortLabel: '64 KiB CPU us/get', format: 'decimal' },
      { key: 'olderGetsPerSecond', header: '64 KiB gets/s', shortLabel: '64 KiB gets/s', format: 'count' },
      { key: 'gzipCpuMicrosPerGet', header: 'gzip CPU us/get', shortLabel: 'gzip CPU us/get', format: 'decimal' },
      { key: 'gzipGetsPerSecond', header: 'gzip gets/s', shortLabel: 'gzip gets/s', format: 'count' },
      { key: 'ratio', header: 'ratio', shortLabel: 'ratio', format: 'decimal' },
      { key: 'olderRatio', header: '64 KiB ratio', shortLabel: '64 KiB ratio', format: 'decimal' },
    ],
    appliesTo: ladybugOnly,
    run: async (context) => {
      const runsDirectory = `${context.directory}/runs`;
      mkdirSync(runsDirectory, { recursive: true });
      const fileSystem = new NodeFileSystem({ syncMode: 'threadpool' });
      const hash = await loadHash64();
      const list = jsonEntries(keyCount);
      const write = (runId: number, compressedBlockTargetBytes?: number, compression: RunCompressionName = 'brotli') =>
        writeRun({ fileSystem, runsDirectory, runId, generation: randomInt(1, 2 ** 32 - 1), level: 3, hash, entries: list, ...(compressedBlockTargetBytes === undefined ? {} : { compression, compressedBlockTargetBytes }) });
      const plain = await write(1);
      const today = await write(2, RUN_COMPRESSED_BLOCK_TARGET_BYTES);
      const older = await write(3, OLDER_BLOCK_TARGET_BYTES);
      const gzip = await write(4, RUN_COMPRESSED_BLOCK_TARGET_BYTES, 'gzip');
      const readers = await Promise.all([today, older, gzip].map((descriptor) => RunReader.open(fileSystem, runsDirectory, descriptor, hash, new BlockCache(CACHE_BYTES))));
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
        const [mine, theirs, gzipped] = totals as [Total, Total, Total];
        return {
          unitCount: mine.gets,
          callCount: mine.gets,
          durationMs: mine.ms,
          unitsPerSecond: (mine.gets * 1000) / mine.ms,
          extra: {
            cpuMicrosPerGet: mine.cpuMicros / mine.gets,
            olderCpuMicrosPerGet: theirs.cpuMicros / theirs.gets,
            olderGetsPerSecond: (theirs.gets * 1000) / theirs.ms,
            gzipCpuMicrosPerGet: gzipped.cpuMicros / gzipped.gets,
            gzipGetsPerSecond: (gzipped.gets * 1000) / gzipped.ms,
            ratio: plain.fileBytes / today.fileBytes,
            olderRatio: plain.fileBytes / older.fileBytes,
          },
          check: { passed: true, summary: `every get found its one version (${mine.gets + theirs.gets + gzipped.gets} gets)` },
        };
      } finally {
        for (const reader of readers) await reader.close();
      }
    },
  };
}
