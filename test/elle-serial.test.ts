/**
 * Elle-style isolation tests of store.transactionSync() (serial transactions run
 * inside the commit critical section) mixed with optimistic store.transaction().
 *
 * Workload: as test/elle-store.test.ts, list-append over a few keys by concurrent
 * clients; each transaction is serial or optimistic (serializable) at random. The
 * WAL datasync is delayed by a random number of event-loop turns, so serial bodies
 * regularly run while earlier groups are ordered but not yet durable (they read the
 * unapplied commits) and optimistic transactions validate against serial commits.
 *
 * Checks: no anomaly at all (serializable, process order included); the final state
 * holds every committed append and no failed one; serial transactions never fail
 * for a conflict; the run conflicted (optimistic ones lost to serial ones).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, openStore, type Store } from '../src/index.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { checkHistory, describeAnomalies, type Operation, type Outcome, type Transaction } from './support/elle/checker.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'];
const CLIENTS = 8;
const TRANSACTIONS_PER_CLIENT = 60;

const openStores: Store[] = [];

afterEach(async () => {
  for (const store of openStores.splice(0)) await store.close();
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

class DeliberateAbort extends Error {}

function asList(key: string, value: unknown): number[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || !value.every((element) => typeof element === 'number')) {
    throw new Error(`key ${key} holds ${JSON.stringify(value)}, not a list of numbers`);
  }
  return [...value];
}

type MicroOperation = { kind: 'read'; key: string } | { kind: 'append'; key: string; element: number };

class Workload {
  readonly history: Transaction[] = [];
  readonly statistics = { serialCommitted: 0, optimisticCommitted: 0, conflicted: 0, optimisticAttempts: 0, optimisticTransactions: 0 };
  #nextId = 1;
  #nextElement = 1;

  constructor(readonly store: Store) {}

  #plan(random: SeededRandom): MicroOperation[] {
    return Array.from({ length: random.nextIntInclusive(1, 4) }, (): MicroOperation => {
      const key = KEYS[random.nextIntInclusive(0, KEYS.length - 1)] as string;
      return random.chance(0.5) ? { kind: 'append', key, element: this.#nextElement++ } : { kind: 'read', key };
    });
  }

  async run(process: number, random: SeededRandom): Promise<void> {
    const plan = this.#plan(random);
    const abort = random.chance(0.05);
    const serial = random.chance(0.5);
    const id = this.#nextId++;
    let operations: Operation[] = [];
    let outcome: Outcome;
    try {
      if (serial) {
        await this.store.transactionSync((tx) => {
          operations = [];
          for (const micro of plan) {
            const list = asList(micro.key, tx.get(micro.key));
            operations.push(['r', micro.key, list]);
            if (micro.kind === 'append') {
              tx.put(micro.key, [...(list ?? []), micro.element]);
              operations.push(['append', micro.key, micro.element]);
            }
          }
          if (abort) throw new DeliberateAbort('the body chose to abort');
        });
        this.statistics.serialCommitted++;
      } else {
        this.statistics.optimisticTransactions++;
        await this.store.transaction(async (tx) => {
          this.statistics.optimisticAttempts++;
          operations = [];
          for (const micro of plan) {
            await ticks(random.nextIntInclusive(0, 3));
            const list = asList(micro.key, await tx.get(micro.key));
            operations.push(['r', micro.key, list]);
            if (micro.kind === 'append') {
              tx.put(micro.key, [...(list ?? []), micro.element]);
              operations.push(['append', micro.key, micro.element]);
            }
          }
          if (abort) throw new DeliberateAbort('the body chose to abort');
        }, { retries: 3 });
        this.statistics.optimisticCommitted++;
      }
      outcome = 'ok';
    } catch (error) {
      if (error instanceof ConflictError) {
        expect(serial, 'a serial transaction never conflicts').toBe(false);
        this.statistics.conflicted++;
      } else if (!(error instanceof DeliberateAbort)) throw error;
      outcome = 'fail';
    }
    this.history.push({ id, process, outcome, operations });
  }
}

async function runWorkload(seed: number): Promise<Workload> {
  const store = await openStore('/db', { fileSystem: new SlowSyncFileSystem(new FaultFileSystem(seed), seed), segmentSizeBytes: 1 << 20 });
  openStores.push(store);
  const workload = new Workload(store);
  const seeds = new SeededRandom(seed);
  await Promise.all(Array.from({ length: CLIENTS }, async (_unused, process) => {
    const random = new SeededRandom(seeds.nextSeed());
    for (let count = 0; count < TRANSACTIONS_PER_CLIENT; count++) {
      await ticks(random.nextIntInclusive(0, 2));
      await workload.run(process, random);
    }
  }));
  // The final read, itself a serial transaction, recorded as the last one.
  const lists = await store.transactionSync((tx) => new Map(KEYS.map((key) => [key, asList(key, tx.get(key))] as const)));
  workload.history.push({ id: workload.history.length + 1, process: CLIENTS, outcome: 'ok', operations: [...lists].map(([key, list]): Operation => ['r', key, list]) });
  for (const transaction of workload.history) {
    for (const operation of transaction.operations) {
      if (operation[0] !== 'append') continue;
      const present = lists.get(operation[1])?.includes(operation[2]) ?? false;
      expect(present, `T${transaction.id} (${transaction.outcome}) appended ${operation[2]} to ${operation[1]}`).toBe(transaction.outcome === 'ok');
    }
  }
  return workload;
}

describe('elle: store.transactionSync() mixed with optimistic transactions', () => {
  for (const seed of [11, 12, 13]) {
    it(`shows no anomaly (seed ${seed})`, async () => {
      const workload = await runWorkload(seed);
      const result = checkHistory(workload.history, { isolation: 'serializable', processOrder: true });
      expect(result.anomalies, describeAnomalies(result.anomalies)).toEqual([]);
      expect(result.valid).toBe(true);
      const { statistics } = workload;
      expect(statistics.serialCommitted).toBeGreaterThan(CLIENTS * TRANSACTIONS_PER_CLIENT * 0.3);
      expect(statistics.optimisticAttempts, 'optimistic transactions lost to serial ones and retried').toBeGreaterThan(statistics.optimisticTransactions);
    });
  }
});
