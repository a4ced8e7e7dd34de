/**
 * The directory lock across real processes (src/store/directory-lock.ts), with
 * contender children from src/harness/lock-contender.ts:
 * (a) a store held by a child is refused to the parent, naming the child's pid;
 * (b) a lock left stale by a SIGKILLed holder is raced for by six children
 *     released at once: exactly one wins, every other is refused naming the winner;
 *     repeated over rounds that end in a kill (stale again) or a clean close;
 * (c) afterwards the store opens again, with what every round's winner wrote.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, StoreLockedError } from '../src/index.js';
import { harnessEntryPath } from '../src/harness/harness-entry.js';
import type { ContenderCommand, ContenderReport } from '../src/harness/lock-contender.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const CONTENDERS = 6;
const ROUNDS = 4;

let contenderPath = '';
const running: Contender[] = [];

beforeAll(async () => {
  contenderPath = await harnessEntryPath('lock-contender');
}, 180_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((contender) => contender.kill()));
  removeTemporaryDirectories();
});

/** One lock-contender child: its reports arrive in order and are awaited by type. */
class Contender {
  readonly #child: ChildProcess;
  readonly #reports: ContenderReport[] = [];
  readonly #waiting: Array<() => void> = [];
  readonly #closed: Promise<void>;

  private constructor(directory: string) {
    this.#child = fork(contenderPath, [directory], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (report: ContenderReport) => {
      this.#reports.push(report);
      for (const wake of this.#waiting.splice(0)) wake();
    });
    this.#closed = new Promise((resolve) => this.#child.on('close', () => resolve()));
    running.push(this);
  }

  /** A started contender that has loaded everything and waits for `open`. */
  static async start(directory: string): Promise<Contender> {
    const contender = new Contender(directory);
    await contender.#next(['armed']);
    return contender;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** Tries to open the store once; resolves with `opened`, `locked` or `failed`. */
  open(writeKey?: string): Promise<ContenderReport> {
    this.#send(writeKey === undefined ? { type: 'open' } : { type: 'open', writeKey });
    return this.#next(['opened', 'locked', 'failed']);
  }

  /** Closes the store it holds and waits for it to exit. */
  async release(): Promise<void> {
    this.#send({ type: 'release' });
    await this.#next(['released']);
    await this.#closed;
  }

  /** SIGKILLs it (if still running) and waits for it to be gone: its lock is left stale. */
  async kill(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    await this.#closed;
  }

  exited(): Promise<void> {
    return this.#closed;
  }

  #send(command: ContenderCommand): void {
    this.#child.send(command);
  }

  async #next(types: ReadonlyArray<ContenderReport['type']>): Promise<ContenderReport> {
    for (;;) {
      const index = this.#reports.findIndex((report) => types.includes(report.type));
      if (index >= 0) return this.#reports.splice(index, 1)[0]!;
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) throw new Error(`contender ${this.pid} exited before ${types.join('|')}`);
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }
}

async function expectLockedBy(directory: string, holderPid: number): Promise<void> {
  const error: unknown = await openStore(directory).then(
    async (store) => { await store.close(); return undefined; },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(StoreLockedError);
  expect((error as StoreLockedError).holderPid).toBe(holderPid);
}

/** Six contenders released at once on `directory`; returns the winner and checks the losers. */
async function race(directory: string, writeKey: string): Promise<Contender> {
  const contenders = await Promise.all(Array.from({ length: CONTENDERS }, () => Contender.start(directory)));
  const reports = await Promise.all(contenders.map((contender) => contender.open(writeKey)));
  const winners = reports.filter((report) => report.type === 'opened');
  expect(reports.filter((report) => report.type === 'failed')).toEqual([]);
  expect(winners).toHaveLength(1);
  const winner = contenders.find((contender) => contender.pid === winners[0]!.pid)!;
  const losers = reports.filter((report) => report.type !== 'opened');
  expect(losers).toEqual(losers.map((report) => ({ type: 'locked', pid: report.pid, holderPid: winner.pid })));
  await Promise.all(contenders.filter((contender) => contender !== winner).map((contender) => contender.exited()));
  return winner;
}

describe('directory lock across processes', () => {
  it('(a) a store open in a child is refused to the parent, naming the child', async () => {
    const directory = temporaryDirectory();
    const holder = await Contender.start(directory);
    expect(await holder.open()).toMatchObject({ type: 'opened', pid: holder.pid });
    await expectLockedBy(directory, holder.pid);
    await holder.release();
    const store = await openStore(directory);
    await store.close();
  });

  it('(b, c) six children racing for a stale lock: exactly one wins, every round; then the store opens again', async () => {
    const directory = temporaryDirectory();
    const first = await Contender.start(directory);
    expect(await first.open('round-0')).toMatchObject({ type: 'opened' });
    const winnerPids = [first.pid];
    await first.kill();
    for (let round = 1; round <= ROUNDS; round++) {
      const winner = await race(directory, `round-${round}`);
      winnerPids.push(winner.pid);
      await expectLockedBy(directory, winner.pid);
      if (round % 2 === 1) await winner.kill();
      else await winner.release();
    }
    const store = await openStore(directory);
    for (const [round, pid] of winnerPids.entries()) expect(await store.get(`round-${round}`)).toBe(pid);
    await store.close();
  });
});
