/**
 * The global lock order (LOCK_ORDER.md) and OrderedMutex: violations are caught in
 * debug mode, the mutex is FIFO and exclusive, and the debug-off path costs nothing.
 */
import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AssertionFailedError, ErrorCode, LockOrderViolation, type LockViolationKind } from '../src/errors.js';
import { COMMIT_LOCK, LOCK_TABLE, type LockName } from '../src/lock/lock-table.js';
import { currentHeldLockNames } from '../src/lock/held-locks.js';
import { OrderedMutex } from '../src/lock/ordered-mutex.js';
import { debugEnabled, setDebugForTesting } from '../src/util/debug.js';

const THIS_FILE = 'lock-order.test.ts';

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

/** A promise plus its resolver, to hold a critical section open. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

async function violationOf(action: () => unknown): Promise<LockOrderViolation> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(LockOrderViolation);
    return error as LockOrderViolation;
  }
  throw new Error('expected a LockOrderViolation');
}

function expectKind(violation: LockOrderViolation, kind: LockViolationKind): void {
  expect(violation.kind).toBe(kind);
  expect(violation.code).toBe(ErrorCode.LockOrder);
}

describe('debug mode: order checks', () => {
  it('runs with debug mode on', () => {
    expect(debugEnabled()).toBe(true);
  });

  it('reports a lower rank taken under a higher one, naming both locks and the site', async () => {
    const commit = new OrderedMutex('commit');
    const walWriter = new OrderedMutex('wal.writer');
    const violation = await violationOf(() => walWriter.runExclusive(() => commit.runExclusive(() => 1)));
    expectKind(violation, 'order');
    expect(violation.message).toContain("'commit' (rank 30)");
    expect(violation.message).toContain("'wal.writer' (rank 40)");
    expect(violation.message).toContain(THIS_FILE);
    expect(walWriter.isLocked()).toBe(false);
    expect(commit.isLocked()).toBe(false);
  });

  it('lease.operations ranks below commit: held across a transaction it nests, taken under commit it is refused', async () => {
    const leaseOperations = new OrderedMutex('lease.operations');
    const commit = new OrderedMutex('commit');
    expect(leaseOperations.rank).toBeLessThan(COMMIT_LOCK.rank);
    expect(await leaseOperations.runExclusive(() => commit.runExclusive(() => currentHeldLockNames()))).toEqual(['lease.operations', 'commit']);
    const violation = await violationOf(() => commit.runExclusive(() => leaseOperations.runExclusive(() => 1)));
    expectKind(violation, 'order');
    expect(violation.message).toContain("'lease.operations' (rank 12)");
  });

  it('reports a violation from runExclusiveSync synchronously', async () => {
    const lifecycle = new OrderedMutex('store.lifecycle');
    const commit = new OrderedMutex('commit');
    await commit.runExclusive(() => {
      expect(() => lifecycle.runExclusiveSync(() => 1)).toThrow(LockOrderViolation);
    });
    expect(lifecycle.isLocked()).toBe(false);
  });

  it('allows ascending nesting and reports the held list in order', async () => {
    const lifecycle = new OrderedMutex('store.lifecycle');
    const commit = new OrderedMutex('commit');
    const walWriter = new OrderedMutex('wal.writer');
    const names = await lifecycle.runExclusive(() =>
      commit.runExclusive(async () => {
        await tick();
        const inner = walWriter.runExclusiveSync(() => currentHeldLockNames());
        return inner.ran ? inner.value : [];
      }),
    );
    expect(names).toEqual(['store.lifecycle', 'commit', 'wal.writer']);
    expect(currentHeldLockNames()).toEqual([]);
  });

  it('counts equal rank as a violation (two handles, same lock name)', async () => {
    const commitOfStoreA = new OrderedMutex('commit');
    const commitOfStoreB = new OrderedMutex('commit');
    const violation = await violationOf(() => commitOfStoreA.runExclusive(() => commitOfStoreB.runExclusive(() => 1)));
    expectKind(violation, 'order');
    expect(violation.message).toContain("'commit' (rank 30)");
  });

  it('reports reentrant acquisition instead of deadlocking', async () => {
    const commit = new OrderedMutex('commit');
    const viaAsync = await violationOf(() => commit.runExclusive(() => commit.runExclusive(() => 1)));
    expectKind(viaAsync, 'reentrant');
    const viaSync = await violationOf(() => commit.runExclusive(() => commit.runExclusiveSync(() => 1)));
    expectKind(viaSync, 'reentrant');
    const viaLease = await violationOf(() => commit.runExclusive(() => commit.acquire()));
    expectKind(viaLease, 'reentrant');
    expect(viaAsync.message).toContain(THIS_FILE);
    expect(commit.isLocked()).toBe(false);
  });

  it('tracks held locks per async call chain', async () => {
    const lifecycle = new OrderedMutex('store.lifecycle');
    const walWriter = new OrderedMutex('wal.writer');
    const bothInside = gate();
    let inside = 0;
    const meet = async (): Promise<void> => {
      inside += 1;
      if (inside === 2) bothInside.open();
      await bothInside.opened;
    };
    const chainA = walWriter.runExclusive(async () => {
      await meet();
      return currentHeldLockNames();
    });
    const chainB = (async () => {
      await tick();
      // chain A holds wal.writer (40) right now; chain B holds nothing, so rank 10 is fine.
      return lifecycle.runExclusive(async () => {
        await meet();
        return currentHeldLockNames();
      });
    })();
    expect(await Promise.all([chainA, chainB])).toEqual([['wal.writer'], ['store.lifecycle']]);
  });

  it('assertHeld throws AssertionFailedError outside the lock and passes inside', async () => {
    const commit = new OrderedMutex('commit');
    expect(() => commit.assertHeld()).toThrow(AssertionFailedError);
    await commit.runExclusive(async () => {
      await tick();
      commit.assertHeld();
    });
    commit.runExclusiveSync(() => commit.assertHeld());
    const lease = await commit.acquire();
    commit.assertHeld();
    lease.release();
    expect(() => commit.assertHeld()).toThrow(AssertionFailedError);
  });

  it('asserts that runExclusiveSync fn does not return a promise, and releases', () => {
    const commit = new OrderedMutex('commit');
    expect(() => commit.runExclusiveSync(() => Promise.resolve(1))).toThrow(AssertionFailedError);
    expect(commit.isLocked()).toBe(false);
  });

  it('refuses names that are not in the table', () => {
    expect(() => new OrderedMutex('no.such.lock' as LockName)).toThrow(AssertionFailedError);
    expect(new OrderedMutex('commit').rank).toBe(COMMIT_LOCK.rank);
  });
});

describe('debug mode: leases', () => {
  it('reports a second release', async () => {
    const commit = new OrderedMutex('commit');
    const lease = await commit.acquire();
    lease.release();
    expectKind(await violationOf(() => lease.release()), 'release-by-non-holder');
    expect(commit.isLocked()).toBe(false);
  });

  it('reports a release from a chain that is not the holder, and keeps the lock held', async () => {
    const lifecycle = new OrderedMutex('store.lifecycle');
    const commit = new OrderedMutex('commit');
    const handedOver = gate();
    const finish = gate();
    let lease: { release(): void } | undefined;
    const holder = lifecycle.runExclusive(async () => {
      lease = await commit.acquire();
      handedOver.open();
      await finish.opened;
      lease.release();
    });
    await handedOver.opened;
    const violation = await violationOf(() => lease?.release());
    expectKind(violation, 'release-by-non-holder');
    expect(violation.message).toContain("'commit' (rank 30)");
    expect(violation.message).toContain(THIS_FILE);
    expect(commit.isLocked()).toBe(true);
    finish.open();
    await holder;
    expect(commit.isLocked()).toBe(false);
  });

  it('checks the order at acquire() against the locks the caller holds', async () => {
    const commit = new OrderedMutex('commit');
    const walWriter = new OrderedMutex('wal.writer');
    const violation = await violationOf(() => walWriter.runExclusive(() => commit.acquire()));
    expectKind(violation, 'order');
    expect(commit.isLocked()).toBe(false);
  });

  it('cannot mark the lock held in the caller continuation (documented limitation)', async () => {
    const commit = new OrderedMutex('commit');
    const lease = await commit.acquire();
    expect(currentHeldLockNames()).toEqual([]);
    lease.release();
  });
});

describe('mutual exclusion', () => {
  it('runs queued callers one at a time, in FIFO order, across awaits', async () => {
    const commit = new OrderedMutex('commit');
    let counter = 0;
    let insideCount = 0;
    const order: number[] = [];
    const callers = Array.from({ length: 20 }, (_, index) =>
      commit.runExclusive(async () => {
        insideCount += 1;
        expect(insideCount).toBe(1);
        const seen = counter;
        await tick();
        counter = seen + 1;
        order.push(index);
        insideCount -= 1;
      }),
    );
    await Promise.all(callers);
    expect(counter).toBe(20);
    expect(order).toEqual(Array.from({ length: 20 }, (_, index) => index));
    const stats = commit.stats();
    expect(stats.acquisitions).toBe(20);
    expect(stats.contended).toBe(19);
    expect(stats.waitMsTotal).toBeGreaterThan(0);
  });

  it('runExclusiveSync runs at once when free and falls back when held', async () => {
    const commit = new OrderedMutex('commit');
    expect(commit.runExclusiveSync(() => 'now')).toEqual({ ran: true, value: 'now' });
    const release = gate();
    const holder = commit.runExclusive(() => release.opened);
    const fn = vi.fn(() => 'never');
    expect(commit.runExclusiveSync(fn)).toEqual({ ran: false });
    expect(fn).not.toHaveBeenCalled();
    release.open();
    await holder;
    expect(commit.runExclusiveSync(fn)).toEqual({ ran: true, value: 'never' });
  });

  it('runExclusiveSync does not barge ahead of a queued waiter', async () => {
    const commit = new OrderedMutex('commit');
    const release = gate();
    const holder = commit.runExclusive(() => release.opened);
    const waiter = commit.runExclusive(() => 'waiter');
    release.open();
    await holder;
    expect(commit.runExclusiveSync(() => 'barged')).toEqual({ ran: false });
    expect(await waiter).toBe('waiter');
  });

  it('releases the lock when fn throws or rejects', async () => {
    const commit = new OrderedMutex('commit');
    await expect(
      commit.runExclusive(() => {
        throw new Error('sync boom');
      }),
    ).rejects.toThrow('sync boom');
    await expect(commit.runExclusive(() => Promise.reject(new Error('async boom')))).rejects.toThrow('async boom');
    expect(() =>
      commit.runExclusiveSync(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(commit.isLocked()).toBe(false);
    expect(await commit.runExclusive(() => 'after')).toBe('after');
  });
});

describe('debug mode off', () => {
  afterEach(() => setDebugForTesting(true));

  it('does not check the order and does not use AsyncLocalStorage', async () => {
    setDebugForTesting(false);
    const run = vi.spyOn(AsyncLocalStorage.prototype, 'run');
    const commit = new OrderedMutex('commit');
    const walWriter = new OrderedMutex('wal.writer');
    const value = await walWriter.runExclusive(() => commit.runExclusive(() => currentHeldLockNames()));
    expect(value).toEqual([]);
    expect(commit.runExclusiveSync(() => 2)).toEqual({ ran: true, value: 2 });
    commit.assertHeld();
    expect(run).not.toHaveBeenCalled();
    run.mockRestore();
  });

  it('runExclusiveSync on a free lock creates no promise', () => {
    setDebugForTesting(false);
    const commit = new OrderedMutex('commit');
    let promisesCreated = 0;
    const hook = createHook({
      init(_asyncId, type) {
        if (type === 'PROMISE') promisesCreated += 1;
      },
    });
    hook.enable();
    const result = commit.runExclusiveSync(() => 3);
    hook.disable();
    expect(result).toEqual({ ran: true, value: 3 });
    expect(promisesCreated).toBe(0);
  });

  it('still excludes, queues FIFO and releases leases idempotently', async () => {
    setDebugForTesting(false);
    const commit = new OrderedMutex('commit');
    const lease = await commit.acquire();
    expect(commit.runExclusiveSync(() => 1)).toEqual({ ran: false });
    const order: string[] = [];
    const first = commit.runExclusive(() => order.push('first'));
    const second = commit.runExclusive(() => order.push('second'));
    lease.release();
    lease.release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
    expect(commit.stats().contended).toBe(2);
  });
});

describe('tidy: LOCK_ORDER.md mirrors src/lock/lock-table.ts', () => {
  interface DocumentedLock {
    name: string;
    rank: number;
    guards: string;
    takenBy: string;
    status: string;
    seedRaces: number[];
  }

  function parseRow(line: string): DocumentedLock {
    const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
    expect(cells).toHaveLength(6);
    const [name = '', rank = '', guards = '', takenBy = '', status = '', races = ''] = cells;
    const seedRaces = races === '—' ? [] : races.split(',').map((race) => Number(race.trim()));
    return { name: name.replaceAll('`', ''), rank: Number(rank), guards, takenBy, status, seedRaces };
  }

  function documentedLocks(): DocumentedLock[] {
    const text = readFileSync(new URL('../LOCK_ORDER.md', import.meta.url), 'utf8');
    const lines = text.split('\n');
    const header = lines.findIndex((line) => line.startsWith('| name | rank |'));
    expect(header).toBeGreaterThanOrEqual(0);
    const rows: DocumentedLock[] = [];
    for (const line of lines.slice(header + 2)) {
      if (!line.startsWith('|')) break;
      rows.push(parseRow(line));
    }
    return rows;
  }

  it('has the same locks, ranks, texts, status and seed races', () => {
    const expected = LOCK_TABLE.map((entry) => ({
      name: entry.name,
      rank: entry.rank,
      guards: entry.guards,
      takenBy: entry.takenBy,
      status: entry.reserved ? 'reserved' : entry.protection === 'mutex' ? 'implemented' : `implemented, ${entry.protection} (no mutex)`,
      seedRaces: [...entry.seedRaces],
    }));
    expect(documentedLocks()).toEqual(expected);
  });

  it('names the components that exist, not the first plan', () => {
    const names = LOCK_TABLE.map((entry) => entry.name as string);
    for (const retired of ['transactions.active', 'index', 'tier.hot', 'tier.warm', 'tier.cold', 'writeBuffer', 'dependencyGraph', 'lru']) {
      expect(names).not.toContain(retired);
    }
    // Every component is built: each seed race is ruled out by an implemented row, and no rank is held for a later issue.
    const implementedRaces = LOCK_TABLE.filter((entry) => !entry.reserved).flatMap((entry) => entry.seedRaces);
    expect([...implementedRaces].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(LOCK_TABLE.filter((entry) => entry.reserved).map((entry) => entry.name)).toEqual([]);
  });

  it('says in the taken-by text when a row is protected without a mutex', () => {
    for (const entry of LOCK_TABLE.filter((row) => row.protection !== 'mutex')) {
      expect(entry.takenBy).toContain('no mutex');
    }
  });

  it('covers every seed race exactly once or not at all', () => {
    const races = LOCK_TABLE.flatMap((entry) => entry.seedRaces);
    expect(new Set(races).size).toBe(races.length);
  });
});
