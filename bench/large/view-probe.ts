/**
 * CPU per point read of a store with many unmerged runs, through the read path a get
 * takes (ReadView#slotAsOf over a RunSet: the point cache, one KeyProbe per read, each
 * run's key range, top-level search, filter partition and bits, index partition and
 * data block), and the per-run cost split into its steps (issue 7: the cost of asking
 * a run that does not hold the key). Not part of `npm run bench`; run by hand for
 * before/after comparisons:
 *
 *   node dist/bench/large/view-probe.js <directory> [runCount] [keysPerRun] [gets] [passes] [absent|present|split]
 *
 * The layout is fixed, as a random-order load leaves it before any merge: runCount runs
 * written once into `directory` by this build's writer (run r holds the bench's 16-byte
 * random keys whose index is r mod runCount, 100 B values, so every run spans the whole
 * key space), versions ascending with the run number. No compaction runs: the runs stay
 * as written. A BlockCache of 24 MiB and a point cache of 24 MiB (about what a 64 MiB
 * budget leaves them) are shared by every run, as in a store.
 *
 * `absent`: keys in no run (every run is asked: its range, top-level search and filter,
 * and a data block per false positive); `present`: uniform stored keys, each found in
 * one run after the newer runs ruled it out (half the runs asked on average). Each mode
 * first reads one untimed pass (caches warm), then `passes` timed passes of `gets`
 * reads, each pass its own seeded keys (pass 1 the bench's uniform seed), so the point
 * cache answers about as rarely as in the bench's one uniform pass; one JSON line per
 * pass: CPU us per read (process, and the main thread from schedstat), block cache hits
 * and misses. The per-run share is not separable here: see `split`.
 *
 * `split`: the absent keys' per-run steps timed one at a time over every (key, run)
 * pair, each step in a loop of its own (CPU ns per pair, best of three loops): the key's
 * probe (once per key, reported per run), the key range check (strings), the top-level
 * (prefix) search, the filter partition's slot, the bit test (bitTest; bitTestBranchFree
 * tests every probe of the block without a branch on the loaded bits, to see whether the
 * runs' cache misses overlap), those steps in one loop (screenLoop: what a lean per-run
 * path could cost), the whole RunReader#pointVersions (filter false positives' data
 * block reads included), and the read view's loop around them (ReadView#slotAsOf per
 * key divided by the runs, through a view the point cache neither answers nor fills).
 * Each step alone keeps a smaller working set than the whole read, so the steps do not
 * add up to pointVersions: use a profile (perf with --perf-prof) for shares.
 *
 * Comparing builds: each build writes its own directory (its own writer), run them
 * alternately, several times each. With --cpu-prof on node's command line the profile
 * of the timed passes is written on exit.
 */
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import process from 'node:process';
import { loadHash64 } from '../../src/codec/checksum.js';
import { NodeFileSystem } from '../../src/fs/node-file-system.js';
import { PointCache } from '../../src/engine/point-cache.js';
import { ReadView, type ReadRequest } from '../../src/engine/read-view.js';
import { RunSet } from '../../src/engine/run-set.js';
import { StorageMetrics } from '../../src/metrics/recorders.js';
import { BlockCache } from '../../src/run/block-cache.js';
import { filterMayContainProbe, KeyProbe, remainderU32 } from '../../src/run/bloom-filter.js';
import type { RunDescriptor } from '../../src/run/run-descriptor.js';
import { openRunFile } from '../../src/run/run-file-open.js';
import type { RunPartitions } from '../../src/run/run-partitions.js';
import { RunReader } from '../../src/run/run-reader.js';
import type { Hash64 } from '../../src/wal/wal-format.js';
import { keyAt, uniformIndexes } from '../data.js';
import { loadOrWriteLayout } from './run-layout.js';

const MEBIBYTE = 1024 * 1024;
const VALUE_BYTES = 100;
const CACHE_BYTES = 24 * MEBIBYTE;
/** Absent keys are the bench's key formula at indexes above every stored one. */
const ABSENT_INDEX_BASE = 2 ** 31;

/** Internal key of bench key `index` (a binary key's bytes as latin1 chars, as the store keeps it). */
function internalKeyAt(index: number): string {
  return keyAt(index, 'random').toString('latin1');
}

/** A stored Buffer value: msgpack bin 8 of VALUE_BYTES bytes (what transientSlotOfEntry wraps). */
function storedValue(): Buffer {
  const value = Buffer.alloc(VALUE_BYTES + 2, 7);
  value[0] = 0xc4;
  value[1] = VALUE_BYTES;
  return value;
}

/** Main-thread CPU (ns) from schedstat. */
function mainThreadNs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
}

function otherThreadsNs(): number {
  let total = 0;
  for (const id of readdirSync('/proc/self/task')) {
    if (id === String(process.pid)) continue;
    try {
      total += Number(readFileSync(`/proc/self/task/${id}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return total;
}

async function readAll(view: ReadView, keys: readonly string[], request: ReadRequest): Promise<number> {
  let found = 0;
  for (let position = 0; position < keys.length; position++) {
    let slot = view.slotAsOf(keys[position] as string, request);
    if (slot instanceof Promise) slot = await slot;
    if (slot !== undefined) found++;
  }
  return found;
}

/** CPU ns per (key, run) pair of `step` over every key and run (process.cpuUsage: time the core was taken by others not counted), the best of three loops. */
function timePairs(keyCount: number, runCount: number, step: () => number): { nsPerPair: number; sink: number } {
  let best = Infinity;
  let sink = 0;
  for (let round = 0; round < 3; round++) {
    const start = process.cpuUsage();
    sink += step();
    const spent = process.cpuUsage(start);
    best = Math.min(best, (spent.user + spent.system) * 1000);
  }
  return { nsPerPair: Math.round((best / (keyCount * runCount)) * 10) / 10, sink };
}

async function split(directory: string, descriptors: readonly RunDescriptor[], hash: Hash64, keys: readonly string[], view: ReadView, request: ReadRequest): Promise<void> {
  const fileSystem = new NodeFileSystem();
  const cache = new BlockCache(CACHE_BYTES);
  const newestFirst = descriptors.slice().reverse();
  const partitions: RunPartitions[] = [];
  const readers: RunReader[] = [];
  for (const descriptor of newestFirst) {
    partitions.push((await openRunFile(fileSystem, directory, descriptor, hash, cache, {})).partitions);
    readers.push(await RunReader.open(fileSystem, directory, descriptor, hash, cache));
  }
  const runCount = newestFirst.length;
  const probes = keys.map((key) => KeyProbe.of(hash, key));
  // Warm: every filter partition read and cached, each step's code optimized.
  for (let position = 0; position < keys.length; position++) for (const reader of readers) reader.pointVersions(keys[position]!, probes[position]);
  for (let position = 0; position < keys.length; position++) {
    for (const part of partitions) {
      const number = part.atOrAfter(keys[position]!);
      if (number < part.count) void part.filter(number);
    }
  }
  const figures: Record<string, number> = {};
  let sink = 0;
  const record = (name: string, measured: { nsPerPair: number; sink: number }): void => {
    figures[name] = measured.nsPerPair;
    sink += measured.sink;
  };
  record('probePerRun', timePairs(keys.length, runCount, () => {
    let count = 0;
    for (let position = 0; position < keys.length; position++) count += KeyProbe.of(hash, keys[position]!).first & 1;
    return count;
  }));
  record('rangeCheck', timePairs(keys.length, runCount, () => {
    let count = 0;
    for (let position = 0; position < keys.length; position++) {
      const key = keys[position]!;
      for (let run = 0; run < runCount; run++) {
        const descriptor = newestFirst[run]!;
        if (key.length > 0 && key >= descriptor.smallestKey && key <= descriptor.largestKey) count++;
      }
    }
    return count;
  }));
  record('topLevelSearch', timePairs(keys.length, runCount, () => {
    let count = 0;
    for (let position = 0; position < keys.length; position++) {
      const key = keys[position]!;
      for (let run = 0; run < runCount; run++) count += partitions[run]!.atOrAfter(key);
    }
    return count;
  }));
  const numbers = new Int32Array(keys.length * runCount);
  for (let position = 0; position < keys.length; position++) {
    for (let run = 0; run < runCount; run++) numbers[position * runCount + run] = partitions[run]!.atOrAfter(keys[position]!);
  }
  record('filterSlot', timePairs(keys.length, runCount, () => {
    let count = 0;
    for (let position = 0; position < keys.length; position++) {
      for (let run = 0; run < runCount; run++) {
        const number = numbers[position * runCount + run]!;
        if (number >= partitions[run]!.count) continue;
        const filter = partitions[run]!.filter(number);
        if (!(filter instanceof Promise)) count += filter.probes;
      }
    }
    return count;
  }));
  const filters = Array.from(numbers, (number, pair) => (number < partitions[pair % runCount]!.count ? partitions[pair % runCount]!.filter(number) : undefined));
  record('bitTest', timePairs(keys.length, runCount, () => {
    let count = 0;
    for (let position = 0; position < keys.length; position++) {
      const probe = probes[position]!;
      for (let run = 0; run < runCount; run++) {
        const filter = filters[position * runCount + run]!;
        if (filter !== undefined && !(filter instanceof Promise) && filterMayContainProbe(filter.kind, filter.bits, filter.probes, probe)) count++;
      }
    }
    return count;
  }));
  // The bit test without a branch on the loaded bits (every probe of the block tested): the runs' cache misses may overlap.
  record('bitTestBranchFree', timePairs(keys.length, runCount, () => {
    let count = 0;
    for (let position = 0; position < keys.length; position++) {
      const probe = probes[position]!;
      for (let run = 0; run < runCount; run++) {
        const filter = filters[position * runCount + run]!;
        if (filter === undefined || filter instanceof Promise) continue;
        const bits = filter.bits;
        const base = remainderU32(probe.first, bits.length >>> 6) << 6;
        let mixed = probe.step;
        let all = 1;
        for (let index = 0; index < filter.probes; index++) {
          mixed = Math.imul(mixed, 0x9e3779b9);
          const bit = mixed >>> 23;
          all &= (bits[base + (bit >>> 3)] as number) >>> (bit & 7);
        }
        count += all;
      }
    }
    return count;
  }));
  // The steps above in one loop per key (what a lean per-run path could cost).
  record('screenLoop', timePairs(keys.length, runCount, () => {
    let count = 0;
    for (let position = 0; position < keys.length; position++) {
      const key = keys[position]!;
      const probe = probes[position]!;
      for (let run = 0; run < runCount; run++) {
        const descriptor = newestFirst[run]!;
        if (key < descriptor.smallestKey || key > descriptor.largestKey) continue;
        const part = partitions[run]!;
        const number = part.atOrAfter(key);
        if (number >= part.count) continue;
        const filter = part.filter(number);
        if (!(filter instanceof Promise) && filterMayContainProbe(filter.kind, filter.bits, filter.probes, probe)) count++;
      }
    }
    return count;
  }));
  record('pointVersions', timePairs(keys.length, runCount, () => {
    let count = 0;
    for (let position = 0; position < keys.length; position++) {
      const key = keys[position]!;
      const probe = probes[position]!;
      for (let run = 0; run < runCount; run++) {
        const found = readers[run]!.pointVersions(key, probe);
        if (!(found instanceof Promise)) count += found.length;
      }
    }
    return count;
  }));
  // The whole read (its own probe, the view's loop, point cache, run handles), per run it asks.
  await readAll(view, keys, request);
  record('viewSlotAsOfPerRun', timePairs(keys.length, runCount, () => {
    let count = 0;
    for (let position = 0; position < keys.length; position++) if (view.slotAsOf(keys[position]!, request) !== undefined) count++;
    return count;
  }));
  process.stdout.write(`${JSON.stringify({ mode: 'split', runCount, keys: keys.length, nsPerKeyRunPair: figures, sink })}\n`);
  for (const reader of readers) await reader.close();
}

async function main(): Promise<void> {
  const [directory, runCountText = '32', keysPerRunText = '31250', getsText = '200000', passesText = '3', mode = 'absent'] = process.argv.slice(2);
  if (directory === undefined || !['absent', 'present', 'split'].includes(mode)) {
    throw new Error('usage: view-probe.js <directory> [runCount] [keysPerRun] [gets] [passes] [absent|present|split]');
  }
  const runCount = Number(runCountText);
  const keysPerRun = Number(keysPerRunText);
  const gets = Number(getsText);
  const passes = Number(passesText);
  const hash = await loadHash64();
  const descriptors = await loadOrWriteLayout(directory, hash, runCount, keysPerRun, internalKeyAt, storedValue());
  const cache = new BlockCache(CACHE_BYTES);
  const runSet = new RunSet({ fileSystem: new NodeFileSystem(), runsDirectory: directory, hash, cache }, descriptors);
  const pointCache = new PointCache(CACHE_BYTES, () => runSet.runs);
  const metrics = new StorageMetrics();
  const view = new ReadView([], runSet.newestFirst(), 1, runSet.runs, pointCache, metrics);
  const newest = descriptors.reduce((most, descriptor) => Math.max(most, descriptor.maxVersion), 0);
  const request: ReadRequest = { version: newest, referenceVersion: newest, pinFloor: Infinity };
  const keyCount = runCount * keysPerRun;
  /** The keys of one pass: seed 1 is the bench's uniform read phase; every pass has its own, so the point cache answers about as often as in the bench's one pass. */
  const keysOf = (seed: number, count: number): string[] => Array.from(uniformIndexes(count, keyCount, seed), (index) => internalKeyAt(mode === 'present' ? index : ABSENT_INDEX_BASE + index));
  if (mode === 'split') {
    // A view whose run-set identity is not the point cache's current set: nothing is cached or answered from it, so every read asks the runs.
    const uncached = new ReadView([], runSet.newestFirst(), 1, [], pointCache, metrics);
    await split(directory, descriptors, hash, keysOf(1, Math.min(gets, 20_000)), uncached, request);
    await runSet.close();
    return;
  }
  const expected = mode === 'absent' ? 0 : gets;
  const warm = await readAll(view, keysOf(101, gets), request);
  if (warm !== expected) throw new Error(`${warm} of ${gets} ${mode} keys found`);
  for (let pass = 1; pass <= passes; pass++) {
    const keys = keysOf(pass, gets);
    const hitsBefore = cache.hits;
    const missesBefore = cache.misses;
    const cpuBefore = process.cpuUsage();
    const mainBefore = mainThreadNs();
    const othersBefore = otherThreadsNs();
    const startMs = performance.now();
    const found = await readAll(view, keys, request);
    const elapsedMs = performance.now() - startMs;
    const cpu = process.cpuUsage(cpuBefore);
    const mainNs = mainThreadNs() - mainBefore;
    const othersNs = otherThreadsNs() - othersBefore;
    if (found !== expected) throw new Error(`${found} of ${gets} ${mode} keys found`);
    const perGet = (micros: number): number => Math.round((micros / gets) * 100) / 100;
    process.stdout.write(`${JSON.stringify({
      mode,
      pass,
      runCount,
      keysPerRun,
      getsPerSecond: Math.round((gets * 1000) / elapsedMs),
      processCpuUsPerGet: perGet(cpu.user + cpu.system),
      mainCpuUsPerGet: perGet(mainNs / 1000),
      otherThreadsCpuUsPerGet: perGet(othersNs / 1000),
      blockHits: cache.hits - hitsBefore,
      blockMisses: cache.misses - missesBefore,
      load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    })}\n`);
  }
  await runSet.close();
}

await main();
