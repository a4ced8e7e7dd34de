/**
 * Randomized list-append histories of store.transaction() with scans, point reads and
 * keys given in every form, checked by the Elle-style checker (test/support/elle).
 * What elle-store.test.ts does not reach, and the transaction path's recent changes
 * touch:
 * - scans (whole range, and with a limit) recorded as reads of every key they cover, so
 *   a phantom (a scan missing a key or an append a concurrent commit made) is an
 *   anti-dependency cycle the checker finds under serializable;
 * - keys given as strings, fresh Buffers, and one Uint8Array per client rewritten in
 *   place before each use (the attempt's four-slot key memo, key-memo.ts, must give the
 *   key's bytes as they are now), over more keys per transaction than the memo holds;
 * - many clients over few keys, a small memory budget (flushes, runs, the write stall),
 *   bodies that outlive a short transaction lifetime (refused with TransactionLimitError
 *   lifetime, nothing written), and a close and reopen between two halves of the run;
 * - the shared read request (every attempt with one read version and pin floor reads
 *   through one object) across two stores open at once in the same process.
 * Deterministic workload (seeded); interleavings come from setImmediate ticks, and the
 * checks hold for every interleaving: no anomaly under serializable, only G2 (write
 * skew) under snapshot, every committed append in the final state and no failed one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError, openStore, type Store } from '../src/index.js';
import { TransactionLimitError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import type { TransactionHandle } from '../src/transaction/transaction.js';
import { checkHistory, describeAnomalies, type Operation, type Outcome, type Transaction } from './support/elle/checker.js';

type Isolation = 'serializable' | 'snapshot';

const KEYS = Array.from({ length: 10 }, (_unused, index) => `k${index}`);
const CLIENTS = 12;
const TRANSACTIONS_PER_HALF = 20;
/** Short enough that a body which sleeps past it is refused; long enough that ordinary bodies never are. */
const LIFETIME_MS = 400;
const OVERRUN_MS = LIFETIME_MS + 50;

const openStores: Store[] = [];

afterEach(async () => {
  for (const store of openStores.splice(0)) if (!store.closed) await store.close();
});

async function open(fileSystem: FaultFileSystem, directory: string): Promise<Store> {
  const store = await openStore(directory, {
    fileSystem, segmentSizeBytes: 1 << 20, memoryBudgetBytes: 256 * 1024, transactionLifetimeMs: LIFETIME_MS, checkpointOnClose: false,
  });
  openStores.push(store);
  return store;
}

async function ticks(count: number): Promise<void> {
  for (let tick = 0; tick < count; tick++) await new Promise((resolve) => setImmediate(resolve));
}

function asList(key: string, value: unknown): number[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || !value.every((element) => typeof element === 'number')) {
    throw new Error(`key ${key} holds ${JSON.stringify(value)}, not a list of numbers`);
  }
  return [...value];
}

/** The key in one of three forms: the string, a fresh Buffer, or the client's one Uint8Array rewritten in place. */
function keyForm(key: string, form: number, scratch: Uint8Array): string | Uint8Array {
  if (form === 0) return key;
  if (form === 1) return Buffer.from(key, 'utf8');
  scratch.set(Buffer.from(key, 'utf8'));
  return scratch;
}

type Step =
  | { kind: 'read'; key: string; form: number }
  | { kind: 'append'; key: string; form: number; element: number }
  | { kind: 'scan'; limit: number | undefined; reverse: boolean };

interface Plan {
  steps: Step[];
  overrun: boolean;
  abort: boolean;
  retries: number;
  isolation: Isolation;
}

class DeliberateAbort extends Error {}

class Workload {
  readonly history: Transaction[] = [];
  readonly counts = { committed: 0, conflicted: 0, expired: 0, aborted: 0, attempts: 0 };
  #nextId = 1;
  #nextElement = 1;

  constructor(readonly isolation: Isolation | 'mixed') {}

  plan(random: SeededRandom): Plan {
    const steps = Array.from({ length: random.nextIntInclusive(1, 8) }, (): Step => {
      const roll = random.nextIntInclusive(0, 9);
      const key = KEYS[random.nextIntInclusive(0, KEYS.length - 1)]!;
      const form = random.nextIntInclusive(0, 2);
      if (roll < 2) return { kind: 'scan', limit: random.chance(0.5) ? random.nextIntInclusive(1, 5) : undefined, reverse: random.chance(0.3) };
      if (roll < 6) return { kind: 'append', key, form, element: this.#nextElement++ };
      return { kind: 'read', key, form };
    });
    const isolation = this.isolation === 'mixed' ? (random.chance(0.5) ? 'serializable' : 'snapshot') : this.isolation;
    return { steps, overrun: random.chance(0.03), abort: random.chance(0.03), retries: [0, 3, 8][random.nextIntInclusive(0, 2)]!, isolation };
  }

  async run(store: Store, process: number, random: SeededRandom, scratch: Uint8Array): Promise<void> {
    const plan = this.plan(random);
    const id = this.#nextId++;
    let operations: Operation[] = [];
    let outcome: Outcome;
    try {
      await store.transaction(async (tx) => {
        this.counts.attempts++;
        operations = [];
        for (const step of plan.steps) {
          await ticks(random.nextIntInclusive(0, 3));
          if (step.kind === 'scan') {
            await scanStep(tx, step, operations);
            continue;
          }
          const list = asList(step.key, await tx.get(keyForm(step.key, step.form, scratch)));
          operations.push(['r', step.key, list]);
          if (step.kind === 'append') {
            // The form is drawn again: a key read as one form may be written as another.
            tx.put(keyForm(step.key, (step.form + step.element) % 3, scratch), [...(list ?? []), step.element]);
            operations.push(['append', step.key, step.element]);
          }
        }
        if (plan.overrun) await sleep(OVERRUN_MS);
        await ticks(random.nextIntInclusive(0, 2));
        if (plan.abort) throw new DeliberateAbort('the body chose to abort');
      }, { isolation: plan.isolation, retries: plan.retries });
      outcome = 'ok';
      this.counts.committed++;
    } catch (error) {
      outcome = this.#failure(error);
    }
    this.history.push({ id, process, outcome, operations });
  }

  #failure(error: unknown): Outcome {
    if (error instanceof DeliberateAbort) this.counts.aborted++;
    else if (error instanceof ConflictError) this.counts.conflicted++;
    // An overrun always ends so; any other body only on a machine slow enough to take its lifetime (nothing written either way).
    else if (error instanceof TransactionLimitError && error.limit === 'lifetime') this.counts.expired++;
    else throw error;
    return 'fail';
  }
}

/** A scan of the keys' range, recorded as a read of every key it covers (absent ones as null). */
async function scanStep(tx: TransactionHandle, step: { limit: number | undefined; reverse: boolean }, operations: Operation[]): Promise<void> {
  const seen = new Map<string, number[] | null>();
  const options = step.limit === undefined ? { gte: 'k', lt: 'l', reverse: step.reverse } : { gte: 'k', lt: 'l', reverse: step.reverse, limit: step.limit };
  for await (const [key, value] of tx.scan(options)) seen.set(key as string, asList(key as string, value));
  const returned = [...seen.keys()];
  expect(returned, 'a scan returns its keys in order').toEqual([...returned].sort((a, b) => (step.reverse ? (a < b ? 1 : -1) : (a < b ? -1 : 1))));
  // Covered: every key when the limit did not cut the scan, else those up to its last key.
  const complete = step.limit === undefined || returned.length < step.limit;
  const last = returned[returned.length - 1];
  for (const key of step.reverse ? [...KEYS].reverse() : KEYS) {
    if (!complete && (last === undefined || (step.reverse ? key < last : key > last))) break;
    operations.push(['r', key, seen.get(key) ?? null]);
  }
}

async function runClients(workload: Workload, store: Store, seeds: SeededRandom, half: number): Promise<void> {
  await Promise.all(Array.from({ length: CLIENTS }, async (_unused, client) => {
    const random = new SeededRandom(seeds.nextSeed());
    const scratch = new Uint8Array(2);
    for (let count = 0; count < TRANSACTIONS_PER_HALF; count++) {
      await ticks(random.nextIntInclusive(0, 2));
      await workload.run(store, half * CLIENTS + client, random, scratch);
    }
  }));
}

async function finalRead(workload: Workload, store: Store): Promise<Map<string, number[] | null>> {
  const lists = await store.transaction(async (tx) => {
    const entries: [string, number[] | null][] = [];
    for (const key of KEYS) entries.push([key, asList(key, await tx.get(key))]);
    return new Map(entries);
  });
  workload.history.push({ id: workload.history.length + 1_000_000, process: 2 * CLIENTS, outcome: 'ok', operations: [...lists].map(([key, list]) => ['r', key, list]) });
  return lists;
}

function expectFinalState(history: readonly Transaction[], lists: Map<string, number[] | null>): void {
  for (const transaction of history) {
    for (const operation of transaction.operations) {
      if (operation[0] !== 'append') continue;
      const present = lists.get(operation[1])?.includes(operation[2]) ?? false;
      expect(present, `T${transaction.id} (${transaction.outcome}) appended ${operation[2]} to ${operation[1]}`).toBe(transaction.outcome === 'ok');
    }
  }
}

function expectValid(workload: Workload, isolation: Isolation | 'mixed'): void {
  // Mixed runs are checked as snapshot: a snapshot writer may skew with anyone.
  const result = checkHistory(workload.history, { isolation: isolation === 'serializable' ? 'serializable' : 'snapshot', processOrder: true });
  if (isolation === 'serializable') {
    expect(result.anomalies, describeAnomalies(result.anomalies)).toEqual([]);
  } else {
    const forbidden = result.anomalies.filter((anomaly) => !anomaly.informational && anomaly.type !== 'G2');
    expect(forbidden, describeAnomalies(forbidden)).toEqual([]);
  }
  expect(workload.counts.conflicted, 'the run reached the conflict path').toBeGreaterThan(0);
  expect(workload.counts.committed).toBeGreaterThan(CLIENTS * TRANSACTIONS_PER_HALF * 0.3);
}

/** The run reached what it is for: flushes and runs (the write path under a small budget), bodies refused at their lifetime's end. */
function expectReached(workload: Workload, store: Store): void {
  expect(workload.counts.expired, 'some bodies outlived their lifetime').toBeGreaterThan(0);
  expect(store.stats().lifetime.runs, 'reads went to runs as well as memtables').toBeGreaterThan(0);
}

describe('review6: list-append histories with scans, key forms, short lifetimes and a reopen', () => {
  for (const [isolation, seed] of [['serializable', 11], ['serializable', 12], ['snapshot', 13], ['mixed', 14]] as const) {
    it(`${isolation}: no forbidden anomaly, final state exact (seed ${seed})`, async () => {
      const fileSystem = new FaultFileSystem(seed);
      const workload = new Workload(isolation);
      const seeds = new SeededRandom(seed);
      let store = await open(fileSystem, '/db');
      await runClients(workload, store, seeds, 0);
      await store.close();
      store = await open(fileSystem, '/db');
      await runClients(workload, store, seeds, 1);
      expectFinalState(workload.history, await finalRead(workload, store));
      expectValid(workload, isolation);
      expectReached(workload, store);
    }, 60_000);
  }

  it('two stores in one process, transactions interleaved across them: each store\'s history is serializable', async () => {
    const fileSystem = new FaultFileSystem(21);
    const stores = [await open(fileSystem, '/a'), await open(fileSystem, '/b')];
    const workloads = [new Workload('serializable'), new Workload('serializable')];
    const seeds = new SeededRandom(21);
    // Both stores start at the same versions: their attempts share read requests.
    await Promise.all(stores.map((store, index) => runClients(workloads[index]!, store, seeds, 0)));
    for (let index = 0; index < 2; index++) {
      expectFinalState(workloads[index]!.history, await finalRead(workloads[index]!, stores[index]!));
      expectValid(workloads[index]!, 'serializable');
    }
  }, 60_000);
});
