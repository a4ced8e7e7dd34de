/**
 * The cost of timing point reads for store.metrics() (issue 11: recording must stay
 * cheap), ladybug only: gets per second with reads timed one in READ_SAMPLE_INTERVAL
 * (the default, the headline) against the same gets with no read timed
 * (readSampling.interval = Infinity when the store opens).
 *
 * Two stores open side by side in this process (one timed, one untimed), each
 * preloaded with KEY_COUNT keys (all in the active memtable: the cheapest get, so
 * the largest relative cost). One client awaits one get at a time over the keys in a
 * fixed shuffled order, alternating between the stores in SLICES short slices each
 * (after a warm-up on both), so drift of a busy machine and the JIT's state weigh on
 * both alike. "cost %" = 1 - timed / untimed. Measured on 2026-11-30 on a shared,
 * busy machine, fresh-store phases of the same build differed by up to 30%: rerun
 * on a quiet machine; a timed read itself costs about 210 ns (README "Metrics").
 */
import type { EngineDefinition } from '../engines/engine.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

const KEY_COUNT = 20_000;
/** Gets between two clock checks of the phase loop. */
const GETS_PER_CHECK = 256;
/** Alternating slices per store in the measured part. */
const SLICES = 20;

interface BenchStore {
  batch(operations: Array<{ type: 'put'; key: string; value: unknown }>): Promise<unknown>;
  get(key: string): Promise<unknown>;
  close(): Promise<void>;
}
interface StoreModule { openStore(directory: string, options?: Record<string, unknown>): Promise<BenchStore> }
interface RecordersModule { readSampling: { interval: number }; READ_SAMPLE_INTERVAL: number }

export function readMetricsCostWorkload(): Workload {
  return {
    id: 'read-metrics-cost',
    title: 'get throughput with point reads timed for store.metrics() against none timed',
    unit: 'gets',
    measures:
      `Headline: gets per second (one client, one awaited get at a time, ${KEY_COUNT.toLocaleString('en-US')} keys in the active memtable) with the default read timing ` +
      '(one get in READ_SAMPLE_INTERVAL timed). "untimed /s": the same on a second store with no get timed; the two alternate in short slices, in this process.',
    writes: false,
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'getsPerSecondUntimed', header: 'untimed /s', shortLabel: 'untimed /s', format: 'count' },
      { key: 'costPercent', header: 'cost %', shortLabel: 'cost %', format: 'decimal' },
    ],
    appliesTo: (definition: EngineDefinition) => definition.id === 'ladybug',
    run: (context) => measureCost(context),
  };
}

async function importModules(): Promise<{ store: StoreModule; recorders: RecordersModule }> {
  const storeSpecifier: string = new URL('../../src/index.js', import.meta.url).href;
  const recordersSpecifier: string = new URL('../../src/metrics/recorders.js', import.meta.url).href;
  return { store: (await import(storeSpecifier)) as StoreModule, recorders: (await import(recordersSpecifier)) as RecordersModule };
}

async function measureCost(context: WorkloadContext): Promise<Measurement> {
  const { store: module, recorders } = await importModules();
  const { warmupMs, measureMs } = context.profile;
  const timedStore = await openPreloaded(module, recorders, `${context.directory}/timed`, recorders.READ_SAMPLE_INTERVAL);
  const untimedStore = await openPreloaded(module, recorders, `${context.directory}/untimed`, Infinity);
  try {
    await getFor(timedStore, warmupMs / 2);
    await getFor(untimedStore, warmupMs / 2);
    context.beginMeasurement();
    const sliceMs = measureMs / 2 / SLICES;
    let timed = 0;
    let untimed = 0;
    for (let slice = 0; slice < SLICES; slice++) {
      // Alternate which store goes first in each slice pair (ABBA ...).
      if (slice % 2 === 0) {
        timed += await getFor(timedStore, sliceMs);
        untimed += await getFor(untimedStore, sliceMs);
      } else {
        untimed += await getFor(untimedStore, sliceMs);
        timed += await getFor(timedStore, sliceMs);
      }
    }
    const halfMs = measureMs / 2;
    return {
      unitCount: timed,
      callCount: timed,
      durationMs: halfMs,
      unitsPerSecond: (timed * 1000) / halfMs,
      extra: {
        getsPerSecondUntimed: (untimed * 1000) / halfMs,
        costPercent: untimed === 0 ? 0 : (1 - timed / untimed) * 100,
        readSampleInterval: recorders.READ_SAMPLE_INTERVAL,
      },
    };
  } finally {
    await timedStore.close();
    await untimedStore.close();
  }
}

const KEYS = Array.from({ length: KEY_COUNT }, (_, index) => `key-${String((index * 7919) % KEY_COUNT).padStart(8, '0')}`);

/** A store opened with read timing every `interval` gets, holding KEYS. */
async function openPreloaded(module: StoreModule, recorders: RecordersModule, directory: string, interval: number): Promise<BenchStore> {
  recorders.readSampling.interval = interval;
  let store: BenchStore;
  try {
    store = await module.openStore(directory);
  } finally {
    recorders.readSampling.interval = recorders.READ_SAMPLE_INTERVAL;
  }
  for (let start = 0; start < KEY_COUNT; start += 1000) {
    await store.batch(KEYS.slice(start, start + 1000).map((key) => ({ type: 'put' as const, key, value: 'v'.repeat(50) })));
  }
  return store;
}

let position = 0;

/** Gets on `store` for about `durationMs` (checked every GETS_PER_CHECK gets); returns the count. */
async function getFor(store: BenchStore, durationMs: number): Promise<number> {
  const startMs = performance.now();
  let gets = 0;
  while (performance.now() - startMs < durationMs) {
    for (let index = 0; index < GETS_PER_CHECK; index++) {
      if ((await store.get(KEYS[position]!)) === undefined) throw new Error(`read-metrics-cost: key ${KEYS[position]} missing`);
      position = position + 1 === KEY_COUNT ? 0 : position + 1;
    }
    gets += GETS_PER_CHECK;
  }
  return gets;
}
