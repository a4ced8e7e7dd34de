/**
 * Power loss in the middle of serial transfers (store.transactionSync).
 *
 * Serial bodies read commits that are ordered but not yet durable, so a crash is
 * where a wrong overlay would show: a transfer computed from a balance that never
 * became durable, or acknowledged before its own fdatasync. The workload: a bank
 * (transaction-support.ts) on a FaultFileSystem with small WAL segments, concurrent
 * writers each running serial transfers one after another (both balances and a
 * marker per transfer). The file system dies after k operations, for every k over
 * the run, the machine "reboots" in each crash mode, and the store is reopened:
 * every acknowledged transfer must be there, none half applied (balances = initial
 * + exactly the transfers whose markers are present), the total conserved, no
 * balance negative.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { abandonStore, type Store } from '../src/store/store.js';
import {
  accountKey,
  bankProblems,
  InsufficientFunds,
  markerKey,
  openAccounts,
  planTransfers,
  readBank,
  SMALL_SEGMENTS,
  type Transfer,
} from './transaction-support.js';

const ACCOUNTS = 5;
const WRITERS = 6;
const TRANSFERS_PER_WRITER = 8;
const PLAN: Transfer[][] = Array.from({ length: WRITERS }, (_unused, writer) =>
  planTransfers(TRANSFERS_PER_WRITER, ACCOUNTS, 40 + writer, `w${writer}-`).map((move) => ({ ...move, memo: 'm'.repeat(400) })));

function serialTransfer(store: Store, move: Transfer): Promise<void> {
  return store.transactionSync((tx) => {
    const from = tx.get(accountKey(move.from)) as number;
    const to = tx.get(accountKey(move.to)) as number;
    if (from < move.amount) throw new InsufficientFunds(move, from);
    tx.put(accountKey(move.from), from - move.amount);
    tx.put(accountKey(move.to), to + move.amount);
    tx.put(markerKey(move.id), { from: move.from, to: move.to, amount: move.amount, memo: move.memo });
  });
}

interface Run {
  store: Store | undefined;
  acknowledged: Set<string>;
}

/** Runs the plan until it ends or the file system dies; records what was acknowledged. */
async function runBank(fileSystem: FaultFileSystem): Promise<Run> {
  const run: Run = { store: undefined, acknowledged: new Set() };
  try {
    run.store = await openStore('/db', { fileSystem, ...SMALL_SEGMENTS });
    await openAccounts(run.store, ACCOUNTS);
  } catch {
    return run;
  }
  const store = run.store;
  await Promise.all(PLAN.map(async (moves) => {
    for (const move of moves) {
      try {
        await serialTransfer(store, move);
        run.acknowledged.add(move.id);
      } catch (error) {
        if (error instanceof InsufficientFunds) continue;
        return; // the store failed (the crash): this writer stops
      }
    }
  }));
  return run;
}

async function problemsAfterCrash(k: number, mode: CrashMode): Promise<string[]> {
  const fileSystem = new FaultFileSystem(k + 1);
  fileSystem.crashAfterOperations(k);
  const run = await runBank(fileSystem);
  run.store?.[abandonStore]();
  const store = await openStore('/db', { fileSystem: fileSystem.crash(mode), ...SMALL_SEGMENTS });
  try {
    const state = await readBank(store, ACCOUNTS);
    if (state.balances.every((balance) => Number.isNaN(balance))) {
      return run.acknowledged.size === 0 ? [] : ['acknowledged transfers but no accounts'];
    }
    const problems = bankProblems(state, ACCOUNTS);
    for (const id of run.acknowledged) if (!state.markers.has(id)) problems.push(`acknowledged transfer ${id} is missing`);
    return problems;
  } finally {
    await store.close();
  }
}

describe('serial transfers survive a power loss at every point', () => {
  it('runs the whole plan without a crash (the baseline the crash points cover)', async () => {
    const fileSystem = new FaultFileSystem(1);
    const run = await runBank(fileSystem);
    expect(run.acknowledged.size).toBeGreaterThan(WRITERS * TRANSFERS_PER_WRITER / 2);
    expect(bankProblems(await readBank(run.store!, ACCOUNTS), ACCOUNTS)).toEqual([]);
    expect(run.store!.stats().walSegment).toBeGreaterThanOrEqual(2);
    await run.store!.close();
  });

  for (const mode of ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'] as const) {
    it(`every crash point, ${mode}`, async () => {
      const baseline = new FaultFileSystem(1);
      const run = await runBank(baseline);
      run.store?.[abandonStore]();
      const operations = baseline.operationCount;
      const failures: string[] = [];
      for (let k = 0; k <= operations + 5; k++) {
        const problems = await problemsAfterCrash(k, mode);
        if (problems.length > 0) failures.push(`k=${k}: ${problems.join('; ')}`);
      }
      expect(failures).toEqual([]);
    });
  }
});
