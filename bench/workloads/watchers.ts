/**
 * Throughput with 10 watchers (issue 10's benchmark), ladybug only: no peer has a
 * change feed.
 *
 * Two kinds of phase, run in ABBA order (without, with, with, without), each on a
 * fresh store opened by the workload itself in this process (default options), each
 * for the profile's warm-up then half the measured duration:
 * - without watchers: WRITERS concurrent clients each await one put at a time under
 *   "w/" (group commit shares fdatasyncs between them); commits per second;
 * - with WATCHERS watchers following store.watch over "w/" while the same writers
 *   run: commits per second (the headline), and the delivery latency of each change
 *   to each watcher, from the put call to the watcher receiving it (delivered only
 *   after it is durable), p50/p99 over every (change, watcher) pair.
 * A watcher that falls more than its buffer behind ends with WatchOverflowError; the
 * count of those is reported (0 expected: watchers here do no work per change).
 */
import type { EngineDefinition } from '../engines/engine.js';
import { LatencyRecorder } from '../measure/latency.js';
import type { Profile } from '../profile.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

const WATCHERS = 10;
const WRITERS = 16;
/** Distinct keys the writers cycle through. */
const KEY_SPACE = 4096;
/** Bound on the wait for watchers to drain after the writers stop (attempts x DRAIN_STEP_MS). */
const DRAIN_ATTEMPTS_MAX = 200;
const DRAIN_STEP_MS = 10;

interface BenchStore {
  put(key: string, value: unknown): Promise<unknown>;
  watch(options: { gte: string; lt: string; signal: AbortSignal }): AsyncGenerator<{ key: string | Uint8Array; value?: unknown }>;
  close(): Promise<void>;
}
interface StoreModule { openStore(directory: string, options?: Record<string, unknown>): Promise<BenchStore> }

interface PhaseResult {
  commits: number;
  latency: LatencyRecorder;
  overflows: number;
}

export function watchersWorkload(profile: Profile): Workload {
  return {
    id: 'watchers-10',
    title: `watch: commits/s with ${WATCHERS} watchers following ${WRITERS} writers`,
    unit: 'commits',
    measures:
      `Headline: put commits per second by ${WRITERS} concurrent writers (each awaits one put at a time) while ${WATCHERS} watchers follow store.watch over the written range, ` +
      `after ${profile.warmupMs} ms warm-up, for ${profile.measureMs} ms. "no watchers /s": the same writers on a fresh store without watchers. ` +
      '"delivery p50/p99 ms": from the put call to each watcher receiving the (durable) change, over every change and watcher. ' +
      'Each phase on a fresh store with default options, in this process.',
    writes: false,
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'commitsPerSecondWithoutWatchers', header: 'no watchers /s', shortLabel: 'no watchers /s', format: 'count' },
      { key: 'deliveryP50Ms', header: 'delivery p50 ms', shortLabel: 'delivery p50 ms', format: 'milliseconds' },
      { key: 'deliveryP99Ms', header: 'delivery p99 ms', shortLabel: 'delivery p99 ms', format: 'milliseconds' },
    ],
    appliesTo: (definition: EngineDefinition) => definition.id === 'ladybug',
    run: (context) => measureWatchers(context),
  };
}

async function importStore(): Promise<StoreModule> {
  const specifier: string = new URL('../../src/index.js', import.meta.url).href;
  return (await import(specifier)) as StoreModule;
}

async function measureWatchers(context: WorkloadContext): Promise<Measurement> {
  const module = await importStore();
  const { warmupMs, measureMs } = context.profile;
  // ABBA order (each phase half the measured time): drift of a busy machine or of
  // warm-up over the run weighs on both figures alike.
  const halfMs = measureMs / 2;
  const withoutFirst = await runPhase(module, `${context.directory}/without-1`, 0, warmupMs, halfMs);
  const withFirst = await runPhase(module, `${context.directory}/with-1`, WATCHERS, warmupMs, halfMs);
  const withSecond = await runPhase(module, `${context.directory}/with-2`, WATCHERS, warmupMs, halfMs, withFirst.latency);
  const withoutSecond = await runPhase(module, `${context.directory}/without-2`, 0, warmupMs, halfMs);
  context.beginMeasurement();
  const without = { commits: withoutFirst.commits + withoutSecond.commits };
  const withWatchers = { commits: withFirst.commits + withSecond.commits, overflows: withFirst.overflows + withSecond.overflows };
  const delivery = withFirst.latency.summary('one delivery to one watcher');
  return {
    unitCount: withWatchers.commits,
    callCount: withWatchers.commits,
    durationMs: measureMs,
    unitsPerSecond: (withWatchers.commits * 1000) / measureMs,
    latency: delivery,
    extra: {
      commitsPerSecondWithoutWatchers: (without.commits * 1000) / measureMs,
      deliveryP50Ms: delivery.p50Us / 1000,
      deliveryP99Ms: delivery.p99Us / 1000,
      deliveries: delivery.sampleCount,
      watchers: WATCHERS,
      writers: WRITERS,
      watcherOverflows: withWatchers.overflows,
    },
  };
}

async function runPhase(
  module: StoreModule, directory: string, watcherCount: number, warmupMs: number, measureMs: number, latency = new LatencyRecorder(),
): Promise<PhaseResult> {
  const store = await module.openStore(directory);
  try {
    return await writeWhileWatching(store, watcherCount, warmupMs, measureMs, latency);
  } finally {
    await store.close();
  }
}

async function writeWhileWatching(store: BenchStore, watcherCount: number, warmupMs: number, measureMs: number, latency: LatencyRecorder): Promise<PhaseResult> {
  /** Measured puts not yet seen by every watcher: value -> [put start, watchers still to see it]. */
  const pending = new Map<number, { startedMs: number; remaining: number }>();
  const controller = new AbortController();
  let overflows = 0;
  const watcher = async (): Promise<void> => {
    try {
      for await (const change of store.watch({ gte: 'w/', lt: 'w0', signal: controller.signal })) {
        const entry = pending.get(change.value as number);
        if (entry === undefined) continue;
        latency.record(performance.now() - entry.startedMs);
        if (--entry.remaining === 0) pending.delete(change.value as number);
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      if ((error as { code?: string }).code === 'LADYBUG_WATCH_OVERFLOW') overflows++;
      else throw error;
    }
  };
  const watchers = Array.from({ length: watcherCount }, () => watcher());
  const startMs = performance.now();
  let next = 0;
  let commits = 0;
  const writer = async (): Promise<void> => {
    for (let nowMs = performance.now(); nowMs - startMs < warmupMs + measureMs; nowMs = performance.now()) {
      const measured = nowMs - startMs >= warmupMs;
      const value = measured ? next++ : -1;
      if (measured && watcherCount > 0) pending.set(value, { startedMs: nowMs, remaining: watcherCount });
      await store.put(`w/${(next + commits) % KEY_SPACE}`, value);
      if (measured && performance.now() - startMs <= warmupMs + measureMs) commits++;
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, () => writer()));
  // Let the watchers drain what was committed, then stop them.
  for (let attempt = 0; pending.size > 0 && attempt < DRAIN_ATTEMPTS_MAX && overflows < watcherCount; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, DRAIN_STEP_MS));
  }
  controller.abort();
  await Promise.all(watchers);
  return { commits, latency, overflows };
}
