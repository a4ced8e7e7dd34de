/**
 * Durable write workloads: sequential awaited puts, 64 concurrent puts, and
 * batches of N, all with fresh (never overwritten) 16-byte keys.
 */
import type { EngineDefinition, Entry } from '../engines/engine.js';
import { KeySequence, makeValue, type ValueSize } from '../data.js';
import { measureClosedLoop } from './closed-loop-measurement.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

const everyEngine = (_definition: EngineDefinition): boolean => true;

/** One worker: `await put()` back to back. */
export function sequentialPutWorkload(valueSize: ValueSize): Workload {
  return {
    id: `sequential-put-${valueSize.idSuffix}`,
    title: `sequential awaited durable puts, ${valueSize.label} values`,
    unit: 'puts',
    measures: `Puts per second by one client awaiting each durable put of a fresh 16-byte key and a ${valueSize.label} value before issuing the next (closed loop); latency: call to resolve. The raw limit: one record write + one fdatasync of a preallocated file per put.`,
    writes: true,
    appliesTo: everyEngine,
    run(context) {
      const keys = new KeySequence(context.profile.keyOrder);
      const value = makeValue(valueSize.bytes);
      context.beginMeasurement();
      return measureClosedLoop(context.profile, {
        workerCount: 1,
        operation: async () => {
          await context.engine.put(keys.next(), value);
          return 1;
        },
        latencyPerRecord: true,
        sampleMeaning: 'one put',
      });
    },
  };
}

/** Bytes of puts a steady-state variant writes, untimed, before it measures (a few memtables of the default budget). */
const STEADY_PRELOAD_BYTES = 96 * 1024 * 1024;
/** Bytes per preload batch: small enough that a batch fits the WAL's usual segment sizes. */
const STEADY_PRELOAD_BATCH_BYTES = 256 * 1024;

/**
 * sequentialPutWorkload as a long-running store sees it: measured after an untimed
 * preload of STEADY_PRELOAD_BYTES of puts (in batches) and the engine's settle
 * (ladybug: a checkpoint, so every WAL segment written is covered, and new segments
 * are made from recycled ones, WAL format 2). A fresh store's first seconds, which
 * sequential-put-* measure, write every WAL segment new. The raw limit's file is
 * preallocated and overwritten either way.
 */
export function steadySequentialPutWorkload(valueSize: ValueSize): Workload {
  const preloadMebibytes = STEADY_PRELOAD_BYTES / (1024 * 1024);
  return {
    id: `steady-sequential-put-${valueSize.idSuffix}`,
    title: `sequential awaited durable puts, ${valueSize.label} values, after ${preloadMebibytes} MiB written`,
    unit: 'puts',
    measures: `As sequential-put-${valueSize.idSuffix} (one client awaiting each durable put of a fresh 16-byte key and a ${valueSize.label} value), measured after an untimed preload of ${preloadMebibytes} MiB of such puts in batches and a settle (ladybug: checkpoint): the state of a long-running store, whose new WAL segments are made from recycled ones. The raw limit: one record write + one fdatasync of a preallocated file per put.`,
    writes: true,
    appliesTo: everyEngine,
    async run(context) {
      const keys = new KeySequence(context.profile.keyOrder);
      const value = makeValue(valueSize.bytes);
      const batchSize = Math.max(1, Math.floor(STEADY_PRELOAD_BATCH_BYTES / (16 + valueSize.bytes)));
      for (let written = 0; written < STEADY_PRELOAD_BYTES; written += batchSize * (16 + valueSize.bytes)) {
        await context.engine.batch(makeEntries(keys, batchSize, value));
      }
      await context.engine.settle?.();
      context.beginMeasurement();
      return measureClosedLoop(context.profile, {
        workerCount: 1,
        operation: async () => {
          await context.engine.put(keys.next(), value);
          return 1;
        },
        latencyPerRecord: true,
        sampleMeaning: 'one put',
      });
    },
  };
}

/** `profile.concurrency` puts in flight; the raw limit appends them as one group. */
export function concurrentPutWorkload(valueSize: ValueSize, concurrency: number): Workload {
  return {
    id: `concurrent-put-${valueSize.idSuffix}`,
    title: `${concurrency} concurrent durable puts, ${valueSize.label} values`,
    unit: 'puts',
    measures: `Puts per second with ${concurrency} clients, each awaiting its own durable put (fresh 16-byte key, ${valueSize.label} value) before issuing the next, so ${concurrency} are in flight; for ladybug each put is one commit, so puts/s = commits/s. Latency: one put, call to resolve. The raw limit: groups of ${concurrency} records, one write + one fdatasync per group.`,
    writes: true,
    appliesTo: everyEngine,
    run(context) {
      const value = makeValue(valueSize.bytes);
      context.beginMeasurement();
      return context.definition.concurrentPutMode === 'one-append-per-group'
        ? measureGroupedPuts(context, value)
        : measureInFlightPuts(context, value);
    },
  };
}

function measureInFlightPuts(context: WorkloadContext, value: Uint8Array): Promise<Measurement> {
  const keys = new KeySequence(context.profile.keyOrder);
  return measureClosedLoop(context.profile, {
    workerCount: context.profile.concurrency,
    operation: async () => {
      await context.engine.put(keys.next(), value);
      return 1;
    },
    latencyPerRecord: true,
    sampleMeaning: `one put (call to resolve, ${context.profile.concurrency} in flight)`,
  });
}

function measureGroupedPuts(context: WorkloadContext, value: Uint8Array): Promise<Measurement> {
  const keys = new KeySequence(context.profile.keyOrder);
  const groupSize = context.profile.concurrency;
  return measureClosedLoop(context.profile, {
    workerCount: 1,
    operation: async () => {
      await context.engine.batch(makeEntries(keys, groupSize, value));
      return groupSize;
    },
    latencyPerRecord: true,
    sampleMeaning: `one record (each acknowledged with its group of ${groupSize})`,
  });
}

/** One worker: `await batch(N puts)` back to back; units are keys written. */
export function batchPutWorkload(batchSize: number, valueSize: ValueSize): Workload {
  return {
    id: `batch-${batchSize}`,
    title: `atomic durable batches of ${batchSize.toLocaleString('en-US')} puts, ${valueSize.label} values`,
    unit: 'keys',
    measures: `Keys written per second by one client awaiting each atomic durable batch of ${batchSize.toLocaleString('en-US')} fresh keys (${valueSize.label} values) before the next; latency: one batch.`,
    writes: true,
    appliesTo: everyEngine,
    run(context) {
      const keys = new KeySequence(context.profile.keyOrder);
      const value = makeValue(valueSize.bytes);
      context.beginMeasurement();
      return measureClosedLoop(context.profile, {
        workerCount: 1,
        operation: async () => {
          await context.engine.batch(makeEntries(keys, batchSize, value));
          return batchSize;
        },
        latencyPerRecord: false,
        sampleMeaning: `one batch of ${batchSize}`,
      });
    },
  };
}

export function makeEntries(keys: KeySequence, count: number, value: Uint8Array): Entry[] {
  const entries: Entry[] = [];
  for (let index = 0; index < count; index += 1) entries.push({ key: keys.next(), value });
  return entries;
}
