/**
 * The directory lock across real processes (src/store/directory-lock.ts), with
 * contender children from src/harness/lock-contender.ts:
 * (a) a store held by a child is refused to the parent, naming the child's pid;
 * (b) a lock left stale by a SIGKILLed holder is raced for by six children
 *     released at once: exactly one wins, every other is refused naming the winner;
 *     repeated over rounds that end in a kill (stale again) or a clean close;
 * (c) afterwards the store opens again, with what every round's winner wrote.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, StoreLockedError } from '../src/index.js';
import { harnessEntryPath } from '../src/harness/harness-entry.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { killAllContenders, LockContender } from './support/lock-contender-process.js';

const CONTENDERS = 6;
const ROUNDS = 4;

let contenderPath = '';

beforeAll(async () => {
  contenderPath = await harnessEntryPath('lock-contender');
}, 180_000);

afterEach(async () => {
  await killAllContenders();
  removeTemporaryDirectories();
});

function startContender(directory: string): Promise<LockContender> {
  return LockContender.start(contenderPath, directory);
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
async function race(directory: string, writeKey: string): Promise<LockContender> {
  const contenders = await Promise.all(Array.from({ length: CONTENDERS }, () => startContender(directory)));
  const reports = await Promise.all(contenders.map((contender) => contender.open(writeKey)));
  const winners = reports.filter((report) => report.type === 'opened');
  expect(reports.filter((report) => report.type === 'failed')).toEqual([]);
  expect(winners).toHaveLength(1);
  const winner = contenders.find((contender) => contender.pid === winners[0]!.pid)!;
  const losers = reports.filter((report) => report.type !== 'opened');
  expect(losers).toEqual(losers.map((report) => ({ type: 'locked', pid: report.pid, holderPid: winner.pid, liveReason: `pid ${winner.pid} is alive on this host` })));
  await Promise.all(contenders.filter((contender) => contender !== winner).map((contender) => contender.exited()));
  return winner;
}

describe('directory lock across processes', () => {
  it('(a) a store open in a child is refused to the parent, naming the child', async () => {
    const directory = temporaryDirectory();
    const holder = await startContender(directory);
    expect(await holder.open()).toMatchObject({ type: 'opened', pid: holder.pid });
    await expectLockedBy(directory, holder.pid);
    await holder.release();
    const store = await openStore(directory);
    await store.close();
  });

  it('(b, c) six children racing for a stale lock: exactly one wins, every round; then the store opens again', async () => {
    const directory = temporaryDirectory();
    const first = await startContender(directory);
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
