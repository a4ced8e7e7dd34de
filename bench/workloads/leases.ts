/**
 * Leases and the change feed (issue 10), ladybug only: no peer has either.
 *
 * One workload, three figures, each on a fresh store opened by the workload itself
 * in this process (default options: string keys, as leases and watch use them):
 * - headline: uncontended acquire + release pairs per second, one client, each pair
 *   two durable commits (latency: one pair);
 * - handoff p50/p99: CONTENDERS clients loop acquire (waiting) -> release on one
 *   lease; a handoff is timed from the holder's release call to the next holder's
 *   acquire returning (the release commit, the wake-up and the acquire commit);
 * - watch delivery p50/p99: one writer awaits each put under "w/"; one watcher
 *   follows the feed; timed from the put call to the watcher receiving the change
 *   (delivered only after it is durable).
 * Each phase runs for the profile's warm-up then measured duration.
 */
import type { EngineDefinition } from '../engines/engine.js';
import { LatencyRecorder } from '../measure/latency.js';
import type { Profile } from '../profile.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

/** Clients contending for the one lease in the handoff phase. */
const CONTENDERS = 4;
const LEASE_TTL_MS = 60_000;
/** Long enough that a contender never gives up during a phase. */
const CONTENDER_WAIT_MS = 600_000;

interface LeaseInfo { token: number }
interface BenchStore {
  leases: {
    acquire(name: string, options: { owner: string; ttlMs: number; waitMs?: number }): Promise<LeaseInfo>;
    release(name: string, options: { owner: string; token: number }): Promise<void>;
  };
  put(key: string, value: unknown): Promise<unknown>;
  watch(options: { gte: string; lt: string; signal: AbortSignal }): AsyncGenerator<{ key: string | Uint8Array; value?: unknown }>;
  close(): Promise<void>;
}
interface StoreModule { openStore(directory: string, options?: Record<string, unknown>): Promise<BenchStore> }

export function leaseWorkload(profile: Profile): Workload {
  return {
    id: 'leases',
    title: 'leases: uncontended acquire+release, contended handoff, watch delivery',
    unit: 'acquire+release pairs',
    measures:
      `Headline: acquire + release pairs per second by one client on one lease (two durable commits per pair), after ${profile.warmupMs} ms warm-up, for ${profile.measureMs} ms. ` +
      `"handoff p50/p99 ms": ${CONTENDERS} clients loop acquire (waiting) and release on one lease; from a holder's release call to the next holder's acquire returning. ` +
      '"watch p50/p99 ms": one writer awaits each put, one watcher follows store.watch; from the put call to the watcher receiving the (durable) change. ' +
      'Each phase on a fresh store with default options, in this process.',
    writes: false,
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'handoffP50Ms', header: 'handoff p50 ms', shortLabel: 'handoff p50 ms', format: 'milliseconds' },
      { key: 'handoffP99Ms', header: 'handoff p99 ms', shortLabel: 'handoff p99 ms', format: 'milliseconds' },
      { key: 'watchP50Ms', header: 'watch p50 ms', shortLabel: 'watch p50 ms', format: 'milliseconds' },
      { key: 'watchP99Ms', header: 'watch p99 ms', shortLabel: 'watch p99 ms', format: 'milliseconds' },
    ],
    appliesTo: (definition: EngineDefinition) => definition.id === 'ladybug',
    run: (context) => measureLeases(context),
  };
}

async function importStore(): Promise<StoreModule> {
  const specifier: string = new URL('../../src/index.js', import.meta.url).href;
  return (await import(specifier)) as StoreModule;
}

async function withStore<T>(module: StoreModule, directory: string, body: (store: BenchStore) => Promise<T>): Promise<T> {
  const store = await module.openStore(directory);
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

async function measureLeases(context: WorkloadContext): Promise<Measurement> {
  const module = await importStore();
  const { warmupMs, measureMs } = context.profile;
  const pairs = await withStore(module, `${context.directory}/pairs`, (store) => uncontendedPairs(store, warmupMs, measureMs));
  const handoff = await withStore(module, `${context.directory}/handoff`, (store) => contendedHandoff(store, warmupMs, measureMs));
  const watch = await withStore(module, `${context.directory}/watch`, (store) => watchDelivery(store, warmupMs, measureMs));
  context.beginMeasurement();
  const handoffSummary = handoff.summary('one handoff');
  const watchSummary = watch.summary('one delivery');
  return {
    unitCount: pairs.count,
    callCount: pairs.count * 2,
    durationMs: measureMs,
    unitsPerSecond: (pairs.count * 1000) / measureMs,
    latency: pairs.latency.summary('one acquire + release'),
    extra: {
      handoffP50Ms: handoffSummary.p50Us / 1000, handoffP99Ms: handoffSummary.p99Us / 1000, handoffs: handoffSummary.sampleCount,
      watchP50Ms: watchSummary.p50Us / 1000, watchP99Ms: watchSummary.p99Us / 1000, deliveries: watchSummary.sampleCount,
    },
  };
}

async function uncontendedPairs(store: BenchStore, warmupMs: number, measureMs: number): Promise<{ count: number; latency: LatencyRecorder }> {
  const latency = new LatencyRecorder();
  const startMs = performance.now();
  let count = 0;
  for (let nowMs = startMs; nowMs - startMs < warmupMs + measureMs; nowMs = performance.now()) {
    const lease = await store.leases.acquire('bench/uncontended', { owner: 'bench', ttlMs: LEASE_TTL_MS });
    await store.leases.release('bench/uncontended', { owner: 'bench', token: lease.token });
    if (nowMs - startMs >= warmupMs) {
      latency.record(performance.now() - nowMs);
      count++;
    }
  }
  return { count, latency };
}

async function contendedHandoff(store: BenchStore, warmupMs: number, measureMs: number): Promise<LatencyRecorder> {
  const latency = new LatencyRecorder();
  const startMs = performance.now();
  let releaseStartedMs: number | undefined;
  const contender = async (owner: string): Promise<void> => {
    while (performance.now() - startMs < warmupMs + measureMs) {
      const lease = await store.leases.acquire('bench/contended', { owner, ttlMs: LEASE_TTL_MS, waitMs: CONTENDER_WAIT_MS });
      const acquiredMs = performance.now();
      if (releaseStartedMs !== undefined && acquiredMs - startMs >= warmupMs) latency.record(acquiredMs - releaseStartedMs);
      releaseStartedMs = performance.now();
      await store.leases.release('bench/contended', { owner, token: lease.token });
    }
  };
  await Promise.all(Array.from({ length: CONTENDERS }, (_, index) => contender(`contender-${index}`)));
  return latency;
}

async function watchDelivery(store: BenchStore, warmupMs: number, measureMs: number): Promise<LatencyRecorder> {
  const latency = new LatencyRecorder();
  const putStartedMs = new Map<number, number>();
  const controller = new AbortController();
  const watcher = (async () => {
    try {
      for await (const change of store.watch({ gte: 'w/', lt: 'w0', signal: controller.signal })) {
        const index = change.value as number;
        const startedMs = putStartedMs.get(index);
        if (startedMs !== undefined && index >= 0) latency.record(performance.now() - startedMs);
        putStartedMs.delete(index);
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  })();
  const startMs = performance.now();
  for (let index = 0; performance.now() - startMs < warmupMs + measureMs; index++) {
    const measured = performance.now() - startMs >= warmupMs;
    if (measured) putStartedMs.set(index, performance.now());
    await store.put(`w/${index % 1024}`, measured ? index : -1);
  }
  // Let the watcher drain what was committed, then stop it.
  for (let attempt = 0; putStartedMs.size > 0 && attempt < 100; attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
  controller.abort();
  await watcher;
  return latency;
}
