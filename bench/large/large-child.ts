/**
 * One phase of the large-data workloads (workloads/large-data.ts), run in a
 * process of its own so each engine's memory (peak RSS) and reopen are its own:
 *
 *   node dist/bench/large/large-child.js <request JSON>
 *
 * Phases (see LargeChildRequest):
 * - load: opens the engine on an empty directory, writes keys 0..keyCount-1 in the
 *   given key order with awaited batches, closes it cleanly; reports the time of
 *   the writes and of the close, and the peak RSS of the process.
 * - read: opens, times open + the first get of a written key, then times
 *   readCount gets uniform over all keys and readCount skewed gets (80% on the
 *   first 2% of key indexes, which the key order scatters over the key space);
 *   closes.
 * - overwrite-then-wait: opens, overwrites overwriteCount keys with new values,
 *   prints its report and waits to be SIGKILLed (nothing is closed).
 * - reopen: opens, times open + the first get, checks that a key overwritten
 *   before the kill reads back its new value.
 *
 * Peak RSS (load and read): bench/measure/peak-rss.ts, VmHWM on Linux (not maxRSS,
 * which Linux carries over from the bench harness across exec); `peakRssFromHighWater`
 * is 1 when the figure is VmHWM, 0 when it is maxRSS.
 *
 * Engine `none` (NOOP_ENGINE_ID, not in the registry; bench/large/memory-breakdown.ts):
 * stores nothing and answers every get with one value, so its peak RSS is the harness
 * floor: Node, the bench modules, the keys and batches the phases build.
 *
 * Invariant: exactly one JSON line on stdout, the last thing printed, then exit
 * (or, for overwrite-then-wait, the line and then waiting for the kill).
 */
import { asBytes, type BenchKey, type EngineDefinition, type EngineHandle, type Entry } from '../engines/engine.js';
import { allEngines } from '../engines/registry.js';
import { KEY_SIZE_BYTES, keyAt, makeValue, skewedIndexes, SMALL_VALUE, uniformIndexes, type KeyOrder } from '../data.js';
import { peakRss, peakRssFromHighWater } from '../measure/peak-rss.js';

export type LargeChildPhase = 'load' | 'read' | 'overwrite-then-wait' | 'reopen';

export interface LargeChildRequest {
  readonly phase: LargeChildPhase;
  readonly engineId: string;
  readonly directory: string;
  readonly keyCount: number;
  readonly keyOrder: KeyOrder;
  /** Extra openStore options for ladybug (the budget and --ladybug-options). */
  readonly ladybugStoreOptions: Readonly<Record<string, unknown>>;
  /** Gets of each kind in the read phase. */
  readonly readCount: number;
  /** Keys overwritten before the kill. */
  readonly overwriteCount: number;
}

export interface LargeChildReport {
  readonly phase: LargeChildPhase;
  readonly figures: Record<string, number>;
}

/** The byte a value is tagged with when overwritten before a kill (values are otherwise random). */
const OVERWRITE_TAG = 0xa5;
/** The no-op engine's id: the harness floor (see the module header). */
export const NOOP_ENGINE_ID = 'none';

/** The no-op engine: every write dropped, every get answered with the same value (so the checks pass). */
function noopEngine(): EngineDefinition {
  const value = makeValue(SMALL_VALUE.bytes);
  value[0] = OVERWRITE_TAG; // the reopen phase's check reads it as the overwritten value
  const handle: EngineHandle = {
    put: async () => undefined,
    batch: async () => undefined,
    get: () => value,
    getIsSynchronous: true,
    close: async () => undefined,
  };
  return {
    id: NOOP_ENGINE_ID, label: 'no-op (harness floor)', role: 'raw-limit', settings: [], concurrentPutMode: 'in-flight-puts',
    supportsReads: true, concurrencyNote: '', load: async () => async () => handle,
  };
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '') as LargeChildRequest;
  const engines = [...allEngines({ rawPreallocatedBytes: 0, ladybugStoreOptions: request.ladybugStoreOptions }), noopEngine()];
  const definition = engines.find((candidate) => candidate.id === request.engineId);
  if (definition === undefined) throw new Error(`unknown engine ${request.engineId}`);
  const open = await definition.load();
  const openEngine = () => open(request.directory, { keyType: 'binary' });
  const batchSize = definition.bulkLoadBatchSize ?? 10_000;
  let figures: Record<string, number>;
  switch (request.phase) {
    case 'load':
      figures = await loadPhase(await openEngine(), request, batchSize);
      break;
    case 'read':
      figures = await readPhase(openEngine, request);
      break;
    case 'overwrite-then-wait':
      figures = await overwritePhase(await openEngine(), request, batchSize);
      report({ phase: request.phase, figures });
      await new Promise(() => setInterval(() => undefined, 60_000)); // until SIGKILL
      return;
    case 'reopen':
      figures = await reopenPhase(openEngine, request);
      break;
  }
  report({ phase: request.phase, figures });
}

function report(result: LargeChildReport): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function loadPhase(engine: EngineHandle, request: LargeChildRequest, batchSize: number): Promise<Record<string, number>> {
  const value = makeValue(SMALL_VALUE.bytes);
  const startMs = performance.now();
  await writeBatches(engine, request.keyCount, batchSize, (index) => ({ key: keyAt(index, request.keyOrder), value }));
  const writeMs = performance.now() - startMs;
  const stats = engine.stats?.() ?? {};
  const closeStartMs = performance.now();
  await engine.close();
  const closeMs = performance.now() - closeStartMs;
  return {
    keys: request.keyCount,
    writeMs,
    closeMs,
    keysPerSecond: (request.keyCount * 1_000) / writeMs,
    ...peakRssFigures(),
    ...pick(stats, ['writeStalls', 'writeStallMs', 'runs', 'flushes']),
  };
}

async function readPhase(openEngine: () => Promise<EngineHandle>, request: LargeChildRequest): Promise<Record<string, number>> {
  const { engine, firstReadMs } = await timedOpen(openEngine, keyAt(request.keyCount >>> 1, request.keyOrder));
  const get = getter(engine);
  const uniform = uniformIndexes(request.readCount, request.keyCount, 1);
  const skewed = skewedIndexes(request.readCount, request.keyCount, 2);
  const uniformKeys = packedKeys(uniform, request.keyOrder);
  const skewedKeys = packedKeys(skewed, request.keyOrder);
  const uniformMs = await timeGets(get, uniformKeys);
  const skewedMs = await timeGets(get, skewedKeys);
  const stats = engine.stats?.() ?? {};
  await engine.close();
  return {
    firstReadMs,
    uniformGetsPerSecond: (request.readCount * 1_000) / uniformMs,
    skewedGetsPerSecond: (request.readCount * 1_000) / skewedMs,
    ...peakRssFigures(),
    ...pick(stats, ['blockCacheHits', 'blockCacheMisses', 'runs', 'memoryBytes']),
  };
}

async function overwritePhase(engine: EngineHandle, request: LargeChildRequest, batchSize: number): Promise<Record<string, number>> {
  const value = makeValue(SMALL_VALUE.bytes);
  value[0] = OVERWRITE_TAG;
  const startMs = performance.now();
  await writeBatches(engine, request.overwriteCount, batchSize, (index) => ({ key: keyAt(overwrittenIndex(index, request), request.keyOrder), value }));
  return { overwritten: request.overwriteCount, overwriteMs: performance.now() - startMs };
}

async function reopenPhase(openEngine: () => Promise<EngineHandle>, request: LargeChildRequest): Promise<Record<string, number>> {
  const probe = keyAt(overwrittenIndex(request.overwriteCount - 1, request), request.keyOrder);
  const { engine, firstReadMs, firstValue } = await timedOpen(openEngine, probe);
  const stats = engine.stats?.() ?? {};
  await engine.close();
  return {
    firstReadMs,
    lastOverwriteFound: asBytes(firstValue as Uint8Array)[0] === OVERWRITE_TAG ? 1 : 0,
    ...pick(stats, ['recoveryDurationMs', 'recoveryRecords']),
  };
}

/** The overwritten keys: every (keyCount / overwriteCount)-th index. */
function overwrittenIndex(position: number, request: LargeChildRequest): number {
  return Math.floor((position * request.keyCount) / request.overwriteCount);
}

async function timedOpen(openEngine: () => Promise<EngineHandle>, probe: Uint8Array) {
  const startMs = performance.now();
  const engine = await openEngine();
  const firstValue: unknown = await getter(engine)(probe);
  const firstReadMs = performance.now() - startMs;
  if (firstValue === undefined) throw new Error('the first get after reopen missed a written key');
  return { engine, firstReadMs, firstValue };
}

function getter(engine: EngineHandle): (key: BenchKey) => unknown {
  const get = engine.get;
  if (get === undefined) throw new Error('engine has no get');
  return get;
}

/**
 * The keys at `indexes`, back to back in one buffer (KEY_SIZE_BYTES each). Not one
 * Buffer per key: 400,000 of them held ~40 MiB of V8 heap for the whole read phase,
 * which every engine's read RSS included (harness floor 135 MiB; issue 7).
 */
function packedKeys(indexes: Uint32Array, order: KeyOrder): Buffer {
  const packed = Buffer.allocUnsafeSlow(indexes.length * KEY_SIZE_BYTES);
  indexes.forEach((index, position) => keyAt(index, order).copy(packed, position * KEY_SIZE_BYTES));
  return packed;
}

/**
 * Every get checked for a value, so a miss cannot pass as a fast read. Each key is a
 * fresh view of `packed` (a short-lived object, as a caller's key usually is).
 */
async function timeGets(get: (key: BenchKey) => unknown, packed: Buffer): Promise<number> {
  const count = packed.length / KEY_SIZE_BYTES;
  const startMs = performance.now();
  let missing = 0;
  for (let position = 0; position < count; position++) {
    let value = get(packed.subarray(position * KEY_SIZE_BYTES, (position + 1) * KEY_SIZE_BYTES));
    if (value instanceof Promise) value = await value;
    if (value === undefined) missing += 1;
  }
  const durationMs = performance.now() - startMs;
  if (missing > 0) throw new Error(`${missing} of ${count} gets missed written keys`);
  return durationMs;
}

async function writeBatches(engine: EngineHandle, count: number, batchSize: number, entryAt: (index: number) => Entry): Promise<void> {
  for (let first = 0; first < count; first += batchSize) {
    const entries: Entry[] = [];
    const end = Math.min(count, first + batchSize);
    for (let index = first; index < end; index += 1) entries.push(entryAt(index));
    await engine.batch(entries);
  }
}

/** The process's peak RSS and which figure it is (see the module header). */
function peakRssFigures(): Record<string, number> {
  const peak = peakRss();
  return { peakRssBytes: peak.bytes, peakRssFromHighWater: peakRssFromHighWater(peak) };
}

function pick(stats: Record<string, number>, names: readonly string[]): Record<string, number> {
  const picked: Record<string, number> = {};
  for (const name of names) if (stats[name] !== undefined) picked[name] = stats[name];
  return picked;
}

main().catch((error: unknown) => {
  process.stderr.write(`large-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
