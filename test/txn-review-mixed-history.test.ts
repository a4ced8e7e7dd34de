/**
 * List-append histories of every kind of read and transaction at once, checked by the
 * Elle-style checker (test/support/elle) as serializable with process order:
 * - transaction() serializable, reading by get and by scans of sub-ranges (gt/gte and
 *   lt/lte bounds inside the keys, forward and reverse, with and without a limit);
 * - transaction() under isolation 'snapshot' that reads only keys it appends to (then
 *   first-committer-wins is serializable for it: any later writer of what it read is a
 *   writer of what it writes);
 * - transactionSync() bodies, read-write and read-only, reading the latest ordered state;
 * - store.snapshot() reading several keys, and single store.get reads;
 * on a store with the smallest memory budget and WAL checkpoint bound, a maintenance
 * client that checkpoints and compacts between them, and WAL datasyncs delayed by a few
 * event-loop turns: serial bodies read commits ordered but not yet durable and, with the
 * keys flushed to runs, miss in memory and run again (prefetch rounds, then the locked
 * round), and optimistic transactions validate against commits not yet durable.
 * elle-serial has no runs (no misses), no scans and no snapshot transactions;
 * review6-txn-histories scans the whole key range only and checks mixed isolations as
 * snapshot.
 *
 * Checks: no anomaly; every committed append in the final state and no failed one; a
 * serial transaction never conflicts; the run reached misses, runs and conflicts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, openStore, type Store } from '../src/index.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { MEMORY_BUDGET_BYTES_MIN, WAL_CHECKPOINT_BYTES_MIN } from '../src/limits.js';
import type { TransactionHandle } from '../src/transaction/transaction.js';
import { checkHistory, describeAnomalies, type Operation, type Outcome, type Transaction } from './support/elle/checker.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6'];
const CLIENTS = 8;
const TRANSACTIONS_PER_CLIENT = 36;
/** Makes the lists' values large enough that a few commits fill the smallest budget's memtable. */
const PADDING = 'p'.repeat(600);

const openStores: Store[] = [];

afterEach(async () => {
  for (const store of openStores.splice(0)) if (!store.closed) await store.close();
});

async function ticks(count: number): Promise<void> {
  for (let tick = 0; tick < count; tick++) await new Promise((resolve) => setImmediate(resolve));
}

/** Each datasync waits 0..3 event-loop turns first: groups stay ordered-but-unsynced for a while. */
class SlowSyncFileSystem extends ForwardingFileSystem {
  readonly #random: SeededRandom;

  constructor(inner: FaultFileSystem, seed: number) {
    super(inner);
    this.#random = new SeededRandom(seed);
  }

  protected wrapHandle(handle: FileHandle): FileHandle {
    return replaceMethods(handle, {
      datasync: async () => {
        await ticks(this.#random.nextIntInclusive(0, 3));
        return handle.datasync();
      },
    });
  }
}

interface Stored {
  list: number[];
  padding: string;
}

function asList(key: string, value: unknown): number[] | null {
  if (value === undefined) return null;
  const list = (value as Stored).list;
  if (!Array.isArray(list) || !list.every((element) => typeof element === 'number')) {
    throw new Error(`key ${key} holds ${JSON.stringify(value)}, not a list of numbers`);
  }
  return [...list];
}

function appended(list: number[] | null, element: number): Stored {
  return { list: [...(list ?? []), element], padding: PADDING };
}

type Kind = 'serializable' | 'snapshot' | 'sync' | 'sync-read' | 'store-snapshot' | 'get';
type Step = { kind: 'read'; key: string } | { kind: 'append'; key: string; element: number } | { kind: 'scan'; bounds: Bounds; reverse: boolean; limit: number | undefined };
interface Bounds {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
}

class DeliberateAbort extends Error {}

function inBounds(key: string, bounds: Bounds): boolean {
  return (bounds.gt === undefined || key > bounds.gt) && (bounds.gte === undefined || key >= bounds.gte)
    && (bounds.lt === undefined || key < bounds.lt) && (bounds.lte === undefined || key <= bounds.lte);
}

/** Bounds inside the keys (or open), drawn so every bound form occurs. */
function drawBounds(random: SeededRandom): Bounds {
  const bounds: Bounds = {};
  const low = random.nextIntInclusive(-1, KEYS.length - 1);
  const high = random.nextIntInclusive(low, KEYS.length);
  if (low >= 0) bounds[random.chance(0.5) ? 'gt' : 'gte'] = KEYS[low]!;
  if (high < KEYS.length) bounds[random.chance(0.5) ? 'lt' : 'lte'] = KEYS[high]!;
  return bounds;
}

/** A scan recorded as a read of every key it covers (absent ones as null): all of the range, or up to its last key when the limit cut it. */
async function scanStep(tx: TransactionHandle, step: Extract<Step, { kind: 'scan' }>, operations: Operation[]): Promise<void> {
  const seen = new Map<string, number[] | null>();
  const options = { ...step.bounds, reverse: step.reverse, ...(step.limit === undefined ? {} : { limit: step.limit }) };
  for await (const [key, value] of tx.scan(options)) seen.set(key as string, asList(key as string, value));
  const returned = [...seen.keys()];
  for (const key of returned) expect(inBounds(key, step.bounds), `${key} within ${JSON.stringify(step.bounds)}`).toBe(true);
  expect(returned, 'a scan returns its keys in order').toEqual([...returned].sort((a, b) => (step.reverse ? (a < b ? 1 : -1) : (a < b ? -1 : 1))));
  const complete = step.limit === undefined || returned.length < step.limit;
  const last = returned[returned.length - 1];
  for (const key of step.reverse ? [...KEYS].reverse() : KEYS) {
    if (!inBounds(key, step.bounds)) continue;
    if (!complete && (step.reverse ? key < last! : key > last!)) break;
    operations.push(['r', key, seen.get(key) ?? null]);
  }
}

class Workload {
  readonly history: Transaction[] = [];
  readonly counts = { committed: 0, conflicted: 0, aborted: 0, syncTransactions: 0, syncBodyRuns: 0, scans: 0 };
  #nextId = 1;
  #nextElement = 1;

  constructor(readonly store: Store) {}

  #steps(random: SeededRandom, kind: Kind): Step[] {
    const key = (): string => KEYS[random.nextIntInclusive(0, KEYS.length - 1)]!;
    if (kind === 'get') return [{ kind: 'read', key: key() }];
    const count = random.nextIntInclusive(1, 4);
    const steps: Step[] = [];
    for (let index = 0; index < count; index++) {
      const roll = random.nextIntInclusive(0, 9);
      const readOnly = kind === 'sync-read' || kind === 'store-snapshot';
      if (kind === 'serializable' && roll < 3) {
        steps.push({ kind: 'scan', bounds: drawBounds(random), reverse: random.chance(0.4), limit: random.chance(0.4) ? random.nextIntInclusive(1, 3) : undefined });
      } else if (!readOnly && (kind === 'snapshot' || roll < 7)) {
        steps.push({ kind: 'append', key: key(), element: this.#nextElement++ });
      } else {
        steps.push({ kind: 'read', key: key() });
      }
    }
    return steps;
  }

  async run(process: number, random: SeededRandom): Promise<void> {
    const kinds: Kind[] = ['serializable', 'serializable', 'snapshot', 'sync', 'sync', 'sync-read', 'store-snapshot', 'get'];
    const kind = kinds[random.nextIntInclusive(0, kinds.length - 1)]!;
    const steps = this.#steps(random, kind);
    const abort = kind !== 'get' && kind !== 'store-snapshot' && random.chance(0.05);
    const id = this.#nextId++;
    let operations: Operation[] = [];
    let outcome: Outcome = 'ok';
    try {
      if (kind === 'sync' || kind === 'sync-read') {
        this.counts.syncTransactions++;
        await this.store.transactionSync((tx) => {
          this.counts.syncBodyRuns++;
          operations = [];
          for (const step of steps) {
            if (step.kind === 'scan') throw new Error('no scan in a serial body');
            const list = asList(step.key, tx.get(step.key));
            operations.push(['r', step.key, list]);
            if (step.kind === 'append') {
              tx.put(step.key, appended(list, step.element));
              operations.push(['append', step.key, step.element]);
            }
          }
          if (abort) throw new DeliberateAbort('the body chose to abort');
        });
      } else if (kind === 'store-snapshot') {
        await using snapshot = await this.store.snapshot();
        for (const step of steps) {
          await ticks(random.nextIntInclusive(0, 2));
          if (step.kind === 'read') operations.push(['r', step.key, asList(step.key, await snapshot.get(step.key))]);
        }
      } else if (kind === 'get') {
        const step = steps[0]!;
        if (step.kind !== 'read') throw new Error('a get step reads');
        operations.push(['r', step.key, asList(step.key, await this.store.get(step.key))]);
      } else {
        await this.store.transaction(async (tx) => {
          operations = [];
          for (const step of steps) {
            await ticks(random.nextIntInclusive(0, 3));
            if (step.kind === 'scan') {
              this.counts.scans++;
              await scanStep(tx, step, operations);
              continue;
            }
            const list = asList(step.key, await tx.get(step.key));
            operations.push(['r', step.key, list]);
            if (step.kind === 'append') {
              tx.put(step.key, appended(list, step.element));
              operations.push(['append', step.key, step.element]);
            }
          }
          if (abort) throw new DeliberateAbort('the body chose to abort');
        }, { isolation: kind, retries: 4 });
      }
      this.counts.committed++;
    } catch (error) {
      if (error instanceof ConflictError) {
        expect(kind === 'serializable' || kind === 'snapshot', 'only optimistic transactions conflict').toBe(true);
        this.counts.conflicted++;
      } else if (error instanceof DeliberateAbort) this.counts.aborted++;
      else throw error;
      outcome = 'fail';
    }
    this.history.push({ id, process, outcome, operations });
  }
}

async function runWorkload(seed: number): Promise<{ workload: Workload; store: Store; maintenance: number }> {
  const fileSystem = new SlowSyncFileSystem(new FaultFileSystem(seed), seed);
  const store = await openStore('/db', {
    fileSystem, segmentSizeBytes: 1 << 20, memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, walCheckpointBytes: WAL_CHECKPOINT_BYTES_MIN,
  });
  openStores.push(store);
  const workload = new Workload(store);
  const seeds = new SeededRandom(seed);
  let running = CLIENTS;
  let maintenance = 0;
  const maintainer = (async () => {
    const random = new SeededRandom(seeds.nextSeed());
    while (running > 0) {
      await ticks(random.nextIntInclusive(5, 30));
      if (random.chance(0.7)) await store.checkpoint();
      else await store.compact();
      maintenance++;
    }
  })();
  await Promise.all(Array.from({ length: CLIENTS }, async (_unused, process) => {
    const random = new SeededRandom(seeds.nextSeed());
    for (let count = 0; count < TRANSACTIONS_PER_CLIENT; count++) {
      await ticks(random.nextIntInclusive(0, 2));
      await workload.run(process, random);
    }
    running--;
  }));
  await maintainer;
  // The final read, after a checkpoint (from the runs), as a serializable transaction recorded last.
  await store.checkpoint();
  const lists = await store.transaction(async (tx) => new Map(await Promise.all(KEYS.map(async (key) => [key, asList(key, await tx.get(key))] as const))));
  workload.history.push({ id: workload.history.length + 1, process: CLIENTS, outcome: 'ok', operations: [...lists].map(([key, list]): Operation => ['r', key, list]) });
  for (const transaction of workload.history) {
    for (const operation of transaction.operations) {
      if (operation[0] !== 'append') continue;
      const present = lists.get(operation[1])?.includes(operation[2]) ?? false;
      expect(present, `T${transaction.id} (${transaction.outcome}) appended ${operation[2]} to ${operation[1]}`).toBe(transaction.outcome === 'ok');
    }
  }
  return { workload, store, maintenance };
}

describe('list-append histories mixing every transaction and read kind, with runs and unsynced groups', () => {
  for (const seed of [31, 32, 33]) {
    it(`serializable with process order (seed ${seed})`, async () => {
      const { workload, store, maintenance } = await runWorkload(seed);
      const result = checkHistory(workload.history, { isolation: 'serializable', processOrder: true });
      expect(result.anomalies, describeAnomalies(result.anomalies)).toEqual([]);
      expect(result.valid).toBe(true);
      const { counts } = workload;
      expect(counts.committed).toBeGreaterThan(CLIENTS * TRANSACTIONS_PER_CLIENT * 0.5);
      expect(counts.conflicted + counts.aborted).toBeGreaterThan(0);
      expect(counts.scans).toBeGreaterThan(0);
      expect(counts.syncBodyRuns, 'serial bodies missed in memory and ran again').toBeGreaterThan(counts.syncTransactions);
      expect(maintenance).toBeGreaterThan(0);
      expect(store.stats().lifetime.runs, 'reads went to runs').toBeGreaterThan(0);
    });
  }
});
