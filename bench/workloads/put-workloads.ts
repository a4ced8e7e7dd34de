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
