/**
 * Main-thread cost of memtable flushes (issues 7 and 12: load speed, commit CPU).
 *
 *   npx tsc -p tsconfig.build.json
 *   node dist/bench/flush-cpu.js [keys] [rounds]            # one flush, in process and through the flush thread
 *   node dist/bench/flush-cpu.js load [keys] [thread|main]  # a store load, flushes in the thread or in process
 *   node dist/bench/flush-cpu.js writers [commits] [thread|main]  # 64 concurrent writers, one put per commit
 *   node dist/bench/flush-cpu.js writer [keys] [rounds] [valueBytes]  # writeRun alone, entries in run order
 *   LADYBUG_WRITERS_KEY_ORDER=sequential LADYBUG_WRITERS_BUDGET_MIB=256 node --cpu-prof dist/bench/flush-cpu.js writers 600000
 *
 * Flush mode: a sealed memtable of `keys` random 16-byte binary keys (as bench/data.ts
 * keyAt 'random') with 100-byte Uint8Array values, one version each, is flushed two
 * ways, alternately each round: memtableEntries + writeRun to the in-memory fault
 * file system (no disk I/O: the main thread's whole flush, the sort, the entry walk,
 * block encoding, the filter), and through a FlushThread to a temporary directory
 * on the real file system (the main thread walks and packs, the thread writes the
 * temporary file, the main thread renames it and fsyncs the directory: run-install.ts).
 * Each round builds a fresh memtable (never scanned, as in a write-only load) and
 * times only the flush; a third way (writeRunOnly) copies the memtable's entries out
 * first and times writeRun alone on them (the run writer's own CPU per entry). Prints one JSON line: main-thread CPU, process CPU (the flush
 * thread's and the GC helpers' added) and wall ns per key of each round, each way.
 *
 * Load mode: opens a store (memoryBudgetBytes 64 MiB, as the large-load bench) in a
 * temporary directory, writes `keys` random keys with 100-byte values in awaited
 * batches of LOAD_BATCH_KEYS (the ladybug adapter's batch at that budget), closes;
 * prints keys/s, the main thread's CPU ns per key (the load, and with the close) and
 * the peak RSS.
 *
 * Main-thread CPU comes from /proc/thread-self/schedstat (Linux: ns on the CPU of
 * this thread alone; process.cpuUsage() would add the flush and merge threads'); on
 * other systems it falls back to process.cpuUsage(). The machine's other load shows
 * in the numbers: compare builds alternately, run it quiet.
 */
import { Buffer } from 'node:buffer';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import process from 'node:process';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { prepareValue } from '../src/codec/values.js';
import { FlushThread, flushThreadCounters } from '../src/engine/flush-thread.js';
import { flushSettings, memtableEntries } from '../src/engine/flusher.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, FileSystem } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/index.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { installTemporaryRun } from '../src/run/run-install.js';
import { writeRun } from '../src/run/run-writer.js';
import { keyAt } from './data.js';

const VALUE_BYTES = 100;
const BATCH_KEYS = 100;
/** The ladybug adapter's bulk-load batch at a 64 MiB budget (bench/engines/ladybug.ts). */
const LOAD_BATCH_KEYS = 15_252;
const LOAD_BUDGET_BYTES = 64 * 1024 * 1024;

/** CPU ns of this thread so far (schedstat), or of the process where that is missing. */
function threadCpuNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) * 1_000;
  }
}

function memtable(keys: number, round: number): MemoryIndex {
  const index = new MemoryIndex(1);
  for (let start = 0; start < keys; start += BATCH_KEYS) {
    const operations = [];
    for (let number = start; number < Math.min(keys, start + BATCH_KEYS); number++) {
      const value = Buffer.alloc(VALUE_BYTES, number & 0xff);
      operations.push({ key: internalKey(keyAt(round * keys + number, 'random')), slot: prepareValue(value, 1 << 20).stored });
    }
    index.apply(index.appliedVersion + 1, operations, index.appliedVersion + 1);
  }
  return index;
}

async function flushMode(keys: number, rounds: number): Promise<void> {
  const hash = await loadHash64();
  const thread = new FlushThread();
  const nodeFileSystem = new NodeFileSystem();
  const directory = mkdtempSync(join(tmpdir(), 'ladybug-flush-cpu-'));
  const emptyFigures = (): { cpuNsPerKey: number[]; processCpuNsPerKey: number[]; wallNsPerKey: number[] } => ({ cpuNsPerKey: [], processCpuNsPerKey: [], wallNsPerKey: [] });
  const figures = { inProcess: emptyFigures(), writeRunOnly: emptyFigures(), thread: emptyFigures() };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const way of round % 2 === 0 ? (['inProcess', 'writeRunOnly', 'thread'] as const) : (['thread', 'writeRunOnly', 'inProcess'] as const)) {
        const index = memtable(keys, round);
        const fileSystem = new FaultFileSystem(round + 1);
        await fileSystem.mkdir('/runs');
        // writeRunOnly: the memtable's entries taken out first (copies), so only writeRun is timed.
        const entries: RunEntry[] = [];
        if (way === 'writeRunOnly') for (const entry of memtableEntries(index)) entries.push({ key: entry.key, version: entry.version, value: entry.value?.slice() });
        const startedMs = performance.now();
        const cpuBefore = threadCpuNs();
        const processCpuBefore = process.cpuUsage();
        if (way === 'inProcess') await writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 1, level: 0, hash, entries: memtableEntries(index) });
        else if (way === 'writeRunOnly') await writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 1, level: 0, hash, entries });
        else {
          await thread.flush({ runsDirectory: directory, runId: round + 1, generation: 1, level: 0, keepDataBytes: -1 }, memtableEntries(index));
          // The main thread's half of a thread-written run, as the store does it (run-install.ts).
          await installTemporaryRun(nodeFileSystem, directory, round + 1);
        }
        figures[way].cpuNsPerKey.push(Math.round((threadCpuNs() - cpuBefore) / keys));
        const processCpu = process.cpuUsage(processCpuBefore);
        figures[way].processCpuNsPerKey.push(Math.round(((processCpu.user + processCpu.system) * 1_000) / keys));
        figures[way].wallNsPerKey.push(Math.round(((performance.now() - startedMs) * 1e6) / keys));
      }
    }
  } finally {
    await thread.close();
    rmSync(directory, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ bench: 'flush-cpu', keys, ...figures }));
}

async function loadMode(keys: number, way: 'thread' | 'main'): Promise<void> {
  flushSettings.flushThread = way === 'thread' ? 'worker' : 'main';
  const directory = mkdtempSync(join(tmpdir(), 'ladybug-flush-load-'));
  const value = Buffer.alloc(VALUE_BYTES, 0x5a);
  try {
    const store = await openStore(directory, { memoryBudgetBytes: LOAD_BUDGET_BYTES, keyEncoding: 'binary' });
    const startedMs = performance.now();
    const cpuBefore = threadCpuNs();
    for (let start = 0; start < keys; start += LOAD_BATCH_KEYS) {
      const operations = [];
      for (let number = start; number < Math.min(keys, start + LOAD_BATCH_KEYS); number++) operations.push({ type: 'put' as const, key: keyAt(number, 'random'), value });
      await store.batch(operations);
    }
    const writeMs = performance.now() - startedMs;
    const writeCpuNs = threadCpuNs() - cpuBefore;
    const flushes = store.stats().storage.flushes;
    const { flushSeconds, compactionSeconds } = store.metrics();
    const { writeStalls, writeStallMs } = store.stats().storage;
    await store.close();
    const totalCpuNs = threadCpuNs() - cpuBefore;
    console.log(JSON.stringify({
      bench: 'flush-cpu-load', way, keys, flushes, threadFlushes: flushThreadCounters.threadFlushes,
      keysPerSecond: Math.round((keys * 1_000) / writeMs),
      mainThreadCpuNsPerKey: Math.round(writeCpuNs / keys),
      mainThreadCpuNsPerKeyWithClose: Math.round(totalCpuNs / keys),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      // How long a flush and a merge each hold their thread: a flush queued behind a merge in one shared thread would wait that long.
      flushMsP50: Math.round(flushSeconds.p50 * 1_000), flushMsMax: Math.round(flushSeconds.max * 1_000),
      compactions: compactionSeconds.count, compactionMsP50: Math.round(compactionSeconds.p50 * 1_000), compactionMsMax: Math.round(compactionSeconds.max * 1_000),
      writeStalls, writeStallMs: Math.round(writeStallMs),
    }));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * Writers mode: WRITERS closed-loop writers each awaiting one put (a commit) of a
 * fresh key with a VALUE_BYTES value until `commits` are done. Environment:
 * LADYBUG_WRITERS_KEY_ORDER (random, the default, or sequential, as bench/data.ts
 * keyAt), LADYBUG_WRITERS_BUDGET_MIB (memoryBudgetBytes; default 64 so memtables seal
 * and flush during the run; 2048 keeps every flush out of it), LADYBUG_WRITERS_VALUE_BYTES
 * (default 100), LADYBUG_WRITERS_DIRECTORY (where the store goes; /dev/shm takes the
 * disk out), LADYBUG_WRITERS_HEAP_PROFILE (a file: the writes' allocations are sampled
 * into it, every 256 bytes on average, collected objects included). Prints commits/s,
 * the main thread's and the whole process's CPU ns per commit (the process adds the
 * flush, merge, GC helper and thread-pool threads), the commit latency's p50/p99/max
 * (call to resolve, every commit), commits per group (per fdatasync), the WAL
 * fdatasync's p50/p99 and the share of the run one was under way (near 1: the disk,
 * not the CPU, paces the groups), the main thread's GC pauses (every commit in flight
 * waits them out), and the write stalls. Counters are the fresh store's since open.
 */
async function writersMode(commits: number, way: 'thread' | 'main'): Promise<void> {
  flushSettings.flushThread = way === 'thread' ? 'worker' : 'main';
  const keyOrder = process.env['LADYBUG_WRITERS_KEY_ORDER'] ?? 'random';
  if (keyOrder !== 'random' && keyOrder !== 'sequential') throw new RangeError(`the key order is random or sequential: ${keyOrder}`);
  const budgetMiB = Number(process.env['LADYBUG_WRITERS_BUDGET_MIB'] ?? LOAD_BUDGET_BYTES / (1 << 20));
  const valueBytes = Number(process.env['LADYBUG_WRITERS_VALUE_BYTES'] ?? VALUE_BYTES);
  const directory = mkdtempSync(join(process.env['LADYBUG_WRITERS_DIRECTORY'] ?? tmpdir(), 'ladybug-flush-writers-'));
  const value = Buffer.alloc(valueBytes, 0x5a);
  const latenciesMs = new Float64Array(commits);
  const gcPausesMs: number[] = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPausesMs.push(entry.duration);
  });
  try {
    const store = await openStore(directory, { memoryBudgetBytes: budgetMiB * (1 << 20), keyEncoding: 'binary' });
    const heapPath = process.env['LADYBUG_WRITERS_HEAP_PROFILE'];
    const heapSession = heapPath === undefined ? undefined : new Session();
    if (heapSession !== undefined) {
      heapSession.connect();
      await heapSession.post('HeapProfiler.enable');
      await heapSession.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    }
    let next = 0;
    gcObserver.observe({ entryTypes: ['gc'] });
    const startedMs = performance.now();
    const cpuBefore = threadCpuNs();
    const processCpuBefore = process.cpuUsage();
    const writer = async (): Promise<void> => {
      for (let number = next++; number < commits; number = next++) {
        const calledMs = performance.now();
        await store.put(keyAt(number, keyOrder), value);
        latenciesMs[number] = performance.now() - calledMs;
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, writer));
    const writeMs = performance.now() - startedMs;
    const cpuNs = threadCpuNs() - cpuBefore;
    const processCpu = process.cpuUsage(processCpuBefore);
    gcObserver.disconnect();
    if (heapSession !== undefined && heapPath !== undefined) {
      const { profile } = await heapSession.post('HeapProfiler.stopSampling');
      writeFileSync(heapPath, JSON.stringify(profile));
      heapSession.disconnect();
    }
    const { flushes, writeStalls, writeStallMs } = store.stats().storage;
    const { groupCommits } = store.stats();
    const { fdatasyncSeconds } = store.metrics();
    await store.close();
    latenciesMs.sort();
    const percentileUs = (share: number): number => Math.round(latenciesMs[Math.min(commits - 1, Math.floor(commits * share))]! * 1_000);
    gcPausesMs.sort((left, right) => left - right);
    console.log(JSON.stringify({
      bench: 'flush-cpu-writers', way, keyOrder, budgetMiB, valueBytes, commits, writers: WRITERS, flushes, threadFlushes: flushThreadCounters.threadFlushes,
      commitsPerSecond: Math.round((commits * 1_000) / writeMs),
      mainThreadCpuNsPerCommit: Math.round(cpuNs / commits),
      processCpuNsPerCommit: Math.round(((processCpu.user + processCpu.system) * 1_000) / commits),
      latencyUs: { p50: percentileUs(0.5), p99: percentileUs(0.99), max: percentileUs(1) },
      commitsPerGroup: Math.round(commits / Math.max(1, groupCommits)),
      fdatasyncUsP50: Math.round(fdatasyncSeconds.p50 * 1e6), fdatasyncUsP99: Math.round(fdatasyncSeconds.p99 * 1e6),
      fdatasyncBusyShare: Number(((fdatasyncSeconds.sum * 1_000) / writeMs).toFixed(2)),
      gcPauses: gcPausesMs.length, gcPauseMsTotal: Math.round(gcPausesMs.reduce((sum, pause) => sum + pause, 0)),
      gcPauseMsMedian: Number((gcPausesMs[gcPausesMs.length >> 1] ?? 0).toFixed(2)), gcPauseMsMax: Number((gcPausesMs.at(-1) ?? 0).toFixed(2)),
      writeStalls, writeStallMs: Math.round(writeStallMs),
    }));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

const WRITERS = 64;

function wayArgument(): 'thread' | 'main' {
  const way = process.argv[4] ?? 'thread';
  if (way !== 'thread' && way !== 'main') throw new RangeError(`the way is thread or main: ${way}`);
  return way;
}

/**
 * Writer mode: writeRun alone, on `keys` random 16-byte binary keys with `valueBytes`
 * values laid out in run order (entry objects, key strings and values made in that
 * order, values as views of one slab, as the flush thread's unpacked chunks), handed
 * over in batches of WRITER_BATCH_ENTRIES (as the flush and merge threads hand them),
 * written through a handle whose writes go nowhere: the run writer's own CPU per entry
 * (this thread's, schedstat), without the memtable walk, the fault file system's copies
 * or the cache misses of keys scattered in the heap (which dominate flush mode's
 * writeRunOnly). Prints one JSON line with each round's ns per entry.
 */
async function writerMode(keys: number, rounds: number, valueBytes: number): Promise<void> {
  const hash = await loadHash64();
  const raw: Buffer[] = [];
  for (let number = 0; number < keys; number++) raw.push(keyAt(number, 'random'));
  raw.sort(Buffer.compare);
  const slab = new Uint8Array(keys * valueBytes);
  const entries: RunEntry[] = [];
  for (let number = 0; number < keys; number++) {
    slab.fill(number & 0xff, number * valueBytes, (number + 1) * valueBytes);
    entries.push({ key: internalKey(raw[number]), version: number + 1, value: slab.subarray(number * valueBytes, (number + 1) * valueBytes) });
  }
  raw.length = 0;
  const cpuNsPerEntry: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const inner = new FaultFileSystem(round + 1);
    await inner.mkdir('/runs');
    const fileSystem = nullWrites(inner);
    async function* batches(): AsyncGenerator<RunEntry[]> {
      for (let start = 0; start < entries.length; start += WRITER_BATCH_ENTRIES) yield entries.slice(start, start + WRITER_BATCH_ENTRIES);
    }
    const cpuBefore = threadCpuNs();
    await writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 1, level: 0, hash, entries: { batches: batches() } });
    cpuNsPerEntry.push(Math.round((threadCpuNs() - cpuBefore) / keys));
  }
  console.log(JSON.stringify({ bench: 'flush-cpu-writer', keys, valueBytes, cpuNsPerEntry }));
}

const WRITER_BATCH_ENTRIES = 2_000;

/** `inner` whose opened handles drop every write (the rest goes through). */
function nullWrites(inner: FileSystem): FileSystem {
  const bound = (target: object, property: string | symbol): unknown => {
    const value: unknown = Reflect.get(target, property, target);
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
  };
  return new Proxy(inner, {
    get(target, property) {
      if (property !== 'open') return bound(target, property);
      return async (path: string, mode: Parameters<FileSystem['open']>[1]): Promise<FileHandle> => {
        const handle = await target.open(path, mode);
        return new Proxy(handle, { get: (handleTarget, handleProperty) => (handleProperty === 'write' ? async () => undefined : bound(handleTarget, handleProperty)) });
      };
    },
  });
}

if (process.argv[2] === 'writer') {
  await writerMode(Number(process.argv[3] ?? 200_000), Number(process.argv[4] ?? 6), Number(process.argv[5] ?? VALUE_BYTES));
} else if (process.argv[2] === 'writers') {
  await writersMode(Number(process.argv[3] ?? 500_000), wayArgument());
} else if (process.argv[2] === 'load') {
  await loadMode(Number(process.argv[3] ?? 200_000), wayArgument());
} else {
  await flushMode(Number(process.argv[2] ?? 100_000), Number(process.argv[3] ?? 4));
}
