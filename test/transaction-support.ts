/**
 * Shared by the transaction, snapshot, bank and transaction-crash tests: gates
 * (explicit promises that order two async chains), a file system whose WAL
 * datasync the test can hold open, and a bank workload with the checks a store
 * must pass after it (also after a crash).
 *
 * Bank model. Accounts `acct/NN` start with INITIAL_BALANCE each. A transfer is one
 * transaction that reads both balances, refuses to overdraw (throws
 * InsufficientFunds: nothing written), writes both balances and a marker
 * `xfer/<id>` = {from, to, amount}. So the markers present in a store say exactly
 * which transfers committed, and the balances must equal the initial ones plus
 * the effect of exactly those transfers: a half-applied transfer (a balance
 * changed without its marker, or only one side) breaks that equation.
 */
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { StoreOptions } from '../src/store/options.js';
import type { Store } from '../src/store/store.js';
import type { TransactionHandle as Transaction } from '../src/transaction/transaction.js';
import type { TransactionOptions } from '../src/transaction/run-transaction.js';

// ---------------------------------------------------------------------------
// Ordering primitives

export interface Gate<T = void> {
  promise: Promise<T>;
  open(value: T): void;
  readonly opened: boolean;
}

/** A promise the test resolves explicitly: the only way the tests order two chains. */
export function gate<T = void>(): Gate<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => { resolve = done; });
  const result = {
    promise,
    opened: false,
    open(value: T) {
      result.opened = true;
      resolve(value);
    },
  };
  return result;
}

export interface Tracked<T> {
  settled: boolean;
  value: T | undefined;
  error: unknown;
  promise: Promise<T>;
}

/** Tracks whether a promise settled, without letting a rejection go unhandled. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const state: Tracked<T> = { settled: false, value: undefined, error: undefined, promise };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** Lets every pending microtask and one macrotask turn run. */
export const settle = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

export async function settleUntil(condition: () => boolean, rounds = 1000): Promise<void> {
  for (let round = 0; round < rounds && !condition(); round++) await settle();
  if (!condition()) throw new Error('condition never became true');
}

// A file system whose WAL datasync can be held open (shared with other suites).
export { GatedFileSystem, type HeldDatasync } from './support/file-system-wrappers.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';
import { mulberry32 } from './support/seeded-random.js';

export const SMALL_SEGMENTS = { segmentSizeBytes: 16 * 1024, maxValueBytes: 4096 } as const;

/** A store on an in-memory FaultFileSystem (no disk I/O: fast and deterministic). */
export function memoryStore(options: StoreOptions = {}, seed = 1): Promise<Store> {
  return openStore('/db', { fileSystem: new FaultFileSystem(seed), segmentSizeBytes: 256 * 1024, ...options });
}

/** Gated store: the WAL datasync can be held open through `gated`. */
export async function gatedStore(options: StoreOptions = {}, seed = 1): Promise<{ store: Store; gated: GatedFileSystem; fault: FaultFileSystem }> {
  const fault = new FaultFileSystem(seed);
  const gated = new GatedFileSystem(fault);
  const store = await openStore('/db', { segmentSizeBytes: 256 * 1024, ...options, fileSystem: gated });
  return { store, gated, fault };
}

export async function scanAll(store: { scan(options?: object): AsyncIterableIterator<[string | Uint8Array, unknown]> }, options?: object): Promise<Array<[string, unknown]>> {
  const entries: Array<[string, unknown]> = [];
  for await (const [key, value] of store.scan(options)) entries.push([key as string, value]);
  return entries;
}

// ---------------------------------------------------------------------------
// Bank

export const INITIAL_BALANCE = 100;

export function accountKey(account: number): string {
  return `acct/${String(account).padStart(2, '0')}`;
}

export function markerKey(id: string): string {
  return `xfer/${id}`;
}

export interface Transfer {
  id: string;
  from: number;
  to: number;
  amount: number;
  /** Padding carried in the marker (crash tests use it to fill WAL segments). */
  memo?: string;
}

export class InsufficientFunds extends Error {
  constructor(readonly transfer: Transfer, readonly balance: number) {
    super(`transfer ${transfer.id}: balance ${balance} < ${transfer.amount}`);
  }
}

/** Puts every account at INITIAL_BALANCE in one batch. */
export async function openAccounts(store: Store, accounts: number): Promise<void> {
  await store.batch(Array.from({ length: accounts }, (_, account) => ({ type: 'put' as const, key: accountKey(account), value: INITIAL_BALANCE })));
}

export interface TransferHooks {
  /** Awaited between the reads and the writes of every attempt (an injected yield point). */
  between?: (tx: Transaction, attempt: number) => Promise<void> | void;
}

/**
 * One transfer as one transaction. Resolves with the number of attempts it took;
 * rejects with InsufficientFunds (nothing written) or ConflictError.
 */
export async function transfer(store: Store, move: Transfer, options: TransactionOptions = {}, hooks: TransferHooks = {}): Promise<number> {
  let attempts = 0;
  await store.transaction(async (tx) => {
    attempts++;
    const from = (await tx.get(accountKey(move.from))) as number;
    const to = (await tx.get(accountKey(move.to))) as number;
    await hooks.between?.(tx, attempts);
    if (from < move.amount) throw new InsufficientFunds(move, from);
    tx.put(accountKey(move.from), from - move.amount);
    tx.put(accountKey(move.to), to + move.amount);
    tx.put(markerKey(move.id), { from: move.from, to: move.to, amount: move.amount, ...(move.memo === undefined ? {} : { memo: move.memo }) });
  }, options);
  return attempts;
}

/** A deterministic list of transfers (mulberry32 on `seed`). */
export function planTransfers(count: number, accounts: number, seed: number, prefix = 't'): Transfer[] {
  const random = mulberry32(seed);
  const transfers: Transfer[] = [];
  for (let index = 0; index < count; index++) {
    const from = Math.floor(random() * accounts);
    let to = Math.floor(random() * (accounts - 1));
    if (to >= from) to++;
    transfers.push({ id: `${prefix}${index}`, from, to, amount: 1 + Math.floor(random() * 60) });
  }
  return transfers;
}

export { mulberry32 };

export interface BankState {
  balances: number[];
  markers: Map<string, { from: number; to: number; amount: number }>;
}

export async function readBank(reader: { scan(options?: object): AsyncIterableIterator<[string | Uint8Array, unknown]> }, accounts: number): Promise<BankState> {
  const balances: number[] = Array.from({ length: accounts }, () => Number.NaN);
  const markers = new Map<string, { from: number; to: number; amount: number }>();
  for (const [key, value] of await scanAll(reader)) {
    if (key.startsWith('acct/')) balances[Number(key.slice(5))] = value as number;
    else if (key.startsWith('xfer/')) markers.set(key.slice(5), value as { from: number; to: number; amount: number });
  }
  return { balances, markers };
}

/**
 * The bank's invariants: every account present and non-negative, the total
 * conserved, and the balances exactly what the committed transfers (the markers
 * present) make of the initial balances: no transfer half applied. Returns the
 * problems found.
 */
export function bankProblems(state: BankState, accounts: number): string[] {
  const problems: string[] = [];
  const expected: number[] = Array.from({ length: accounts }, () => INITIAL_BALANCE);
  for (const { from, to, amount } of state.markers.values()) {
    expected[from]! -= amount;
    expected[to]! += amount;
  }
  const total = state.balances.reduce((sum, balance) => sum + balance, 0);
  if (total !== accounts * INITIAL_BALANCE) problems.push(`total ${total}, expected ${accounts * INITIAL_BALANCE}`);
  for (const [account, balance] of state.balances.entries()) {
    if (Number.isNaN(balance)) problems.push(`account ${account} missing`);
    if (balance < 0) problems.push(`account ${account} overdrawn: ${balance}`);
    if (balance !== expected[account]) problems.push(`account ${account} is ${balance}, but its committed transfers make it ${expected[account]}`);
  }
  return problems;
}
