/**
 * Issue 9's benchmark items, ladybug only, each in this process on run files written
 * directly (src/run/run-writer.ts) so that nothing else (commit path, memtables) is in
 * the figure:
 *
 * - `parity-xor`: XOR parity encode (computeParity over K pages of 4 KiB, the default K) in GB/s of
 *   input, against a plain memory copy of the same bytes (Buffer#copy), alternating in
 *   slices. Target: at least 2 GB/s.
 * - `repair-get`: one point read from a run with the block cache emptied before each,
 *   of a healthy block against the same block damaged on disk just before (the read
 *   rebuilds it from its stripe, checks it and rewrites it in place); p50/p99 of each,
 *   alternating. The damage is written outside the timed part.
 * - `parity-load`: run write throughput (MB of entries per second, datasync included)
 *   with parity at the default K against K=64 (the widest stripe: 1.6% parity, the closest the
 *   format comes to "off"; format 2 has no unstriped runs). Target: under 15% cost.
 * - `cold-compress`: the same entries written uncompressed and as a cold run
 *   (COLD_TIER_COMPRESSION, compressed in the piscina pool): the compression ratio (file bytes), the
 *   cold write's MB/s, and the event-loop delay p99 (monitorEventLoopDelay, 1 ms
 *   resolution) while it runs, with the pool and with compression on the event loop.
 *
 * Figures measured while other work loads the machine are noisy: run on a quiet one.
 */
import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { loadHash64 } from '../../src/codec/checksum.js';
import { NodeFileSystem } from '../../src/fs/node-file-system.js';
import { BlockCache } from '../../src/run/block-cache.js';
import { COLD_TIER_COMPRESSION } from '../../src/compaction/compaction-policy.js';
import { CompressionPool, InlineCompressor, type BlockCompressor } from '../../src/run/compression-pool.js';
import type { RunDescriptor, RunEntry } from '../../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES, type RunCompressionName } from '../../src/run/run-format.js';
import { RunReader } from '../../src/run/run-reader.js';
import { writeRun } from '../../src/run/run-writer.js';
import { computeParity, STRIPE_DATA_PAGES_DEFAULT, STRIPE_DATA_PAGES_MAX } from '../../src/stripe/parity.js';
import type { Hash64 } from '../../src/wal/wal-format.js';
import type { EngineDefinition } from '../engines/engine.js';
import { LatencyRecorder } from '../measure/latency.js';
import type { Profile } from '../profile.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

const ladybugOnly = (definition: EngineDefinition) => definition.id === 'ladybug';
const BYTES_PER_GB = 1e9;
const BYTES_PER_MB = 1e6;
/** Alternating slices of the two sides of a comparison, so drift weighs on both alike. */
const SLICES = 10;
/** Least warm-up of the parity-xor loops. */
const WARMUP_MS = 300;

function sized(profile: Profile, quick: number, full: number): number {
  return profile.name === 'quick' ? quick : full;
}

/** JSON-like records: the cold tier's target data. */
function entries(count: number): RunEntry[] {
  const list: RunEntry[] = [];
  for (let index = 0; index < count; index++) {
    const record = JSON.stringify({ id: index, name: `user number ${index}`, email: `user${index}@example.com`, tags: ['alpha', 'beta'], score: index % 100 });
    list.push({ key: `user-${String(index).padStart(9, '0')}`, version: index + 1, value: Buffer.from(record) });
  }
  return list;
}

const entryBytes = (list: readonly RunEntry[]) => list.reduce((total, entry) => total + entry.key.length + (entry.value?.length ?? 0), 0);

interface RunSetup {
  fileSystem: NodeFileSystem;
  runsDirectory: string;
  hash: Hash64;
}

async function setup(context: WorkloadContext): Promise<RunSetup> {
  const runsDirectory = `${context.directory}/runs`;
  mkdirSync(runsDirectory, { recursive: true });
  return { fileSystem: new NodeFileSystem({ syncMode: 'threadpool' }), runsDirectory, hash: await loadHash64() };
}

let nextRunId = 1;
async function write(run: RunSetup, list: readonly RunEntry[], options: { stripeDataPages?: number; compression?: RunCompressionName; compressor?: BlockCompressor } = {}): Promise<RunDescriptor> {
  return writeRun({ ...run, runId: nextRunId++, generation: randomInt(1, 2 ** 32 - 1), level: 0, entries: list, ...options });
}

function result(unitCount: number, durationMs: number, extra: Record<string, number>, latency?: Measurement['latency']): Measurement {
  return { unitCount, callCount: unitCount, durationMs, unitsPerSecond: (unitCount * 1000) / durationMs, extra, ...(latency === undefined ? {} : { latency }) };
}

export function parityXorWorkload(): Workload {
  return {
    id: 'parity-xor',
    title: 'XOR parity encode against a memory copy of the same bytes',
    unit: 'bytes',
    measures: `Headline: bytes of input per second through computeParity (K=${STRIPE_DATA_PAGES_DEFAULT} pages of ${RUN_PAGE_BYTES} B into one parity page). "copy GB/s": Buffer#copy of the same ${STRIPE_DATA_PAGES_DEFAULT * RUN_PAGE_BYTES} B; the two alternate in ${SLICES} slices each.`,
    writes: false,
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'xorGigabytesPerSecond', header: 'XOR GB/s', shortLabel: 'XOR GB/s', format: 'decimal' },
      { key: 'copyGigabytesPerSecond', header: 'copy GB/s', shortLabel: 'copy GB/s', format: 'decimal' },
    ],
    appliesTo: ladybugOnly,
    run: async (context) => {
      const stripeBytes = STRIPE_DATA_PAGES_DEFAULT * RUN_PAGE_BYTES;
      const data = Buffer.alloc(stripeBytes);
      for (let index = 0; index < stripeBytes; index++) data[index] = (index * 131) & 0xff;
      const parity = Buffer.alloc(RUN_PAGE_BYTES);
      const copy = Buffer.alloc(stripeBytes);
      const sliceMs = context.profile.measureMs / 2 / SLICES;
      const loop = (body: () => void) => {
        let count = 0;
        const start = performance.now();
        while (performance.now() - start < sliceMs) {
          for (let repeat = 0; repeat < 64; repeat++) body();
          count += 64;
        }
        return { count, durationMs: performance.now() - start };
      };
      // Warm-up long enough for the JIT to settle (a quick profile's slices are short).
      const warmupStart = performance.now();
      while (performance.now() - warmupStart < WARMUP_MS) {
        loop(() => computeParity(data, RUN_PAGE_BYTES, parity));
        loop(() => data.copy(copy, 0, 0, stripeBytes));
      }
      context.beginMeasurement();
      let xorCount = 0; let xorMs = 0; let copyCount = 0; let copyMs = 0;
      for (let slice = 0; slice < SLICES; slice++) {
        const xor = loop(() => computeParity(data, RUN_PAGE_BYTES, parity));
        const copied = loop(() => data.copy(copy, 0, 0, stripeBytes));
        xorCount += xor.count; xorMs += xor.durationMs;
        copyCount += copied.count; copyMs += copied.durationMs;
      }
      const xorBytes = xorCount * stripeBytes;
      return result(xorBytes, xorMs, {
        xorGigabytesPerSecond: (xorBytes / BYTES_PER_GB) / (xorMs / 1000),
        copyGigabytesPerSecond: ((copyCount * stripeBytes) / BYTES_PER_GB) / (copyMs / 1000),
      });
    },
  };
}

export function repairGetWorkload(profile: Profile): Workload {
  const reads = sized(profile, 200, 2000);
  return {
    id: 'repair-get',
    title: 'get of a healthy block against a block rebuilt from parity',
    unit: 'gets',
    measures: `Headline: healthy point reads per second from a run (block cache emptied before each read). p50/p99 of ${reads} reads of a healthy block and ${reads} of the same block damaged on disk just before (rebuilt from its stripe, checked, rewritten), alternating; the damage is not timed.`,
    writes: false,
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'rebuiltP50Ms', header: 'rebuilt p50 ms', shortLabel: 'rebuilt p50 ms', format: 'milliseconds' },
      { key: 'rebuiltP99Ms', header: 'rebuilt p99 ms', shortLabel: 'rebuilt p99 ms', format: 'milliseconds' },
    ],
    appliesTo: ladybugOnly,
    run: async (context) => {
      const run = await setup(context);
      const list = entries(20_000);
      const descriptor = await write(run, list);
      const cache = new BlockCache(8 * 1024 * 1024);
      let repairs = 0;
      const reader = await RunReader.open(run.fileSystem, run.runsDirectory, descriptor, run.hash, cache, { onRepair: () => repairs++ });
      const path = `${run.runsDirectory}/${descriptor.fileName}`;
      const key = list[0]?.key as string; // in the first data page
      const garbage = Buffer.alloc(RUN_PAGE_BYTES, 0x5a);
      const healthy = new LatencyRecorder();
      const rebuilt = new LatencyRecorder();
      try {
        context.beginMeasurement();
        let healthyTotalMs = 0;
        for (let read = 0; read < reads; read++) {
          cache.clear();
          let start = performance.now();
          await reader.versions(key);
          const healthyDuration = performance.now() - start;
          healthy.record(healthyDuration);
          healthyTotalMs += healthyDuration;
          const handle = await run.fileSystem.open(path, 'readWrite');
          await handle.write(garbage, 0);
          await handle.close();
          cache.clear();
          start = performance.now();
          await reader.versions(key);
          rebuilt.record(performance.now() - start);
        }
        const healthySummary = healthy.summary('one get of a healthy block, cache emptied');
        const rebuiltSummary = rebuilt.summary('one get that rebuilds its block');
        return result(reads, healthyTotalMs, {
          healthyP50Ms: healthySummary.p50Us / 1000,
          healthyP99Ms: healthySummary.p99Us / 1000,
          rebuiltP50Ms: rebuiltSummary.p50Us / 1000,
          rebuiltP99Ms: rebuiltSummary.p99Us / 1000,
          repairs,
        }, healthySummary);
      } finally {
        await reader.close();
      }
    },
  };
}

export function parityLoadWorkload(profile: Profile): Workload {
  const count = sized(profile, 30_000, 300_000);
  return {
    id: 'parity-load',
    title: `run write throughput with parity K=${STRIPE_DATA_PAGES_DEFAULT} against K=64`,
    unit: 'bytes',
    measures: `Headline: bytes of entries per second written into a run (${count.toLocaleString('en-US')} JSON records, datasync and rename included) with K=${STRIPE_DATA_PAGES_DEFAULT}. "K=64 MB/s": the same with K=${STRIPE_DATA_PAGES_MAX} (1.6% parity, the nearest to no parity in format 2); the two alternate, ${SLICES / 2} writes each.`,
    writes: true,
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'wideMegabytesPerSecond', header: 'K=64 MB/s', shortLabel: 'K=64 MB/s', format: 'decimal' },
      { key: 'parityCostPercent', header: 'parity cost %', shortLabel: 'cost %', format: 'decimal' },
    ],
    appliesTo: ladybugOnly,
    run: async (context) => {
      const run = await setup(context);
      const list = entries(count);
      const bytes = entryBytes(list);
      await write(run, list); // warm-up
      context.beginMeasurement();
      let narrowMs = 0; let wideMs = 0;
      for (let round = 0; round < SLICES / 2; round++) {
        let start = performance.now();
        await write(run, list, { stripeDataPages: STRIPE_DATA_PAGES_DEFAULT });
        narrowMs += performance.now() - start;
        start = performance.now();
        await write(run, list, { stripeDataPages: STRIPE_DATA_PAGES_MAX });
        wideMs += performance.now() - start;
      }
      const rounds = SLICES / 2;
      return result(bytes * rounds, narrowMs, {
        narrowMegabytesPerSecond: (bytes * rounds / BYTES_PER_MB) / (narrowMs / 1000),
        wideMegabytesPerSecond: (bytes * rounds / BYTES_PER_MB) / (wideMs / 1000),
        // Extra write time of the default K over K=64.
        parityCostPercent: (narrowMs / wideMs - 1) * 100,
      });
    },
  };
}

export function coldCompressWorkload(profile: Profile): Workload {
  const count = sized(profile, 30_000, 300_000);
  return {
    id: 'cold-compress',
    title: 'cold-tier run: compression ratio, write rate and event-loop delay while compressing',
    unit: 'bytes',
    measures: `Headline: bytes of entries per second written as a cold run (${COLD_TIER_COMPRESSION} level 1 in the piscina pool, as the cold tier writes it; ${count.toLocaleString('en-US')} JSON records). "ratio": uncompressed run file bytes / cold run file bytes. "loop p99 ms": event-loop delay p99 (monitorEventLoopDelay, 1 ms resolution) during the pooled write; "inline p99 ms": the same write compressing on the event loop.`,
    writes: true,
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'compressionRatio', header: 'ratio', shortLabel: 'ratio', format: 'decimal' },
      { key: 'eventLoopP99Ms', header: 'loop p99 ms', shortLabel: 'loop p99 ms', format: 'milliseconds' },
      { key: 'inlineEventLoopP99Ms', header: 'inline p99 ms', shortLabel: 'inline p99 ms', format: 'milliseconds' },
    ],
    appliesTo: ladybugOnly,
    run: async (context) => {
      const run = await setup(context);
      const list = entries(count);
      const bytes = entryBytes(list);
      const plain = await write(run, list);
      const pool = new CompressionPool();
      try {
        await write(run, list.slice(0, 2000), { compression: COLD_TIER_COMPRESSION, compressor: pool }); // starts the workers
        context.beginMeasurement();
        const delayWhile = async (compressor: BlockCompressor) => {
          const histogram = monitorEventLoopDelay({ resolution: 1 });
          histogram.enable();
          const start = performance.now();
          const descriptor = await write(run, list, { compression: COLD_TIER_COMPRESSION, compressor });
          const durationMs = performance.now() - start;
          histogram.disable();
          return { descriptor, durationMs, p99Ms: histogram.percentile(99) / 1e6 };
        };
        const pooled = await delayWhile(pool);
        const inline = await delayWhile(new InlineCompressor());
        return result(bytes, pooled.durationMs, {
          compressionRatio: plain.fileBytes / pooled.descriptor.fileBytes,
          eventLoopP99Ms: pooled.p99Ms,
          inlineEventLoopP99Ms: inline.p99Ms,
          inlineMegabytesPerSecond: (bytes / BYTES_PER_MB) / (inline.durationMs / 1000),
        });
      } finally {
        await pool.close();
      }
    },
  };
}

export function selfRepairWorkloads(profile: Profile): Workload[] {
  return [parityXorWorkload(), repairGetWorkload(profile), parityLoadWorkload(profile), coldCompressWorkload(profile)];
}
