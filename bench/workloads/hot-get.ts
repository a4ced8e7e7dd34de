/**
 * Random hot gets on a preloaded data set that fits in memory, measured with
 * tinybench. One tinybench iteration is 1,000 gets; its sample is the mean
 * duration per get, so the reported p50/p99 are percentiles of those per-batch
 * means (per-get timing would measure the timer, not the get). Every get must
 * find its key: a miss fails the measurement rather than counting as fast.
 */
import { Bench, type FnReturnedObject, type Task } from 'tinybench';
import type { EngineDefinition, EngineHandle } from '../engines/engine.js';
import { randomIndexes, type KeyOrder } from '../data.js';
import { perSecond } from './closed-loop-measurement.js';
import { preloadKeys, preloadedKeys } from './preload.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

const GETS_PER_ITERATION = 1_000;
const RANDOM_INDEX_COUNT = 1 << 16;
const MICROSECONDS_PER_MILLISECOND = 1_000;

export function hotGetWorkload(): Workload {
  return {
    id: 'hot-get',
    title: 'random hot gets (data set in memory), 100 B values',
    unit: 'gets',
    writes: false,
    appliesTo: (definition: EngineDefinition) => definition.supportsReads,
    async run(context) {
      await preloadKeys(context.engine, context.profile.preloadKeyCount, context.profile.keyOrder);
      context.beginMeasurement();
      return measureGets(context);
    },
  };
}

async function measureGets(context: WorkloadContext): Promise<Measurement> {
  const reader = new RandomReader(context.engine, context.profile.preloadKeyCount, context.profile.keyOrder);
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
  private readonly keys: Buffer[];
  private readonly order: Uint32Array;
  private cursor = 0;

  constructor(
    private readonly engine: EngineHandle,
    keyCount: number,
    keyOrder: KeyOrder,
  ) {
    this.keys = preloadedKeys(keyCount, keyOrder);
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

  private nextKey(): Buffer {
    const index = this.order[this.cursor & (RANDOM_INDEX_COUNT - 1)] ?? 0;
    this.cursor += 1;
    return this.keys[index] as Buffer;
  }

  private finish(startMs: number, misses: number): FnReturnedObject {
    const elapsedMs = performance.now() - startMs;
    if (misses > 0) throw new Error(`${misses} of ${GETS_PER_ITERATION} gets missed preloaded keys`);
    return { overriddenDuration: elapsedMs / GETS_PER_ITERATION, overriddenIterationCost: elapsedMs };
  }

  private requireGet(): (key: Uint8Array) => unknown {
    const get = this.engine.get;
    if (get === undefined) throw new Error('engine has no get');
    return get;
  }
}
