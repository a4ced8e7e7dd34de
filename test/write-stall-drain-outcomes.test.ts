/**
 * The write stall's FIFO drain (write-stall.ts) with every kind of waiter, and with
 * the ways a stalled writer can end other than being admitted: a let-through writer
 * whose commit is refused (a lost conflict check, a body that throws), close() while
 * writers wait, a WAL failure while they wait. Every stalled call must settle,
 * acknowledged or rejected with a typed error, and the ones acknowledged commit in
 * the order they called. No timing: the stall comes from an oversized batch whose
 * fdatasync a gated file system holds (the writers behind it wait for its apply).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { COMPACTION_STALL_RUNS } from '../src/limits.js';
import { fileSystemError } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';

const BUDGET_BYTES = 1024 * 1024;
const LARGE_BATCH_KEYS = 3000;
/** Rounds of the six kinds of waiter (see stallMixed). */
const ROUNDS = 20;

afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
  compactionSettings.stallRunCount = COMPACTION_STALL_RUNS;
});

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

function largeBatch(): Array<{ type: 'put'; key: string; value: string }> {
  return Array.from({ length: LARGE_BATCH_KEYS }, (_, index) => ({ type: 'put' as const, key: `big/${String(index).padStart(5, '0')}`, value: `big ${index} `.padEnd(120, 'v') }));
}

/** How one stalled call ended: the version it committed at, or its error's code. */
interface Ending {
  kind: string;
  /** The key it writes and the value, when it writes one. */
  written?: [string, number];
  version?: number;
  code?: string;
}

function ending(kind: string, call: Promise<{ version: number } | undefined | void>, written?: [string, number]): Promise<Ending> {
  return call.then(
    (result) => ({ kind, written, version: result === undefined ? undefined : (result as { version: number }).version }),
    (error: { code?: string }) => ({ kind, written, code: error.code ?? `untyped: ${String(error)}` }),
  );
}

interface Stalled {
  store: Store;
  fileSystem: GatedFileSystem<FaultFileSystem>;
  big: Promise<Ending>;
  held: Awaited<ReturnType<GatedFileSystem['nextHeld']>>;
  endings: Array<Promise<Ending>>;
}

/**
 * ROUNDS rounds of: a put, a batch, a transactionSync that writes, a transaction()
 * that writes, a transaction() that loses its conflict check (the put before it in
 * the queue writes the key it read), and a transactionSync whose body throws; all
 * stalled behind an oversized batch held at its fdatasync.
 */
async function stallMixed(seed: number): Promise<Stalled> {
  const fileSystem = new GatedFileSystem(new FaultFileSystem(seed));
  const store = await openStore('/db', { fileSystem, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false });
  for (let round = 0; round < ROUNDS; round++) await store.put(`read/${round}`, 0);
  fileSystem.armed = true;
  const big = ending('big', store.batch(largeBatch()));
  const held = await fileSystem.nextHeld();
  const endings: Array<Promise<Ending>> = [];
  for (let round = 0; round < ROUNDS; round++) {
    endings.push(ending('put', store.put(`read/${round}`, round + 1), [`read/${round}`, round + 1]));
    endings.push(ending('batch', store.batch([{ type: 'put', key: `batch/${round}`, value: round }]), [`batch/${round}`, round]));
    endings.push(ending('transactionSync', store.transactionSync((tx) => tx.put(`sync/${round}`, round)), [`sync/${round}`, round]));
    endings.push(ending('transaction', store.transaction((tx) => tx.put(`async/${round}`, round)), [`async/${round}`, round]));
    // Read before the stalled put of the same key above is ordered: its commit must lose.
    let read: () => void = () => undefined;
    const hasRead = new Promise<void>((resolve) => {
      read = resolve;
    });
    endings.push(ending('loser', store.transaction(async (tx) => {
      await tx.get(`read/${round}`);
      read();
      tx.put(`loser/${round}`, round);
    }, { retries: 0 })));
    await hasRead;
    endings.push(ending('throws', store.transactionSync(() => {
      throw new RangeError('the body refuses');
    })));
  }
  await turns(20);
  return { store, fileSystem, big, held, endings };
}

describe('the write stall drains every kind of stalled call', () => {
  it('refused let-through writers hand on: every call settles, the acknowledged ones in call order', async () => {
    const { store, fileSystem, big, held, endings } = await stallMixed(41);
    expect(store.stats().storage.writeStalls).toBeGreaterThanOrEqual(5 * ROUNDS);
    fileSystem.armed = false;
    held.release();
    const ended = await Promise.all(endings);
    expect((await big).code).toBeUndefined();
    const kinds = new Map<string, Ending[]>();
    for (const one of ended) kinds.set(one.kind, [...(kinds.get(one.kind) ?? []), one]);
    for (const kind of ['put', 'batch', 'transactionSync', 'transaction']) {
      for (const one of kinds.get(kind)!) expect(one.code, kind).toBeUndefined();
    }
    for (const one of kinds.get('loser')!) expect(one.code).toBe('LADYBUG_CONFLICT');
    // A transactionSync that writes nothing resolves with its body's result, or rejects with its error.
    for (const one of kinds.get('throws')!) expect(one.code).toBe('untyped: RangeError: the body refuses');
    // put and batch resolve with their versions (the transactions with their bodies' results).
    const versions = ended.filter((one) => one.version !== undefined).map((one) => one.version!);
    expect(versions).toHaveLength(2 * ROUNDS);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    for (let round = 0; round < ROUNDS; round++) {
      expect(await store.get(`read/${round}`)).toBe(round + 1);
      expect(await store.get(`loser/${round}`)).toBeUndefined();
      expect(await store.get(`sync/${round}`)).toBe(round);
      expect(await store.get(`async/${round}`)).toBe(round);
    }
    expect(store.stats().storage.writeStalls).toBeGreaterThanOrEqual(5 * ROUNDS);
    await store.close();
  });

  it('close() while they wait: every call settles, acknowledged or StoreClosedError, and what was acknowledged is durable', async () => {
    const { store, fileSystem, big, held, endings } = await stallMixed(42);
    const closed = store.close();
    await turns(5);
    fileSystem.armed = false;
    held.release();
    await closed;
    const ended = await Promise.all(endings);
    expect((await big).code).toBeUndefined();
    for (const one of ended) {
      if (one.kind === 'loser') expect(['LADYBUG_CONFLICT', 'LADYBUG_STORE_CLOSED', undefined]).toContain(one.code);
      else if (one.kind === 'throws') expect(['untyped: RangeError: the body refuses', 'LADYBUG_STORE_CLOSED']).toContain(one.code);
      else expect([undefined, 'LADYBUG_STORE_CLOSED'], `${one.kind} ${one.code}`).toContain(one.code);
    }
    const reopened = await openStore('/db', { fileSystem: fileSystem.inner, memoryBudgetBytes: BUDGET_BYTES });
    try {
      for (const one of ended) {
        if (one.code === undefined && one.written !== undefined) expect(await reopened.get(one.written[0]), one.kind).toBe(one.written[1]);
      }
    } finally {
      await reopened.close();
    }
  });

  it('the held fdatasync fails: every stalled call settles typed (store failed), none hangs', async () => {
    const { store, fileSystem, big, held, endings } = await stallMixed(43);
    fileSystem.armed = false;
    held.fail(fileSystemError('EIO', 'fdatasync', held.path));
    const ended = await Promise.all(endings);
    expect((await big).code).toBe('LADYBUG_COMMIT_OUTCOME_UNKNOWN');
    for (const one of ended) {
      if (one.kind === 'throws') expect(['untyped: RangeError: the body refuses', 'LADYBUG_STORE_FAILED']).toContain(one.code);
      else expect(one.code, one.kind).toBe('LADYBUG_STORE_FAILED');
    }
    await store.close().catch(() => undefined);
  });
});

describe('the compaction backlog stall drains in call order too', () => {
  it('writers stalled on the run count, and writers that come while they leave, commit in call order once compaction caught up', async () => {
    compactionSettings.stallRunCount = 6;
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(44), memoryBudgetBytes: 256 * 1024, checkpointOnClose: false });
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    compactionTestHooks.onHorizon = async () => {
      compactionTestHooks.onHorizon = undefined;
      await gate;
    };
    for (let run = 0; run < 7; run++) {
      await store.put(`run-${run}`, run);
      await store.checkpoint();
    }
    const stalled: Array<Promise<{ version: number }>> = [];
    for (let index = 0; index < 3 * ROUNDS; index++) stalled.push(store.put(`stalled/${index}`, index));
    await turns(20);
    expect(store.stats().storage.writeStalls).toBe(3 * ROUNDS);
    release();
    // A newcomer per turn while they leave: behind every one of them.
    const late: Array<Promise<{ version: number }>> = [];
    let leftAll = false;
    const all = Promise.all(stalled).then((results) => {
      leftAll = true;
      return results;
    });
    for (let turn = 0; turn < 1000 && !leftAll; turn++) {
      late.push(store.put(`late/${turn}`, turn));
      await turns(1);
    }
    const versions = (await all).map((result) => result.version);
    expect(versions).toEqual(Array.from({ length: 3 * ROUNDS }, (_, index) => versions[0]! + index));
    for (const result of await Promise.all(late)) expect(result.version).toBeGreaterThan(versions.at(-1)!);
    await store.close();
  });
});
