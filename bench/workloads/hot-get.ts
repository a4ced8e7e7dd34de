/**
 * Random hot gets on a preloaded data set that fits in memory, measured with
 * tinybench. One tinybench iteration is 1,000 gets; its sample is the mean
 * duration per get, so the reported p50/p99 are percentiles of those per-batch
 * means (per-get timing would measure the timer, not the get). Every get must
 * find its key: a miss fails the measurement rather than counting as fast.
 *
 * Two variants of the data: `hot-get` (16-byte binary keys, one shared 100 B
 * random-byte value) and `hot-get-string` (16-character ASCII keys, distinct
 * 100-character string values: the store's common case), the latter on every
 * engine that takes string keys, opened with its usual string settings.
 */
import { Bench, type FnReturnedObject, type Task } from 'tinybench';
import type { BenchKey, EngineDefinition, EngineHandle, KeyType } from '../engines/engine.js';
import { randomIndexes, type KeyOrder } from '../data.js';
import { perSecond } from './closed-loop-measurement.js';
import { preloadKeys, preloadedKeysOfType } from './preload.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

const GETS_PER_ITERATION = 1_000;
const RANDOM_INDEX_COUNT = 1 << 16;
const MICROSECONDS_PER_MILLISECOND = 1_000;

export function hotGetWorkload(keyType: KeyType, keyCount: number): Workload {
  const count = keyCount.toLocaleString('en-US');
  const data =
    keyType === 'string'
      ? `${count} keys: 16-character ASCII string keys, distinct 100-character string values`
      : `${count} keys: 16-byte binary keys, 100 B random-byte values`;
  return {
    id: keyType === 'string' ? 'hot-get-string' : 'hot-get',
    title: `random hot gets (data set in memory), ${data}`,
    unit: 'gets',
    measures:
      `Gets per second of random preloaded keys, one at a time (awaited if the API is async), on ${data}` +
      ` loaded in batches of 1,000 before the measurement (not timed); every get must hit. Timed with tinybench in iterations of ${GETS_PER_ITERATION.toLocaleString('en-US')} gets.` +
      (keyType === 'string' ? ' Only engines that take string keys, each opened with its usual string settings (see the engines section).' : ''),
    writes: false,
    keyType,
    appliesTo: (definition: EngineDefinition) => definition.supportsReads && (keyType === 'binary' || definition.stringKeySettings !== undefined),
    async run(context) {
      await preloadKeys(context.engine, context.profile.preloadKeyCount, context.profile.keyOrder, keyType);
      context.beginMeasurement();
      return measureGets(context, keyType);
    },
  };
}

async function measureGets(context: WorkloadContext, keyType: KeyType): Promise<Measurement> {
  const reader = new RandomReader(context.engine, context.profile.preloadKeyCount, context.profile.keyOrder, keyType);
  const bench = new Bench({
    time: context.profile.getMeasureMs,
    warmupTime: context.profile.getWarmupMs,
    iterations: 10,
    warmupIterations: 2,
    throws: true,
  });
  const task = context.engine.getIsSynchronous ? () => reader.readSync() : () => reader.readAsync();
  bench.add('hot-get', task);
  const [result] = await bench.run();
  return toMeasurement(result?.result);
}

type TaskResult = Task['result'];

function toMeasurement(result: TaskResult | undefined): Measurement {
  if (result === undefined) throw new Error('tinybench returned no result');
  if (result.state === 'errored') throw result.error;
  if (result.state !== 'completed') throw new Error(`tinybench task ended in state ${result.state}`);
  const getCount = result.latency.samplesCount * GETS_PER_ITERATION;
  const durationMs = result.totalTime * GETS_PER_ITERATION;
  return {
    unitCount: getCount,
    callCount: getCount,
    durationMs,
    unitsPerSecond: perSecond(getCount, durationMs),
    latency: {
      p50Us: result.latency.p50 * MICROSECONDS_PER_MILLISECOND,
      p99Us: result.latency.p99 * MICROSECONDS_PER_MILLISECOND,
      meanUs: result.latency.mean * MICROSECONDS_PER_MILLISECOND,
      maxUs: result.latency.max * MICROSECONDS_PER_MILLISECOND,
      sampleCount: result.latency.samplesCount,
      sampleMeaning: `mean per get over a batch of ${GETS_PER_ITERATION.toLocaleString('en-US')}`,
      source: 'tinybench',
    },
    extra: {},
  };
}

/** Reads preloaded keys in a fixed random order, checking every result. */
class RandomReader {
  private readonly keys: BenchKey[];
  private readonly order: Uint32Array;
  private cursor = 0;

  constructor(
    private readonly engine: EngineHandle,
    keyCount: number,
    keyOrder: KeyOrder,
    keyType: KeyType,
  ) {
    this.keys = preloadedKeysOfType(keyCount, keyOrder, keyType);
    this.order = randomIndexes(RANDOM_INDEX_COUNT, keyCount);
  }

  readSync(): FnReturnedObject {
    const get = this.requireGet();
    const startMs = performance.now();
    let misses = 0;
    for (let count = 0; count < GETS_PER_ITERATION; count += 1) {
      if (get(this.nextKey()) === undefined) misses += 1;
    }
    return this.finish(startMs, misses);
  }

  async readAsync(): Promise<FnReturnedObject> {
    const get = this.requireGet();
    const startMs = performance.now();
    let misses = 0;
    for (let count = 0; count < GETS_PER_ITERATION; count += 1) {
      if ((await get(this.nextKey())) === undefined) misses += 1;
    }
    return this.finish(startMs, misses);
  }

  private nextKey(): BenchKey {
    const index = this.order[this.cursor & (RANDOM_INDEX_COUNT - 1)] ?? 0;
    this.cursor += 1;
    return this.keys[index] as BenchKey;
  }

  private finish(startMs: number, misses: number): FnReturnedObject {
    const elapsedMs = performance.now() - startMs;
    if (misses > 0) throw new Error(`${misses} of ${GETS_PER_ITERATION} gets missed preloaded keys`);
    return { overriddenDuration: elapsedMs / GETS_PER_ITERATION, overriddenIterationCost: elapsedMs };
  }

  private requireGet(): (key: BenchKey) => unknown {
    const get = this.engine.get;
    if (get === undefined) throw new Error('engine has no get');
    return get;
  }
}
