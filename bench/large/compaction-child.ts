/**
 * One engine's run of a space-reclamation workload (workloads/compaction-space.ts),
 * in a process of its own so the event-loop delay and the disk usage are its own:
 *
 *   node dist/bench/large/compaction-child.js <request JSON>
 *
 * Steps, on an empty directory:
 * 1. write keyCount keys (16 B, random order) with 100 B values in awaited batches of
 *    the engine's bulkLoadBatchSize; 'update-heavy' then overwrites every key
 *    overwriteCount more times (new values each round); 'delete-heavy' deletes every
 *    key whose index is not a multiple of 10 (90%);
 * 2. settle (ladybug: checkpoint, then wait for background compactions); bytes on
 *    disk (st_blocks x 512 of every file under the directory);
 * 3. getCount gets of live keys, one awaited at a time: "idle" latency;
 * 4. compact (engines that have one), with gets of live keys issued one at a time
 *    until it resolves (bounded by COMPACTING_GETS_PER_IDLE_GET x getCount) ("during compaction" latency) and
 *    perf_hooks.monitorEventLoopDelay enabled over exactly that window;
 * 5. bytes on disk again, open and after close.
 *
 * Every value a get returns is checked to be present (a miss fails the child), and
 * after the compaction the last round's value of one key is checked, so a compaction
 * that loses data cannot pass as a fast one.
 *
 * Invariant: exactly one JSON line on stdout, the last thing printed, then exit.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { keyAt, KEY_SIZE_BYTES, SMALL_VALUE } from '../data.js';
import type { BenchKey, EngineHandle, EngineStats, Entry } from '../engines/engine.js';
import { allEngines } from '../engines/registry.js';
import { LatencyRecorder } from '../measure/latency.js';

export type CompactionWorkloadKind = 'update-heavy' | 'delete-heavy';

export interface CompactionChildRequest {
  readonly kind: CompactionWorkloadKind;
  readonly engineId: string;
  readonly directory: string;
  readonly keyCount: number;
  /** Overwrites of every key after the first write ('update-heavy'); 0 for 'delete-heavy'. */
  readonly overwriteCount: number;
  /** Gets timed while idle (and at most this many while the compaction runs). */
  readonly getCount: number;
  /** openStore options for ladybug (maxVersionsPerKey and --ladybug-options). */
  readonly ladybugStoreOptions: Readonly<Record<string, unknown>>;
  /** Passed to EngineHandle.compact: give up as-of reads below the current version (ladybug's retention floor). */
  readonly retainFromCurrentVersion: boolean;
}

export interface CompactionChildReport {
  readonly kind: CompactionWorkloadKind;
  readonly figures: Record<string, number>;
}

/** Every key with an index divisible by this survives the delete-heavy workload (10%). */
const DELETE_HEAVY_KEEP_EVERY = 10;
/** Random bytes the values are cut from (incompressible, distinct per key and round). */
const VALUE_POOL_BYTES = 1 << 20;
/** Offset steps between values of consecutive keys and of consecutive rounds (primes). */
const VALUE_KEY_STEP_BYTES = 131;
const VALUE_ROUND_STEP_BYTES = 7_919;
const NANOSECONDS_PER_MILLISECOND = 1e6;
/** monitorEventLoopDelay resolution (its minimum is 1 ms). */
const EVENT_LOOP_RESOLUTION_MS = 1;
/**
 * Gets while the compaction runs stop at getCount x this (a bound, not the aim:
 * they are meant to cover the whole compaction, which may outlast getCount gets).
 */
const COMPACTING_GETS_PER_IDLE_GET = 10;

const valuePool = randomBytes(VALUE_POOL_BYTES);

/** The 100 B value of key `index` in write round `round` (a view into the pool). */
function valueAt(index: number, round: number): Uint8Array {
  const span = VALUE_POOL_BYTES - SMALL_VALUE.bytes;
  const offset = (index * VALUE_KEY_STEP_BYTES + round * VALUE_ROUND_STEP_BYTES) % span;
  return valuePool.subarray(offset, offset + SMALL_VALUE.bytes);
}

function isLiveAfterDeletes(index: number): boolean {
  return index % DELETE_HEAVY_KEEP_EVERY === 0;
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '') as CompactionChildRequest;
  if (!(request.keyCount >= DELETE_HEAVY_KEEP_EVERY)) throw new RangeError(`keyCount ${request.keyCount} is below ${DELETE_HEAVY_KEEP_EVERY}`);
  const engines = allEngines({ rawPreallocatedBytes: 0, ladybugStoreOptions: request.ladybugStoreOptions });
  const definition = engines.find((candidate) => candidate.id === request.engineId);
  if (definition === undefined) throw new Error(`unknown engine ${request.engineId}`);
  const open = await definition.load();
  const engine = await open(request.directory, { keyType: 'binary' });
  const batchSize = definition.bulkLoadBatchSize ?? 10_000;
  const figures = await measure(engine, request, batchSize);
  process.stdout.write(`${JSON.stringify({ kind: request.kind, figures } satisfies CompactionChildReport)}\n`);
}

async function measure(engine: EngineHandle, request: CompactionChildRequest, batchSize: number): Promise<Record<string, number>> {
  const rounds = request.kind === 'update-heavy' ? 1 + request.overwriteCount : 1;
  const writeStartMs = performance.now();
  for (let round = 0; round < rounds; round += 1) {
    await writeBatches(engine, request.keyCount, batchSize, (index) => ({ key: keyAt(index, 'random'), value: valueAt(index, round) }));
  }
  let deleted = 0;
  if (request.kind === 'delete-heavy') deleted = await deleteMost(engine, request.keyCount, batchSize);
  const writeMs = performance.now() - writeStartMs;
  await engine.settle?.();
  const diskBytesBeforeCompaction = allocatedBytes(request.directory);

  const liveIndexes = liveIndexesOf(request);
  const idle = await timedGets(engine, liveIndexes, () => false, request.getCount);
  const compaction = await compactWithGets(engine, liveIndexes, request.getCount, request.retainFromCurrentVersion);
  await checkLastValue(engine, request, rounds);
  const diskBytesAfterCompaction = allocatedBytes(request.directory);
  await engine.close();
  const diskBytesClosed = allocatedBytes(request.directory);

  const liveKeys = liveIndexes.length;
  const liveBytes = liveKeys * (KEY_SIZE_BYTES + SMALL_VALUE.bytes);
  const userBytesWritten = (request.keyCount * rounds + deleted) * KEY_SIZE_BYTES + request.keyCount * rounds * SMALL_VALUE.bytes;
  return {
    keys: request.keyCount,
    writeRounds: rounds,
    writes: request.keyCount * rounds + deleted,
    writeMs,
    liveKeys,
    liveBytes,
    userBytesWritten,
    diskBytesBeforeCompaction,
    diskBytesAfterCompaction,
    diskBytesClosed,
    spaceAmplificationBeforeCompaction: diskBytesBeforeCompaction / liveBytes,
    spaceAmplificationAfterCompaction: diskBytesAfterCompaction / liveBytes,
    getP50UsIdle: idle.summary('one get').p50Us,
    getP99UsIdle: idle.summary('one get').p99Us,
    getsIdle: idle.summary('one get').sampleCount,
    ...compaction,
  };
}

/** Runs the engine's compaction (if any) with gets and the event-loop monitor over exactly its duration. */
async function compactWithGets(engine: EngineHandle, liveIndexes: Uint32Array, getCount: number, retainFromCurrentVersion: boolean): Promise<Record<string, number>> {
  const compact = engine.compact;
  if (compact === undefined) return {};
  const loop = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  let running = true;
  loop.enable();
  const startMs = performance.now();
  const compaction = compact({ retainFromCurrentVersion }).finally(() => {
    running = false;
  });
  const busy = await timedGets(engine, liveIndexes, () => !running, getCount * COMPACTING_GETS_PER_IDLE_GET);
  const engineFigures: EngineStats = await compaction;
  const compactMs = performance.now() - startMs;
  loop.disable();
  const summary = busy.summary('one get');
  return {
    compactMs,
    getsDuringCompaction: summary.sampleCount,
    ...(summary.sampleCount > 0 ? { getP50UsDuringCompaction: summary.p50Us, getP99UsDuringCompaction: summary.p99Us } : {}),
    eventLoopDelayP99MsDuringCompaction: loop.percentile(99) / NANOSECONDS_PER_MILLISECOND,
    eventLoopDelayMaxMsDuringCompaction: loop.max / NANOSECONDS_PER_MILLISECOND,
    ...engineFigures,
  };
}

/**
 * Up to `limit` gets of live keys (spread by a prime stride), one awaited at a time,
 * until `done()`; each followed by a setImmediate so timers and I/O (a compaction's)
 * run between gets even when the engine answers synchronously or from a microtask.
 */
async function timedGets(engine: EngineHandle, liveIndexes: Uint32Array, done: () => boolean, limit: number): Promise<LatencyRecorder> {
  const get = engine.get;
  if (get === undefined) throw new Error('engine has no get');
  const recorder = new LatencyRecorder();
  for (let count = 0; count < limit && !done(); count += 1) {
    const index = liveIndexes[(count * 7_919) % liveIndexes.length] ?? 0;
    const key = keyAt(index, 'random');
    const startMs = performance.now();
    let value = get(key);
    if (value instanceof Promise) value = await value;
    recorder.record(performance.now() - startMs);
    if (value === undefined || value === null) throw new Error(`get of live key ${index} returned nothing`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return recorder;
}

async function checkLastValue(engine: EngineHandle, request: CompactionChildRequest, rounds: number): Promise<void> {
  const get = engine.get;
  if (get === undefined) throw new Error('engine has no get');
  const index = 0; // live in both workloads
  let value = get(keyAt(index, 'random'));
  if (value instanceof Promise) value = await value;
  const expected = Buffer.from(valueAt(index, rounds - 1));
  if (!(value instanceof Uint8Array) || !expected.equals(value)) throw new Error(`${request.kind}: key 0 does not read its last written value after compaction`);
}

function liveIndexesOf(request: CompactionChildRequest): Uint32Array {
  if (request.kind === 'update-heavy') return Uint32Array.from({ length: request.keyCount }, (_, index) => index);
  return Uint32Array.from({ length: Math.ceil(request.keyCount / DELETE_HEAVY_KEEP_EVERY) }, (_, slot) => slot * DELETE_HEAVY_KEEP_EVERY);
}

/** Deletes every key not live after the deletes, in batches; returns how many. */
async function deleteMost(engine: EngineHandle, keyCount: number, batchSize: number): Promise<number> {
  const deleteBatch = engine.deleteBatch;
  if (deleteBatch === undefined) throw new Error('engine has no deleteBatch');
  let deleted = 0;
  for (let first = 0; first < keyCount; first += batchSize) {
    const keys: BenchKey[] = [];
    for (let index = first; index < Math.min(keyCount, first + batchSize); index += 1) if (!isLiveAfterDeletes(index)) keys.push(keyAt(index, 'random'));
    await deleteBatch(keys);
    deleted += keys.length;
  }
  return deleted;
}

async function writeBatches(engine: EngineHandle, count: number, batchSize: number, entryAt: (index: number) => Entry): Promise<void> {
  for (let first = 0; first < count; first += batchSize) {
    const entries: Entry[] = [];
    const end = Math.min(count, first + batchSize);
    for (let index = first; index < end; index += 1) entries.push(entryAt(index));
    await engine.batch(entries);
  }
}

/** Bytes allocated on disk to every file under `directory` (st_blocks x 512). */
function allocatedBytes(directory: string): number {
  let total = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).blocks * 512;
  }
  return total;
}

main().catch((error: unknown) => {
  process.stderr.write(`compaction-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
