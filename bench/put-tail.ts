/**
 * The slowest 1% of 64 concurrent writers' puts, taken apart (issue 12: p99 3.5-8.6 ms
 * against a 2 ms target): runs the bench's concurrent-put workload (fresh store, 16-byte
 * keys from the bench's KeySequence, one shared value, WRITERS writers each awaiting its
 * put before the next) `runs` times, and records each put's call-to-resolve interval
 * beside what the process did meanwhile, all on this process's clock:
 * - each WAL group: when it was cut (WalWriter#writeGroup called), its fdatasync, when its
 *   record was durable, its apply and acknowledgement (CommitAcknowledger#acknowledge),
 *   its commits and their versions (a put's group is found by the version it resolves with);
 * - every fdatasync/fsync the main thread starts through node:fs (inline ones block the loop);
 * - the main isolate's collections (perf_hooks 'gc', minor and major);
 * - the flush's packing stretches on the main thread (PackingPace: resumed to paused, the
 *   last one to its final chunk's take);
 * - write stalls (WriteStall#admit, called only while a stall holds);
 * - the event loop's delay (a 1 ms interval timer: how late each tick came).
 *
 * A slow put's time splits into: waiting for its group to be cut (the group before in
 * flight, the turn that cuts it, a stall), its own group's write and fdatasync, and from
 * durable to resolved (the apply of the group's commits up to its own, the microtasks).
 * Beside that, how much of its interval each main-thread event covered.
 *
 *   npx tsc -p tsconfig.build.json
 *   node dist/bench/put-tail.js [runs] [measureMs] [random|sequential] [directory]
 *   LADYBUG_TAIL_KEY_SPACE=1024 LADYBUG_TAIL_OPTIONS='{"maxVersionsPerKey":1}' node dist/bench/put-tail.js ...
 *     (a control: 1,024 keys overwritten, so the memtable keeps no more objects as it runs)
 *
 * LADYBUG_TAIL_WINDOWS=1 prints each flush's packing window.
 *
 * Hooks wrap prototype methods from this process only (no change to the store); they
 * cost a clock read per group, per stretch and per sync, and a map lookup per packed
 * entry, besides the put's own records.
 *
 * What it found (2026-12-04, builds 69b66ae and 022dbd8, the machine at load 5-12 and its
 * disk saturated by other sessions): docs/PERFORMANCE.md, "The 64 writers' slowest 1%".
 */
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import process from 'node:process';
import { CommitAcknowledger } from '../src/commit/commit-acknowledger.js';
import type { InFlightGroup } from '../src/commit/pending-commit.js';
import { FlushChunkPacker } from '../src/engine/flush-chunks.js';
import { PackingPace } from '../src/engine/flush-packing-pace.js';
import { Memtables } from '../src/engine/memtables.js';
import { WriteStall } from '../src/engine/write-stall.js';
import { openStore } from '../src/index.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { KeySequence, keyAt, makeValue, type KeyOrder } from './data.js';

const WRITERS = Number(process.env['LADYBUG_TAIL_WRITERS'] ?? '64');
const WARM_UP_MS = 300;
const VALUE_BYTES = Number(process.env['LADYBUG_TAIL_VALUE_BYTES'] ?? '100');
/** A control: keys taken modulo this many (overwrites: with maxVersionsPerKey 1 the memtable stops growing). 0: every key fresh, as the bench. */
const KEY_SPACE = Number(process.env['LADYBUG_TAIL_KEY_SPACE'] ?? '0');
/** openStore options added as JSON (e.g. '{"maxVersionsPerKey":1}'). */
const EXTRA_OPTIONS = JSON.parse(process.env['LADYBUG_TAIL_OPTIONS'] ?? '{}') as Record<string, unknown>;

type Interval = [startMs: number, endMs: number];

interface Group {
  cutMs: number;
  /** The group's record fdatasync (the first one started after the cut), NaN when none was seen. */
  syncStartMs: number;
  syncEndMs: number;
  /** Its fdatasync ran on the main thread. */
  inline: boolean;
  durableMs: number;
  ackStartMs: number;
  ackEndMs: number;
  count: number;
  firstVersion: number;
  lastVersion: number;
}

interface Recording {
  groups: Group[];
  inlineSyncs: Interval[];
  poolSyncs: Interval[];
  minorGcs: Interval[];
  majorGcs: Interval[];
  packing: Interval[];
  stalls: Interval[];
  /** Memtable seals (Memtables#seal, inside a group's apply: with random keys the flush's key sort runs there). */
  seals: Interval[];
  /** Event-loop delay: [tick due, tick ran]. */
  loopLate: Interval[];
}

const recording: Recording = { groups: [], inlineSyncs: [], poolSyncs: [], minorGcs: [], majorGcs: [], packing: [], stalls: [], seals: [], loopLate: [] };

/** Added to versions: each run's fresh store numbers from 1 again. */
let versionBase = 0;
let groupSyncing = (): Group | undefined => undefined;
let closeStretches = (): void => undefined;
/** Each flush's packing, first stretch's start to last stretch's end (one PackingPace per flush). */
const flushWindows = new Map<PackingPace, Interval>();

function hook(): void {
  type Callback = (error: NodeJS.ErrnoException | null) => void;
  const target = fs as unknown as Record<'fdatasync' | 'fsync', (descriptor: number, done: Callback) => void> & { fdatasyncSync: (descriptor: number) => void };
  for (const name of ['fdatasync', 'fsync'] as const) {
    const original = target[name].bind(fs);
    target[name] = (descriptor, done) => {
      const startMs = performance.now();
      const group = name === 'fdatasync' ? groupSyncing() : undefined;
      original(descriptor, (error) => {
        const endMs = performance.now();
        recording.poolSyncs.push([startMs, endMs]);
        if (group !== undefined) [group.syncStartMs, group.syncEndMs, group.inline] = [startMs, endMs, false];
        done(error);
      });
    };
  }
  const originalSync = target.fdatasyncSync.bind(fs);
  target.fdatasyncSync = (descriptor) => {
    const startMs = performance.now();
    const group = groupSyncing();
    try {
      originalSync(descriptor);
    } finally {
      const endMs = performance.now();
      recording.inlineSyncs.push([startMs, endMs]);
      if (group !== undefined) [group.syncStartMs, group.syncEndMs, group.inline] = [startMs, endMs, true];
    }
  };

  groupSyncing = () => (openGroup !== undefined && openGroup.durableMs === 0 && Number.isNaN(openGroup.syncStartMs) ? openGroup : undefined);
  // A group: cut when writeGroup is called, durable when its promise resolves (one record: no segment split at 100 B).
  const writeGroup = WalWriter.prototype.writeGroup;
  let openGroup: Group | undefined;
  WalWriter.prototype.writeGroup = function (this: WalWriter, ...args: Parameters<typeof writeGroup>) {
    const group: Group = { cutMs: performance.now(), syncStartMs: NaN, syncEndMs: NaN, inline: false, durableMs: 0, ackStartMs: 0, ackEndMs: 0, count: 0, firstVersion: 0, lastVersion: 0 };
    openGroup = group;
    return writeGroup.apply(this, args).then((written) => {
      group.durableMs = performance.now();
      return written;
    });
  };
  const acknowledge = CommitAcknowledger.prototype.acknowledge;
  CommitAcknowledger.prototype.acknowledge = function (this: CommitAcknowledger, inFlight: InFlightGroup, count: number, endLsn: number) {
    const group = openGroup ?? { cutMs: NaN, syncStartMs: NaN, syncEndMs: NaN, inline: false, durableMs: NaN, ackStartMs: 0, ackEndMs: 0, count: 0, firstVersion: 0, lastVersion: 0 };
    openGroup = undefined;
    group.ackStartMs = performance.now();
    group.count = count;
    group.firstVersion = versionBase + inFlight.commits[inFlight.settled]!.version;
    group.lastVersion = versionBase + inFlight.commits[inFlight.settled + count - 1]!.version;
    try {
      acknowledge.call(this, inFlight, count, endLsn);
    } finally {
      group.ackEndMs = performance.now();
      recording.groups.push(group);
    }
  };

  // Packing stretches: from the first entry after construction or resumed() to paused(); the last one (never paused) to its final take().
  const open = new Map<PackingPace, { startMs: number; lastTakeMs: number }>();
  let current: PackingPace | undefined;
  const packed = PackingPace.prototype.packed;
  PackingPace.prototype.packed = function (this: PackingPace) {
    if (current !== this || !open.has(this)) {
      if (!open.has(this)) open.set(this, { startMs: performance.now(), lastTakeMs: NaN });
      current = this;
    }
    return packed.call(this);
  };
  const paused = PackingPace.prototype.paused;
  const widen = (pace: PackingPace, startMs: number, endMs: number): void => {
    const window = flushWindows.get(pace);
    if (window === undefined) flushWindows.set(pace, [startMs, endMs]);
    else window[1] = endMs;
  };
  PackingPace.prototype.paused = function (this: PackingPace) {
    const stretch = open.get(this);
    if (stretch !== undefined) {
      const endMs = performance.now();
      recording.packing.push([stretch.startMs, endMs]);
      widen(this, stretch.startMs, endMs);
    }
    open.delete(this);
    paused.call(this);
  };
  const take = FlushChunkPacker.prototype.take;
  FlushChunkPacker.prototype.take = function (this: FlushChunkPacker) {
    const chunk = take.call(this);
    const stretch = current === undefined ? undefined : open.get(current);
    if (stretch !== undefined) stretch.lastTakeMs = performance.now();
    return chunk;
  };
  closeStretches = () => {
    for (const [pace, stretch] of open) {
      if (!Number.isFinite(stretch.lastTakeMs)) continue;
      recording.packing.push([stretch.startMs, stretch.lastTakeMs]);
      widen(pace, stretch.startMs, stretch.lastTakeMs);
    }
    open.clear();
  };

  const seal = Memtables.prototype.seal;
  Memtables.prototype.seal = function (this: Memtables, ...args: Parameters<typeof seal>) {
    const startMs = performance.now();
    try {
      return seal.apply(this, args);
    } finally {
      recording.seals.push([startMs, performance.now()]);
    }
  };

  const admit = WriteStall.prototype.admit;
  WriteStall.prototype.admit = function (this: WriteStall, ...args: Parameters<typeof admit>) {
    const startMs = performance.now();
    return admit.apply(this, args).finally(() => recording.stalls.push([startMs, performance.now()]));
  };

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
      // NODE_PERFORMANCE_GC_MINOR = 1 (scavenge); everything else (major, incremental, weak callbacks) counts as major.
      (kind === 1 ? recording.minorGcs : recording.majorGcs).push([entry.startTime, entry.startTime + entry.duration]);
    }
  }).observe({ entryTypes: ['gc'] });
}

/** Milliseconds of [start, end] covered by the (sorted by start) intervals. */
function covered(list: readonly Interval[], startMs: number, endMs: number): number {
  let sum = 0;
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (list[middle]![0] < startMs - 1000) low = middle + 1;
    else high = middle;
  }
  for (let index = low; index < list.length && list[index]![0] < endMs; index++) {
    const [start, end] = list[index]!;
    sum += Math.max(0, Math.min(end, endMs) - Math.max(start, startMs));
  }
  return sum;
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

interface Put {
  startMs: number;
  endMs: number;
  version: number;
}

async function oneRun(parent: string, measureMs: number, keyOrder: KeyOrder, puts: Put[]): Promise<{ count: number; ms: number }> {
  const directory = fs.mkdtempSync(join(parent, 'ladybug-tail-'));
  const store = await openStore(join(directory, 'store'), { keyEncoding: 'binary', ...EXTRA_OPTIONS });
  const sequence = new KeySequence(keyOrder);
  let issued = 0;
  const keys = { next: (): Buffer => (KEY_SPACE > 0 ? keyAt(issued++ % KEY_SPACE, keyOrder) : sequence.next()) };
  const value = makeValue(VALUE_BYTES);
  const runWriters = async (untilMs: number, record: boolean): Promise<void> => {
    const writer = async (): Promise<void> => {
      while (performance.now() < untilMs) {
        const startMs = performance.now();
        const { version } = await store.put(keys.next(), value);
        if (record) puts.push({ startMs, endMs: performance.now(), version: versionBase + version });
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, writer));
  };
  await runWriters(performance.now() + WARM_UP_MS, false);
  const before = puts.length;
  const startMs = performance.now();
  // The loop's lateness: a 1 ms timer, how late each tick ran.
  let dueMs = startMs + 1;
  const ticker = setInterval(() => {
    const nowMs = performance.now();
    if (nowMs - dueMs > 0.5) recording.loopLate.push([dueMs, nowMs]);
    dueMs = nowMs + 1;
  }, 1);
  await runWriters(startMs + measureMs, true);
  clearInterval(ticker);
  const ms = performance.now() - startMs;
  closeStretches();
  await store.close();
  fs.rmSync(directory, { recursive: true, force: true });
  return { count: puts.length - before, ms };
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? '5');
  const measureMs = Number(process.argv[3] ?? '1500');
  const keyOrder = (process.argv[4] ?? 'random') as KeyOrder;
  const parent = process.argv[5] ?? tmpdir();
  hook();
  const puts: Put[] = [];
  const rates: number[] = [];
  for (let run = 0; run < runs; run++) {
    versionBase = run * 1e9;
    const { count, ms } = await oneRun(parent, measureMs, keyOrder, puts);
    rates.push((count * 1000) / ms);
  }
  await new Promise((resolve) => setTimeout(resolve, 50)); // the last 'gc' entries
  for (const list of Object.values(recording) as Interval[][]) if (Array.isArray(list[0])) list.sort((a, b) => a[0] - b[0]);
  const groups = recording.groups.filter((group) => group.count > 0).sort((a, b) => a.firstVersion - b.firstVersion);
  const groupOf = (version: number): Group | undefined => {
    let low = 0;
    let high = groups.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const group = groups[middle]!;
      if (version < group.firstVersion) high = middle - 1;
      else if (version > group.lastVersion) low = middle + 1;
      else return group;
    }
    return undefined;
  };

  const latencies = puts.map((put) => put.endMs - put.startMs).sort((a, b) => a - b);
  const p99 = percentile(latencies, 0.99);
  const fmt = (ms: number): string => ms.toFixed(2);
  console.log(`${puts.length} puts in ${runs} runs of ${measureMs} ms (${keyOrder} keys, ${VALUE_BYTES} B, ${WRITERS} writers): puts/s ${rates.map((rate) => rate.toFixed(0)).join(' / ')}`);
  console.log(`latency ms: p50 ${fmt(percentile(latencies, 0.5))} p90 ${fmt(percentile(latencies, 0.9))} p99 ${fmt(p99)} p99.9 ${fmt(percentile(latencies, 0.999))} max ${fmt(latencies[latencies.length - 1]!)}`);
  const groupSizes = groups.map((group) => group.count).sort((a, b) => a - b);
  const syncMs = groups.map((group) => group.durableMs - group.cutMs).filter(Number.isFinite).sort((a, b) => a - b);
  const applyMs = groups.map((group) => group.ackEndMs - group.ackStartMs).sort((a, b) => a - b);
  console.log(`groups ${groups.length}: size p50 ${percentile(groupSizes, 0.5)} p1 ${percentile(groupSizes, 0.01)} mean ${mean(groupSizes).toFixed(1)}; cut-to-durable ms p50 ${fmt(percentile(syncMs, 0.5))} p99 ${fmt(percentile(syncMs, 0.99))} max ${fmt(syncMs[syncMs.length - 1] ?? NaN)}; apply+ack ms p50 ${fmt(percentile(applyMs, 0.5))} p99 ${fmt(percentile(applyMs, 0.99))} max ${fmt(applyMs[applyMs.length - 1] ?? NaN)}`);
  const sum = (list: readonly Interval[]): string => `${list.length} (${fmt(list.reduce((total, [start, end]) => total + end - start, 0))} ms, longest ${fmt(Math.max(0, ...list.map(([start, end]) => end - start)))})`;
  console.log(`inline syncs ${sum(recording.inlineSyncs)}; pool syncs ${sum(recording.poolSyncs)}; minor gc ${sum(recording.minorGcs)}; major gc ${sum(recording.majorGcs)}; packing stretches ${sum(recording.packing)}; seals ${sum(recording.seals)}; stalls ${sum(recording.stalls)}; loop late > 0.5 ms ${sum(recording.loopLate)}`);

  // The slowest 1%: where each one's time went.
  const slow = puts.filter((put) => put.endMs - put.startMs >= p99);
  const typical = puts.filter((put) => Math.abs(put.endMs - put.startMs - percentile(latencies, 0.5)) < 0.02).slice(0, 5000);
  for (const [name, list] of [['slowest 1%', slow], ['around p50', typical]] as const) {
    const parts = { waitCut: [] as number[], cutToSync: [] as number[], sync: [] as number[], syncToDurable: [] as number[], durableToResolve: [] as number[], unmatched: 0 };
    for (const put of list) {
      const group = groupOf(put.version);
      if (group === undefined || !Number.isFinite(group.cutMs)) {
        parts.unmatched++;
        continue;
      }
      parts.waitCut.push(group.cutMs - put.startMs);
      parts.cutToSync.push(group.syncStartMs - group.cutMs);
      parts.sync.push(group.syncEndMs - group.syncStartMs);
      parts.syncToDurable.push(group.durableMs - group.syncEndMs);
      parts.durableToResolve.push(put.endMs - group.durableMs);
    }
    const latency = mean(list.map((put) => put.endMs - put.startMs));
    console.log(`${name} (${list.length} puts, mean ${fmt(latency)} ms${parts.unmatched > 0 ? `, ${parts.unmatched} without a group` : ''}): wait for the cut ${fmt(mean(parts.waitCut))}, cut to its fdatasync ${fmt(mean(parts.cutToSync))}, fdatasync ${fmt(mean(parts.sync))}, to durable ${fmt(mean(parts.syncToDurable))}, durable to resolved ${fmt(mean(parts.durableToResolve))} ms`);
  }
  // A disjoint split of each slow put's interval (0.05 ms steps): each step goes to the first of these that covers it.
  const applies: Interval[] = groups.map((group) => [group.ackStartMs, group.ackEndMs] as Interval).sort((a, b) => a[0] - b[0]);
  const poolWalSyncs: Interval[] = groups.filter((group) => Number.isFinite(group.syncStartMs) && !group.inline).map((group) => [group.syncStartMs, group.syncEndMs] as Interval).sort((a, b) => a[0] - b[0]);
  const labelled: Array<[string, Interval[]]> = [['majorGc', recording.majorGcs], ['minorGc', recording.minorGcs], ['packing', recording.packing], ['seal', recording.seals], ['inlineWalSync', recording.inlineSyncs],
    ['apply', applies], ['stall', recording.stalls], ['poolWalSync', poolWalSyncs], ['loopLateElse', recording.loopLate]];
  const at = (list: Interval[], timeMs: number): boolean => {
    // Binary search for the last interval starting at or before timeMs.
    let low = 0;
    let high = list.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (list[middle]![0] <= timeMs) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    for (let index = found; index >= 0 && index > found - 4; index--) if (list[index]![1] > timeMs) return true;
    return false;
  };
  const split: Record<string, number> = Object.fromEntries([...labelled.map(([name]) => [name, 0]), ['none', 0]]);
  const STEP_MS = 0.05;
  for (const put of slow) {
    for (let timeMs = put.startMs + STEP_MS / 2; timeMs < put.endMs; timeMs += STEP_MS) {
      const hit = labelled.find(([, list]) => at(list, timeMs));
      split[hit === undefined ? 'none' : hit[0]]! += STEP_MS;
    }
  }
  // Every put: the share each kind of event touched, and those puts' median latency (a view less moved by the machine's load than durations).
  const touched = labelled.filter(([name]) => !['loopLateElse', 'apply', 'inlineWalSync', 'poolWalSync'].includes(name)).map(([name, list]) => {
    const hit = puts.filter((put) => covered(list, put.startMs, put.endMs) > 0).map((put) => put.endMs - put.startMs).sort((a, b) => a - b);
    return `${name} ${((100 * hit.length) / puts.length).toFixed(2)}% (p50 ${fmt(percentile(hit, 0.5))})`;
  });
  // Groups beside a flush's packing: the time from one group's cut to the next one's (a store's groups follow one another), median.
  const byCut = groups.filter((group) => Number.isFinite(group.cutMs)).sort((a, b) => a.cutMs - b.cutMs);
  const besidePacking: number[] = [];
  const apart: number[] = [];
  for (let index = 0; index + 1 < byCut.length; index++) {
    const [group, next] = [byCut[index]!, byCut[index + 1]!];
    const cycleMs = next.cutMs - group.cutMs;
    if (cycleMs > 50) continue; // a store closed and the next opened between them
    (covered(recording.packing, group.cutMs, next.cutMs) > 0 ? besidePacking : apart).push(cycleMs);
  }
  besidePacking.sort((a, b) => a - b);
  apart.sort((a, b) => a - b);
  console.log(`group cycle (cut to next cut) ms: beside packing ${besidePacking.length} p50 ${fmt(percentile(besidePacking, 0.5))} p90 ${fmt(percentile(besidePacking, 0.9))}; apart ${apart.length} p50 ${fmt(percentile(apart, 0.5))} p90 ${fmt(percentile(apart, 0.9))}`);
  // Puts resolved while a flush was being packed, per second of those windows, against the rest of the measured time.
  const windows = [...flushWindows.values()].sort((a, b) => a[0] - b[0]);
  const inWindows = puts.filter((put) => covered(windows, put.endMs - 1e-6, put.endMs) > 0).length;
  const windowMs = windows.reduce((total, [start, end]) => total + end - start, 0);
  console.log(`flush packing windows ${windows.length} (${fmt(windowMs)} ms): puts resolved in them ${inWindows} (${((inWindows * 1000) / Math.max(windowMs, 1e-9)).toFixed(0)}/s)`);
  if (process.env['LADYBUG_TAIL_WINDOWS'] !== undefined) {
    for (const [start, end] of windows) {
      const stretches = recording.packing.filter(([a]) => a >= start && a < end);
      const inWindow = byCut.filter((group) => group.cutMs >= start && group.cutMs < end);
      const syncMs = inWindow.reduce((total, group) => total + group.syncEndMs - group.syncStartMs, 0);
      const gcMs = covered(recording.minorGcs, start, end) + covered(recording.majorGcs, start, end);
      console.log(`  window ${fmt(end - start)} ms: stretches ${stretches.length} (${fmt(stretches.reduce((t, [a, b]) => t + b - a, 0))} ms, longest ${fmt(Math.max(0, ...stretches.map(([a, b]) => b - a)))}), groups ${inWindow.length} (inline ${inWindow.filter((g) => g.inline).length}, syncs ${fmt(syncMs)} ms), gc ${fmt(gcMs)} ms, seals ${fmt(covered(recording.seals, start, end))} ms`);
    }
  }
  const inlineGroups = groups.filter((group) => group.inline).length;
  const packingBesideSync = recording.packing.filter(([start, end]) => covered(poolWalSyncs, start, end) > 0).length;
  console.log(`all puts touched by: ${touched.join(', ')}; WAL syncs inline ${inlineGroups} of ${groups.length}; packing stretches overlapping a pool WAL sync ${packingBesideSync} of ${recording.packing.length}`);
  console.log(`slowest 1%, mean ms per put, disjoint (first that covers): ${Object.entries(split).map(([name, ms]) => `${name} ${fmt(ms / slow.length)}`).join(', ')}`);
  // The groups the slow puts were in: what made them slow.
  const slowGroups = new Set(slow.map((put) => groupOf(put.version)).filter((group): group is Group => group !== undefined));
  const sg = [...slowGroups];
  console.log(`slow puts' groups ${sg.length}: size mean ${mean(sg.map((group) => group.count)).toFixed(1)}, cut-to-durable mean ${fmt(mean(sg.map((group) => group.durableMs - group.cutMs)))} ms, apply+ack mean ${fmt(mean(sg.map((group) => group.ackEndMs - group.ackStartMs)))} ms`);
}

await main();
