/**
 * The crash worker's workload: concurrent writers on one store handle, every
 * commit announced to the parent before it is submitted and acknowledged after.
 *
 * - Data writers (DATA_WRITER_COUNT) each own KEYS_PER_DATA_WRITER keys and issue
 *   one commit at a time: puts of payloads from 0 bytes to 32 KiB (records that
 *   span many sectors and cross segment ends), deletes, and batches of 2-6 of them.
 * - Bank writers (BANK_WRITER_COUNT) move money between ACCOUNT_COUNT accounts: each
 *   transfer takes the worker's locks on both accounts (lower index first), reads
 *   both balances, and writes both new balances in one batch. Total money is
 *   conserved by every batch, so a half-applied batch shows as a broken total.
 * - Before the bank writers start, the accounts are created in one batch if the
 *   store has none of them (the first cycle, or every cycle until that batch is
 *   acknowledged).
 *
 * A writer that hits an error stops. Errors are expected after expectFailures()
 * (power loss: every file-system call fails); before that they are reported.
 */
import { Mutex } from 'async-mutex';
import type { CommitResult } from '../commit/commit-pipeline.js';
import type { BatchOperation } from '../commit/prepare.js';
import type { Store } from '../store/store.js';
import {
  ACCOUNT_BALANCE_INITIAL,
  ACCOUNT_COUNT,
  accountKey,
  BANK_WRITER_COUNT,
  DATA_WRITER_COUNT,
  dataKey,
  KEYS_PER_DATA_WRITER,
  valueOf,
  type WriteDescription,
  writeIdFor,
} from './crash-protocol.js';
import type { Announcer } from './parent-channel.js';
import { SeededRandom } from './seeded-random.js';

const BATCH_WRITES_MIN = 2;
const BATCH_WRITES_MAX = 6;
/** Data commits: 70% single writes (of which 1 in 7 a delete: 10% of all), 30% batches (20% deletes). */
const SINGLE_WRITE_PROBABILITY = 0.7;
const DELETE_PROBABILITY_SINGLE = 1 / 7;
const DELETE_PROBABILITY_IN_BATCH = 0.2;

interface Writer {
  name: string;
  random: SeededRandom;
  sequence: number;
}

export class CrashWorkload {
  readonly #store: Store;
  readonly #announcer: Announcer;
  readonly #cycle: number;
  readonly #random: SeededRandom;
  readonly #accountLocks = Array.from({ length: ACCOUNT_COUNT }, () => new Mutex());
  readonly #onUnexpectedError: (error: unknown) => void;
  #failuresExpected = false;

  constructor(store: Store, announcer: Announcer, cycle: number, seed: number, onUnexpectedError: (error: unknown) => void) {
    this.#store = store;
    this.#announcer = announcer;
    this.#cycle = cycle;
    this.#random = new SeededRandom(seed);
    this.#onUnexpectedError = onUnexpectedError;
  }

  /** From now on, errors are the expected result of a simulated power loss: writers stop quietly. */
  expectFailures(): void {
    this.#failuresExpected = true;
  }

  get failuresExpected(): boolean {
    return this.#failuresExpected;
  }

  /** Runs every writer until each has stopped (which, without failures, is never). */
  async run(): Promise<void> {
    const dataWriters = Array.from({ length: DATA_WRITER_COUNT }, (_, index) => this.#loop(`d${index}`, (writer) => this.#dataStep(writer, index)));
    const bankReady = this.#guard(() => this.#ensureBank(this.#newWriter('setup')));
    const bankWriters = Array.from({ length: BANK_WRITER_COUNT }, async (_, index) => {
      if (await bankReady) await this.#loop(`b${index}`, (writer) => this.#transfer(writer));
    });
    await Promise.all([...dataWriters, ...bankWriters]);
  }

  #newWriter(name: string): Writer {
    return { name, random: new SeededRandom(this.#random.nextSeed()), sequence: 0 };
  }

  async #loop(name: string, step: (writer: Writer) => Promise<void>): Promise<void> {
    const writer = this.#newWriter(name);
    for (;;) {
      if (!(await this.#guard(() => step(writer)))) return;
    }
  }

  /** Runs `action`; false (and the error reported unless expected) if it threw. */
  async #guard(action: () => Promise<void>): Promise<boolean> {
    try {
      await action();
      return true;
    } catch (error) {
      if (!this.#failuresExpected) this.#onUnexpectedError(error);
      return false;
    }
  }

  async #commit(writer: Writer, writes: WriteDescription[]): Promise<void> {
    const writeId = writeIdFor(this.#cycle, writer.name, writer.sequence++);
    await this.#announcer.announce({ writeId, writes });
    const result = await this.#submit(writeId, writes);
    this.#announcer.acknowledge({ writeId, version: result.version });
  }

  #submit(writeId: string, writes: readonly WriteDescription[]): Promise<CommitResult> {
    const only = writes.length === 1 ? writes[0]! : undefined;
    if (only?.kind === 'delete') return this.#store.delete(only.key);
    if (only !== undefined) return this.#store.put(only.key, valueOf(writeId, only));
    return this.#store.batch(writes.map((write): BatchOperation => (
      write.kind === 'delete' ? { type: 'del', key: write.key } : { type: 'put', key: write.key, value: valueOf(writeId, write) }
    )));
  }

  // -- data writers ---------------------------------------------------------

  async #dataStep(writer: Writer, writerIndex: number): Promise<void> {
    const random = writer.random;
    const single = random.chance(SINGLE_WRITE_PROBABILITY);
    const count = single ? 1 : random.nextIntInclusive(BATCH_WRITES_MIN, BATCH_WRITES_MAX);
    const deleteProbability = single ? DELETE_PROBABILITY_SINGLE : DELETE_PROBABILITY_IN_BATCH;
    const writes = random.distinctIndexes(count, KEYS_PER_DATA_WRITER).map((index): WriteDescription => {
      const key = dataKey(writerIndex, index);
      return random.chance(deleteProbability) ? { kind: 'delete', key } : { kind: 'data', key, payloadBytes: payloadBytes(random) };
    });
    await this.#commit(writer, writes);
  }

  // -- bank -------------------------------------------------------------------

  /** Creates every account in one batch if none exists; refuses a half-created bank. */
  async #ensureBank(writer: Writer): Promise<void> {
    const balances = await Promise.all(Array.from({ length: ACCOUNT_COUNT }, (_, index) => this.#store.get(accountKey(index))));
    const present = balances.filter((value) => value !== undefined).length;
    if (present === ACCOUNT_COUNT) return;
    if (present > 0) throw new Error(`the bank is half created: ${present} of ${ACCOUNT_COUNT} accounts exist`);
    const writes = Array.from({ length: ACCOUNT_COUNT }, (_, index): WriteDescription => (
      { kind: 'account', key: accountKey(index), balance: ACCOUNT_BALANCE_INITIAL }
    ));
    await this.#commit(writer, writes);
  }

  async #transfer(writer: Writer): Promise<void> {
    const random = writer.random;
    const [first, second] = random.distinctIndexes(2, ACCOUNT_COUNT) as [number, number];
    const release = await this.#lockAccounts(first, second);
    try {
      const from = await this.#balance(first);
      const to = await this.#balance(second);
      if (from === 0) return;
      const amount = random.nextIntInclusive(1, from);
      await this.#commit(writer, [
        { kind: 'account', key: accountKey(first), balance: from - amount },
        { kind: 'account', key: accountKey(second), balance: to + amount },
      ]);
    } finally {
      release();
    }
  }

  /** Takes both account locks, lower index first, so transfers cannot deadlock. */
  async #lockAccounts(first: number, second: number): Promise<() => void> {
    const [lower, higher] = first < second ? [first, second] : [second, first];
    const releaseLower = await this.#accountLocks[lower]!.acquire();
    const releaseHigher = await this.#accountLocks[higher]!.acquire();
    return () => {
      releaseHigher();
      releaseLower();
    };
  }

  async #balance(account: number): Promise<number> {
    const value = await this.#store.get(accountKey(account));
    const balance = (value as { balance?: unknown } | undefined)?.balance;
    if (typeof balance !== 'number') throw new Error(`account ${accountKey(account)} holds no balance: ${JSON.stringify(value)}`);
    return balance;
  }
}

/**
 * Mostly values within a sector, some of a few sectors, a few of many sectors
 * (about 400 bytes on average: long runs grow the WAL, which has no checkpoints yet).
 */
function payloadBytes(random: SeededRandom): number {
  const draw = random.nextFloat();
  if (draw < 0.9) return random.nextIntInclusive(0, 256);
  if (draw < 0.995) return random.nextIntInclusive(257, 4096);
  return random.nextIntInclusive(4097, 32 * 1024);
}
