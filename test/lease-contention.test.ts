/**
 * Contention and restarts: 50 contenders with random pauses longer than the TTL
 * never produce two accepted fenced writes out of token order (fenced inside a
 * transaction, and through the fence option of put). The pauses move the monotonic
 * clock (performance.now) past the TTL instead of sleeping past a 15 ms one: on a
 * loaded machine an acquire's commit alone took longer than 15 ms, every lease had
 * ended before its write and none was accepted, and so few leases were taken in the
 * contenders' short waits that none paused (the seeded pauses began at the eighth):
 * nothing refused either. Now the seeded pauses begin with the first acquisition and
 * the second does not pause, so both outcomes occur in any run. (races-leases-history
 * races real expiry timers against writes, asserting nothing on time.) A crash during
 * acquire, renew or release (FaultFileSystem crash) followed by a reopen expires
 * every earlier lease (the restart rule), deletes its bound keys, and tokens keep
 * increasing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaseBusyError, LeaseLostError, openStore, ConflictError, type Store } from '../src/index.js';
import { TRANSACTION_LIFETIME_MS_MAX } from '../src/limits.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

/** performance.now() runs `offsetMs` ahead of the real clock; a pausing holder moves it. */
let offsetMs = 0;
function movableClock(): void {
  offsetMs = 0;
  const real = performance.now.bind(performance);
  vi.spyOn(performance, 'now').mockImplementation(() => real() + offsetMs);
}

describe('lease contention', () => {
  it.each(['tx.requireLease', 'the put fence option'])('50 contenders pausing past the TTL, fenced by %s: each accepted write has a token above the last accepted', async (mode) => {
    // Transactions in flight across the pauses' clock moves (a minute of clock each) must not outlive their lifetime.
    const store = await openStore(temporaryDirectory(), { segmentSizeBytes: 1024 * 1024, transactionLifetimeMs: TRANSACTION_LIFETIME_MS_MAX });
    movableClock();
    const ttlMs = 30_000; // far longer than an acquire and a write take, however loaded the machine
    let random = 2; // the first acquisition pauses, the second does not: a refused and an accepted write in any run
    const next = () => (random = (random * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let accepted = 0;
    let refused = 0;
    const contender = async (id: number): Promise<void> => {
      for (let round = 0; round < 4; round++) {
        let lease;
        try {
          lease = await store.leases.acquire('shared', { owner: `c${id}`, ttlMs, waitMs: 50 });
        } catch (error) {
          if (error instanceof LeaseBusyError) continue;
          throw error;
        }
        if (next() < 0.5) offsetMs += ttlMs * 2; // a pause longer than the TTL, half the time
        await sleep(0);
        try {
          if (mode === 'tx.requireLease') {
            await store.transaction(async (tx) => {
              await tx.requireLease('shared', lease.token);
              const last = (await tx.get('fenced')) as number | undefined;
              expect(last === undefined || lease.token > last).toBe(true);
              tx.put('fenced', lease.token);
            });
          } else {
            await store.put('fenced', lease.token, { fence: lease }); // the order is checked on the history below
          }
          accepted++;
          await store.leases.release('shared', { owner: `c${id}`, token: lease.token }).catch((error: unknown) => {
            if (!(error instanceof LeaseLostError)) throw error;
          });
        } catch (error) {
          if (!(error instanceof LeaseLostError) && !(error instanceof ConflictError)) throw error;
          refused++;
        }
      }
    };
    await Promise.all(Array.from({ length: 50 }, (_, id) => contender(id)));
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0); // paused holders were fenced off
    const history = await store.history('fenced');
    const tokens = history.map((entry) => entry.value as number).reverse();
    for (let index = 1; index < tokens.length; index++) expect(tokens[index]!).toBeGreaterThan(tokens[index - 1]!);
    expect(tokens.length).toBe(accepted);
    await store.close();
  }, 120_000);
});

async function crashDuring(operation: 'acquire' | 'renew' | 'release', operationsBeforeCrash: number): Promise<void> {
  const fileSystem = new FaultFileSystem(7);
  const directory = '/store';
  const store: Store = await openStore(directory, { fileSystem, segmentSizeBytes: 64 * 1024 });
  const first = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
  await store.put('session/a', 'alive', { lease: first });
  const other = await store.leases.acquire('other', { owner: 'b', ttlMs: 60_000 });
  fileSystem.crashAfterOperations(operationsBeforeCrash);
  const attempt = operation === 'acquire'
    ? store.leases.acquire('third', { owner: 'c', ttlMs: 60_000 })
    : operation === 'renew'
      ? store.leases.renew('job', { owner: 'a', token: first.token })
      : store.leases.release('job', { owner: 'a', token: first.token });
  await attempt.catch(() => undefined);
  store[abandonStore]();
  const reopened = await openStore(directory, { fileSystem: fileSystem.crash('drop-unsynced'), segmentSizeBytes: 64 * 1024 });
  try {
    expect(await reopened.leases.list()).toEqual([]); // every lease of the crashed open expired
    expect(await reopened.get('session/a')).toBeUndefined();
    const again = await reopened.leases.acquire('job', { owner: 'z', ttlMs: 1000 });
    expect(again.token).toBeGreaterThan(Math.max(first.token, other.token));
    expect(reopened.leases.stats().expiries).toBeGreaterThanOrEqual(1); // 'other' at least; 'job' unless its release was durable
  } finally {
    await reopened.close();
  }
}

describe('leases across a crash', () => {
  for (const operation of ['acquire', 'renew', 'release'] as const) {
    it(`crash at each step of ${operation}, reopen: earlier leases expired, bound keys gone, tokens increase`, async () => {
      for (const operationsBeforeCrash of [0, 1, 2, 3, 5, 8]) await crashDuring(operation, operationsBeforeCrash);
    });
  }
});
