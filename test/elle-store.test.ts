/**
 * Elle-style isolation tests of store.transaction(): concurrent clients run random
 * list-append transactions against one store, the history they observed is
 * recorded, and the checker in test/support/elle looks for anomalies.
 *
 * Workload. Each client runs transactions one after another over a few keys whose
 * values are lists. A transaction is 1-4 micro-operations: a read (tx.get) or an
 * append (tx.get, then tx.put of the list with a fresh element at the end; both the
 * read and the append are recorded). Clients yield a random number of
 * setImmediate ticks between micro-operations, so transactions really interleave
 * and conflict. Outcomes: 'ok' when transaction() resolves, 'fail' when it rejects
 * with ConflictError (retries ran out) or the body threw on purpose (an abort).
 *
 * Checks. Serializable runs must show no anomaly at all (process order included:
 * a client sees its own earlier commits); snapshot runs may show G2 (write skew)
 * and nothing else. A final read of every key after all clients finished must
 * hold every committed append and no failed one. Each run must have conflicted,
 * so the conflict path is exercised.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import {
  type CheckResult,
  checkHistory,
  describeAnomalies,
  type Operation,
  type Outcome,
  type Transaction,
} from './support/elle/checker.js';

type Isolation = 'serializable' | 'snapshot';

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'];
const CLIENTS = 8;
const TRANSACTIONS_PER_CLIENT = 50;

const openStores: Store[] = [];

afterEach(async () => {
  for (const store of openStores.splice(0)) await store.close();
});

async function openTestStore(seed: number): Promise<Store> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore('/db', { fileSystem, segmentSizeBytes: 1 << 20, maxValueBytes: 64 * 1024 });
  openStores.push(store);
  return store;
}

async function ticks(count: number): Promise<void> {
  for (let tick = 0; tick < count; tick++) await new Promise((resolve) => setImmediate(resolve));
}

/** Thrown by a transaction body that decides to abort. */
class DeliberateAbort extends Error {}

/** Reads a key's list inside a transaction, insisting it is a list of numbers or absent. */
async function readList(tx: { get(key: string): Promise<unknown> }, key: string): Promise<number[] | null> {
  const value = await tx.get(key);
  if (value === undefined) return null;
  if (!Array.isArray(value) || !value.every((element) => typeof element === 'number')) {
    throw new Error(`key ${key} holds ${JSON.stringify(value)}, not a list of numbers`);
  }
  return [...value];
}

type MicroOperation = { kind: 'read'; key: string } | { kind: 'append'; key: string; element: number };

interface PlannedTransaction {
  readonly microOperations: readonly MicroOperation[];
  readonly abort: boolean;
  readonly retries: number;
}

interface RunStatistics {
  attempts: number;
  committed: number;
  conflicted: number;
  aborted: number;
}

/** Records the history and draws plans; one per run, shared by its clients. */
class Workload {
  readonly history: Transaction[] = [];
  readonly statistics: RunStatistics = { attempts: 0, committed: 0, conflicted: 0, aborted: 0 };
  #nextTransactionId = 1;
  #nextElement = 1;

  constructor(
    readonly store: Store,
    readonly isolation: Isolation,
  ) {}

  plan(random: SeededRandom): PlannedTransaction {
    const count = random.nextIntInclusive(1, 4);
    const microOperations = Array.from({ length: count }, (): MicroOperation => {
      const key = KEYS[random.nextIntInclusive(0, KEYS.length - 1)] as string;
      return random.chance(0.5) ? { kind: 'append', key, element: this.#nextElement++ } : { kind: 'read', key };
    });
    const retries = [0, 2, 5][random.nextIntInclusive(0, 2)] as number;
    return { microOperations, abort: random.chance(0.05), retries };
  }

  /** Runs one planned transaction to its outcome and records it. */
  async run(process: number, random: SeededRandom): Promise<void> {
    const plan = this.plan(random);
    const id = this.#nextTransactionId++;
    let operations: Operation[] = [];
    let outcome: Outcome;
    try {
      await this.store.transaction(
        async (tx) => {
          this.statistics.attempts++;
          operations = [];
          for (const microOperation of plan.microOperations) {
            await ticks(random.nextIntInclusive(0, 3));
            const list = await readList(tx, microOperation.key);
            operations.push(['r', microOperation.key, list]);
            if (microOperation.kind === 'append') {
              tx.put(microOperation.key, [...(list ?? []), microOperation.element]);
              operations.push(['append', microOperation.key, microOperation.element]);
            }
          }
          await ticks(random.nextIntInclusive(0, 2));
          if (plan.abort) throw new DeliberateAbort('the body chose to abort');
        },
        { isolation: this.isolation, retries: plan.retries },
      );
      outcome = 'ok';
      this.statistics.committed++;
    } catch (error) {
      outcome = this.#failureOutcome(error);
    }
    this.history.push({ id, process, outcome, operations });
  }

  #failureOutcome(error: unknown): Outcome {
    if (error instanceof DeliberateAbort) {
      this.statistics.aborted++;
      return 'fail';
    }
    if (error instanceof ConflictError && error.code === 'LADYBUG_CONFLICT') {
      this.statistics.conflicted++;
      return 'fail';
    }
    throw error;
  }
}

async function runClient(workload: Workload, process: number, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  for (let count = 0; count < TRANSACTIONS_PER_CLIENT; count++) {
    await ticks(random.nextIntInclusive(0, 2));
    await workload.run(process, random);
  }
}

/** Reads the keys in one transaction: the recorded read operations, and the lists by key. */
async function readKeys(store: Store, keys: readonly string[]): Promise<Map<string, number[] | null>> {
  return store.transaction(async (tx) => {
    const entries: [string, number[] | null][] = [];
    for (const key of keys) entries.push([key, await readList(tx, key)]);
    return new Map(entries);
  });
}

function readOperations(lists: Map<string, number[] | null>): Operation[] {
  return [...lists].map(([key, list]) => ['r', key, list]);
}

/** Reads every key after all clients finished; recorded as the last transaction. */
async function finalRead(workload: Workload): Promise<Map<string, number[] | null>> {
  const lists = await readKeys(workload.store, KEYS);
  const operations = readOperations(lists);
  workload.history.push({ id: workload.history.length + 1, process: CLIENTS, outcome: 'ok', operations });
  return lists;
}

/** Every committed append is in the final state; no failed one is. */
function expectFinalState(history: readonly Transaction[], lists: Map<string, number[] | null>): void {
  for (const transaction of history) {
    for (const operation of transaction.operations) {
      if (operation[0] !== 'append') continue;
      const present = lists.get(operation[1])?.includes(operation[2]) ?? false;
      expect(present, `T${transaction.id} (${transaction.outcome}) appended ${operation[2]} to ${operation[1]}`).toBe(
        transaction.outcome === 'ok',
      );
    }
  }
}

async function runWorkload(isolation: Isolation, seed: number): Promise<{ result: CheckResult; workload: Workload }> {
  const store = await openTestStore(seed);
  const workload = new Workload(store, isolation);
  const seeds = new SeededRandom(seed);
  await Promise.all(Array.from({ length: CLIENTS }, (_, process) => runClient(workload, process, seeds.nextSeed())));
  expectFinalState(workload.history, await finalRead(workload));
  const result = checkHistory(workload.history, { isolation, processOrder: true });
  return { result, workload };
}

function expectConflicts(statistics: RunStatistics): void {
  expect(statistics.attempts, 'some attempts were retried after a conflict').toBeGreaterThan(
    CLIENTS * TRANSACTIONS_PER_CLIENT,
  );
  expect(statistics.conflicted, 'some transactions ran out of retries').toBeGreaterThan(0);
  expect(statistics.committed).toBeGreaterThan(CLIENTS * TRANSACTIONS_PER_CLIENT * 0.3);
}

describe('elle: store.transaction() list-append histories', () => {
  for (const seed of [1, 2, 3]) {
    it(`serializable transactions show no anomaly (seed ${seed})`, async () => {
      const { result, workload } = await runWorkload('serializable', seed);
      expect(result.anomalies, describeAnomalies(result.anomalies)).toEqual([]);
      expect(result.valid).toBe(true);
      expectConflicts(workload.statistics);
    });

    it(`snapshot transactions show no anomaly but write skew (seed ${seed})`, async () => {
      const { result, workload } = await runWorkload('snapshot', seed);
      const forbidden = result.anomalies.filter((anomaly) => !anomaly.informational);
      expect(forbidden, describeAnomalies(forbidden)).toEqual([]);
      const types = new Set(result.anomalies.map((anomaly) => anomaly.type));
      expect([...types].filter((type) => type !== 'G2' && type !== 'G2-process')).toEqual([]);
      expect(result.valid).toBe(true);
      expectConflicts(workload.statistics);
    });
  }

  it('write skew: allowed under snapshot (reported as G2), refused under serializable', async () => {
    for (const isolation of ['snapshot', 'serializable'] as const) {
      const store = await openTestStore(7);
      const history: Transaction[] = [];
      const skewing = (id: number, readKeys: string[], appendKey: string) =>
        store
          .transaction(
            async (tx) => {
              const operations: Operation[] = [];
              for (const key of readKeys) operations.push(['r', key, await readList(tx, key)]);
              await ticks(5);
              tx.put(appendKey, [id]);
              operations.push(['append', appendKey, id]);
              return operations;
            },
            { isolation, retries: 0 },
          )
          .then(
            (operations) => history.push({ id, process: id, outcome: 'ok', operations }),
            (error: unknown) => {
              if (!(error instanceof ConflictError)) throw error;
              history.push({ id, process: id, outcome: 'fail', operations: [] });
            },
          );
      await Promise.all([skewing(1, ['x', 'y'], 'x'), skewing(2, ['x', 'y'], 'y')]);
      const finalLists = await readKeys(store, ['x', 'y']);
      history.push({ id: 3, process: 3, outcome: 'ok', operations: readOperations(finalLists) });
      const result = checkHistory(history, { isolation });
      if (isolation === 'snapshot') {
        expect(result.anomalies.map((anomaly) => anomaly.type)).toEqual(['G2']);
        expect(result.valid).toBe(true);
      } else {
        expect(history.filter((entry) => entry.outcome === 'fail')).toHaveLength(1);
        expect(result.anomalies, describeAnomalies(result.anomalies)).toEqual([]);
      }
    }
  });
});
