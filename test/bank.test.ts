/**
 * The bank: concurrent transfers as transactions. The total is conserved and no
 * account is ever overdrawn, at the end and in every snapshot and read-only
 * transaction taken while transfers run; the committed transfers, replayed serially
 * in commit-version order, are each valid and give exactly the final balances.
 *
 * Overdraft across two accounts (a customer may go negative on one account as long
 * as the sum stays >= 0) is the write-skew case: serializable never lets the sum go
 * negative; snapshot isolation can, and does under the forced interleaving.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../src/errors.js';
import type { Isolation, TransactionHandle as Transaction } from '../src/transaction/transaction.js';
import type { Store } from '../src/store/store.js';
import {
  accountKey,
  bankProblems,
  gate,
  INITIAL_BALANCE,
  InsufficientFunds,
  memoryStore,
  mulberry32,
  openAccounts,
  planTransfers,
  readBank,
  settle,
  settleUntil,
  track,
  transfer,
  type Transfer,
} from './transaction-support.js';

interface TransferOutcome {
  transfer: Transfer;
  committed: boolean;
  attempts: number;
  error?: unknown;
}

/** Runs every transfer concurrently; each yields a seeded number of turns between its reads and writes. */
async function runTransfers(store: Store, transfers: readonly Transfer[], isolation: Isolation, seed: number): Promise<TransferOutcome[]> {
  const random = mulberry32(seed);
  const delays = transfers.map(() => Math.floor(random() * 4));
  const betweens = transfers.map(() => Math.floor(random() * 4));
  return Promise.all(transfers.map(async (move, index) => {
    for (let turn = 0; turn < delays[index]!; turn++) await settle();
    try {
      const attempts = await transfer(store, move, { isolation, retries: 1000 }, {
        between: async () => { for (let turn = 0; turn < betweens[index]!; turn++) await (turn % 2 === 0 ? null : settle()); },
      });
      return { transfer: move, committed: true, attempts };
    } catch (error) {
      return { transfer: move, committed: false, attempts: 0, error };
    }
  }));
}

/**
 * Replays the committed transfers in commit-version order on a serial model: each
 * must have been valid at its point (no overdraft) and the result must be the store's.
 */
async function serialReplayProblems(store: Store, outcomes: readonly TransferOutcome[], accounts: number): Promise<string[]> {
  const problems: string[] = [];
  const committed = [];
  for (const outcome of outcomes) {
    if (!outcome.committed) continue;
    const history = await store.history(`xfer/${outcome.transfer.id}`);
    committed.push({ move: outcome.transfer, version: history[0]!.version });
  }
  committed.sort((left, right) => left.version - right.version);
  const balances = Array.from({ length: accounts }, () => INITIAL_BALANCE);
  for (const { move, version } of committed) {
    if (balances[move.from]! < move.amount) problems.push(`transfer ${move.id} at version ${version} overdraws account ${move.from} in serial order`);
    balances[move.from]! -= move.amount;
    balances[move.to]! += move.amount;
  }
  const actual = (await readBank(store, accounts)).balances;
  if (JSON.stringify(actual) !== JSON.stringify(balances)) problems.push(`final balances ${JSON.stringify(actual)} differ from the serial replay ${JSON.stringify(balances)}`);
  return problems;
}

describe('concurrent transfers', () => {
  for (const isolation of ['serializable', 'snapshot'] as const) {
    it(`${isolation}: 300 transfers over 8 accounts conserve the total, never overdraw, and match a serial replay; audits always balance`, async () => {
      const ACCOUNTS = 8;
      const store = await memoryStore();
      await openAccounts(store, ACCOUNTS);
      const transfers = planTransfers(300, ACCOUNTS, isolation === 'serializable' ? 1 : 2);
      let running = true;
      const audits: string[] = [];
      let auditCount = 0;
      // Concurrent auditors: snapshots and read-only transactions see a balanced bank.
      const auditor = (async () => {
        while (running) {
          await settle();
          await using snapshot = await store.snapshot();
          const seen = await readBank(snapshot, ACCOUNTS);
          audits.push(...bankProblems(seen, ACCOUNTS).map((problem) => `snapshot at ${snapshot.version}: ${problem}`));
          const total = await store.transaction(async (tx) => {
            let sum = 0;
            for (let account = 0; account < ACCOUNTS; account++) {
              sum += (await tx.get(accountKey(account))) as number;
              if (account % 3 === 0) await settle();
            }
            return sum;
          });
          if (total !== ACCOUNTS * INITIAL_BALANCE) audits.push(`read-only transaction saw total ${total}`);
          auditCount++;
        }
      })();
      const outcomes = await runTransfers(store, transfers, isolation, 11);
      running = false;
      await auditor;

      for (const outcome of outcomes) {
        if (!outcome.committed) expect(outcome.error).toBeInstanceOf(InsufficientFunds);
      }
      const committed = outcomes.filter((outcome) => outcome.committed);
      // How many are refused for lack of funds depends on the interleaving (86..180 of 300 seen).
      expect(committed.length).toBeGreaterThan(40);
      // Contention happened: some transfers needed more than one attempt.
      expect(committed.some((outcome) => outcome.attempts > 1)).toBe(true);
      expect(auditCount).toBeGreaterThan(3);
      expect(audits).toEqual([]);

      const state = await readBank(store, ACCOUNTS);
      expect(bankProblems(state, ACCOUNTS)).toEqual([]);
      expect([...state.markers.keys()].sort()).toEqual(committed.map((outcome) => outcome.transfer.id).sort());
      expect(await serialReplayProblems(store, outcomes, ACCOUNTS)).toEqual([]);
      await store.close();
    });
  }

  it('fast-check: random transfers with random interleavings, both isolation levels, always conserve and match a serial replay', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 5 }),
        fc.array(fc.record({ from: fc.nat(4), to: fc.nat(4), amount: fc.integer({ min: 1, max: 150 }) }), { minLength: 1, maxLength: 30 }),
        fc.constantFrom<Isolation>('serializable', 'snapshot'),
        fc.integer(),
        async (accounts, raw, isolation, seed) => {
          const transfers: Transfer[] = raw
            .map((move, index) => ({ id: `p${index}`, from: move.from % accounts, to: move.to % accounts, amount: move.amount }))
            .filter((move) => move.from !== move.to);
          const store = await memoryStore();
          try {
            await openAccounts(store, accounts);
            const outcomes = await runTransfers(store, transfers, isolation, seed);
            for (const outcome of outcomes) if (!outcome.committed) expect(outcome.error).toBeInstanceOf(InsufficientFunds);
            expect(bankProblems(await readBank(store, accounts), accounts)).toEqual([]);
            expect(await serialReplayProblems(store, outcomes, accounts)).toEqual([]);
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 60, seed: 4242, endOnFailure: true },
    );
  });

  it('the same transfer racing itself from two callers is applied once per call, never half', async () => {
    const store = await memoryStore();
    await openAccounts(store, 2);
    const t1Read = gate();
    const t2Done = gate();
    const first = track(transfer(store, { id: 'a', from: 0, to: 1, amount: 60 }, {}, {
      between: async (_tx, attempt) => {
        if (attempt === 1) {
          t1Read.open();
          await t2Done.promise;
        }
      },
    }));
    await t1Read.promise;
    await transfer(store, { id: 'b', from: 0, to: 1, amount: 60 });
    t2Done.open();
    await settleUntil(() => first.settled);
    // The re-run saw 40 left and refused: one transfer of 60, not two, and not a lost one.
    expect(first.error).toBeInstanceOf(InsufficientFunds);
    const state = await readBank(store, 2);
    expect(state.balances).toEqual([40, 160]);
    expect([...state.markers.keys()]).toEqual(['b']);
    await store.close();
  });
});

describe('overdraft across two accounts (write skew)', () => {
  /** Withdraws from one of a customer's two accounts if their sum allows it. */
  async function withdraw(tx: Transaction, account: 'checking' | 'savings', amount: number, readBoth: () => void, proceed: Promise<void>): Promise<void> {
    const checking = (await tx.get('checking')) as number;
    const savings = (await tx.get('savings')) as number;
    readBoth();
    await proceed;
    if (checking + savings < amount) throw new InsufficientFunds({ id: account, from: 0, to: 1, amount }, checking + savings);
    tx.put(account, (account === 'checking' ? checking : savings) - amount);
  }

  async function race(isolation: Isolation) {
    const store = await memoryStore();
    await store.batch([{ type: 'put', key: 'checking', value: 70 }, { type: 'put', key: 'savings', value: 80 }]);
    const t1Read = gate();
    const t2Done = gate();
    const t1 = track(store.transaction((tx) => withdraw(tx, 'checking', 100, () => t1Read.open(), t2Done.promise), { isolation, retries: 3 }));
    await t1Read.promise;
    await store.transaction((tx) => withdraw(tx, 'savings', 100, () => undefined, Promise.resolve()), { isolation });
    t2Done.open();
    await settleUntil(() => t1.settled);
    const result = { t1: t1.error ?? 'committed', checking: await store.get('checking'), savings: await store.get('savings') };
    await store.close();
    return result;
  }

  it('serializable: the second withdrawal re-runs and is refused; the sum stays >= 0', async () => {
    const result = await race('serializable');
    expect(result.t1).toBeInstanceOf(InsufficientFunds);
    expect({ checking: result.checking, savings: result.savings }).toEqual({ checking: 70, savings: -20 });
  });

  it('snapshot isolation: both withdrawals commit and the customer is overdrawn by 50 (allowed: write skew)', async () => {
    const result = await race('snapshot');
    expect(result.t1).toBe('committed');
    expect({ checking: result.checking, savings: result.savings }).toEqual({ checking: -30, savings: -20 });
  });

  it('fast-check: serializable random concurrent withdrawals never take the sum below zero', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ account: fc.constantFrom<'checking' | 'savings'>('checking', 'savings'), amount: fc.integer({ min: 1, max: 120 }), delay: fc.nat(4), between: fc.nat(4) }), { minLength: 2, maxLength: 12 }),
        async (withdrawals) => {
          const store = await memoryStore();
          try {
            await store.batch([{ type: 'put', key: 'checking', value: 60 }, { type: 'put', key: 'savings', value: 60 }]);
            const results = await Promise.all(withdrawals.map(async ({ account, amount, delay, between }) => {
              for (let turn = 0; turn < delay; turn++) await settle();
              const proceed = (async () => { for (let turn = 0; turn < between; turn++) await settle(); })();
              return store.transaction((tx) => withdraw(tx, account, amount, () => undefined, proceed), { retries: 1000 })
                .then(() => amount, (error: unknown) => {
                  if (error instanceof InsufficientFunds) return 0;
                  throw error;
                });
            }));
            const sum = ((await store.get('checking')) as number) + ((await store.get('savings')) as number);
            expect(sum).toBeGreaterThanOrEqual(0);
            expect(sum).toBe(120 - results.reduce((total, amount) => total + amount, 0));
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 60, seed: 99, endOnFailure: true },
    );
  });

  it('with retries 0 the refused withdrawal reports ConflictError naming the other account', async () => {
    const store = await memoryStore();
    await store.batch([{ type: 'put', key: 'checking', value: 70 }, { type: 'put', key: 'savings', value: 80 }]);
    const t1Read = gate();
    const t2Done = gate();
    const t1 = track(store.transaction((tx) => withdraw(tx, 'checking', 100, () => t1Read.open(), t2Done.promise), { retries: 0 }));
    await t1Read.promise;
    await store.transaction((tx) => withdraw(tx, 'savings', 100, () => undefined, Promise.resolve()));
    t2Done.open();
    await settleUntil(() => t1.settled);
    expect(t1.error).toBeInstanceOf(ConflictError);
    expect(t1.error).toMatchObject({ keys: ['savings'], winningVersion: 2 });
    await store.close();
  });
});
