/**
 * Fenced writes and lease-bound keys through the write API (issue 10):
 * tx.requireLease(name, token), and the `fence` and `lease` options of put, delete
 * and batch. Each interleaving test loses the lease in the window between the
 * writer's check and its commit (inside the transaction body, or through the
 * lease module's afterLeaseCheck failpoint) and checks that the commit is refused
 * with LeaseLostError and that nothing it wrote is stored.
 *
 * The expiry cases move the monotonic clock (performance.now) past the deadline
 * instead of sleeping: the expiry timer has then not run, so only the check under
 * the commit lock can refuse the write.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, InvalidOptionError, LeaseLostError, openStore, type Store, type StoreOptions, TransactionLimitError } from '../src/index.js';
import { TRANSACTION_FENCES_MAX } from '../src/limits.js';
import { afterLeaseCheck } from '../src/lease/lease-manager.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

const authorization = 'ops-secret';
const TTL_MS = 10_000;

async function withStore(body: (store: Store) => Promise<void>, options: StoreOptions = {}): Promise<void> {
  const store = await openStore(temporaryDirectory(), {
    segmentSizeBytes: 64 * 1024, authorize: (_name, given) => given === authorization, ...options,
  });
  try {
    await body(store);
  } finally {
    store.leases[afterLeaseCheck] = undefined;
    await store.close();
  }
}

/** Moves performance.now() `offsetMs` ahead from now on (real timers are not touched). */
function jumpMonotonicClock(offsetMs: number): void {
  const real = performance.now.bind(performance);
  vi.spyOn(performance, 'now').mockImplementation(() => real() + offsetMs);
}

async function forceRelease(store: Store, name: string): Promise<void> {
  expect(await store.leases.forceRelease(name, { authorization, reason: 'test', actor: 'ops' })).toEqual({ released: true });
}

async function lostError(write: Promise<unknown>): Promise<LeaseLostError> {
  const error = await write.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(LeaseLostError);
  expect((error as LeaseLostError).code).toBe(ErrorCode.LeaseLost);
  return error as LeaseLostError;
}

describe('tx.requireLease: the lease lost between the check and the commit', () => {
  it('force release in the window: LeaseLostError, nothing stored', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      const versionBefore = store.version;
      await lostError(store.transaction(async (tx) => {
        await tx.requireLease('job', lease.token);
        tx.put('report', 'from a');
        if (store.leases.stats().forceReleases === 0) await forceRelease(store, 'job');
      }));
      expect(await store.get('report')).toBeUndefined();
      expect((await store.history('report')).length).toBe(0);
      expect(store.version).toBe(versionBefore + 1); // the force release's commit only
    });
  });

  it('released and acquired by another owner in the window: LeaseLostError, the new holder is unaffected', async () => {
    await withStore(async (store) => {
      const first = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      let second: { token: number } | undefined;
      await lostError(store.transaction(async (tx) => {
        await tx.requireLease('job', first.token);
        tx.put('report', 'from a');
        if (second === undefined) {
          await store.leases.release('job', { owner: 'a', token: first.token });
          second = await store.leases.acquire('job', { owner: 'b', ttlMs: TTL_MS });
        }
      }));
      expect(await store.get('report')).toBeUndefined();
      await store.transaction(async (tx) => {
        await tx.requireLease('job', second!.token);
        tx.put('report', 'from b');
      });
      expect(await store.get('report')).toBe('from b');
    });
  });

  it('expired in the window (deadline passed, expiry timer not yet run): refused under the commit lock', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      const error = await lostError(store.transaction(async (tx) => {
        await tx.requireLease('job', lease.token);
        tx.put('report', 'late');
        jumpMonotonicClock(2 * TTL_MS); // a pause longer than the TTL, after the check
      }, { retries: 0 }));
      expect(error.message).toContain('lost before the commit');
      vi.restoreAllMocks();
      expect(await store.get('report')).toBeUndefined();
    });
  });

  it('snapshot isolation fences too: the lease record joins the read set', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      await lostError(store.transaction(async (tx) => {
        await tx.requireLease('job', lease.token);
        tx.put('report', 'x');
        if (store.leases.stats().forceReleases === 0) await forceRelease(store, 'job');
      }, { isolation: 'snapshot' }));
      expect(await store.get('report')).toBeUndefined();
    });
  });

  it('a renewal in the window is not a loss: the transaction re-runs and commits', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      let attempts = 0;
      await store.transaction(async (tx) => {
        attempts++;
        await tx.requireLease('job', lease.token);
        tx.put('report', attempts);
        if (attempts === 1) await store.leases.renew('job', { owner: 'a', token: lease.token });
      });
      expect(attempts).toBe(2);
      expect(await store.get('report')).toBe(2);
    });
  });
});

describe('the fence option of put, delete and batch', () => {
  it('a fenced put while held commits and answers its version', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      const { version } = await store.put('report', 1, { fence: lease });
      expect(version).toBe(store.version);
      expect(await store.get('report')).toBe(1);
      await store.delete('report', { fence: { name: 'job', token: lease.token } });
      expect(await store.get('report')).toBeUndefined();
    });
  });

  it('force release between the check and the commit: put, delete and batch are refused, nothing changes', async () => {
    await withStore(async (store) => {
      await store.put('kept', 'before');
      const writes: Array<(fence: { name: string; token: number }) => Promise<unknown>> = [
        (fence) => store.put('report', 'x', { fence }),
        (fence) => store.delete('kept', { fence }),
        (fence) => store.batch([{ type: 'put', key: 'report', value: 'y' }, { type: 'del', key: 'kept' }], { fence }),
      ];
      for (const write of writes) {
        const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
        store.leases[afterLeaseCheck] = async () => {
          store.leases[afterLeaseCheck] = undefined;
          await forceRelease(store, 'job');
        };
        await lostError(write(lease));
        expect(await store.get('report')).toBeUndefined();
        expect(await store.get('kept')).toBe('before');
      }
    });
  });

  it('released and re-acquired by another owner between the check and the commit: refused', async () => {
    await withStore(async (store) => {
      const first = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      store.leases[afterLeaseCheck] = async () => {
        store.leases[afterLeaseCheck] = undefined;
        await store.leases.release('job', { owner: 'a', token: first.token });
        await store.leases.acquire('job', { owner: 'b', ttlMs: TTL_MS });
      };
      await lostError(store.put('report', 'from a', { fence: first }));
      expect(await store.get('report')).toBeUndefined();
      expect((await store.leases.get('job'))?.owner).toBe('b');
    });
  });

  it('expired between the check and the commit: refused under the commit lock', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      store.leases[afterLeaseCheck] = async () => jumpMonotonicClock(2 * TTL_MS);
      await lostError(store.put('report', 'late', { fence: lease }));
      vi.restoreAllMocks();
      expect(await store.get('report')).toBeUndefined();
    });
  });

  it('a token that no longer holds, or another owner, is refused before anything is read', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      await lostError(store.put('report', 1, { fence: { name: 'job', token: lease.token, owner: 'b' } }));
      await store.leases.release('job', { owner: 'a', token: lease.token });
      await lostError(store.put('report', 1, { fence: lease }));
      await lostError(store.put('report', 1, { fence: { name: 'other', token: 1 } }));
      expect(await store.get('report')).toBeUndefined();
    });
  });
});

describe('the lease option (lease-bound keys)', () => {
  it('binds every put key of a batch; the commit that ends the lease deletes them', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('session', { owner: 'a', ttlMs: TTL_MS });
      await store.batch([
        { type: 'put', key: 'presence/a', value: 1 },
        { type: 'put', key: 'presence/a/detail', value: 2 },
      ], { lease });
      await store.put('presence/a/more', 3, { lease, fence: lease });
      expect(await store.get('presence/a/detail')).toBe(2);
      await store.leases.release('session', { owner: 'a', token: lease.token });
      for (const key of ['presence/a', 'presence/a/detail', 'presence/a/more']) expect(await store.get(key)).toBeUndefined();
    });
  });

  it('expired between the check and the commit: the key is neither stored nor bound', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('session', { owner: 'a', ttlMs: TTL_MS });
      store.leases[afterLeaseCheck] = async () => jumpMonotonicClock(2 * TTL_MS);
      await lostError(store.put('presence/a', 'here', { lease }));
      vi.restoreAllMocks();
      store.leases[afterLeaseCheck] = undefined;
      expect(await store.get('presence/a')).toBeUndefined();
      const record = await store.transaction(async (tx) => tx.get('\u0000ladybug/lease/session')) as { boundKeys: string[] };
      expect(record.boundKeys).toEqual([]);
    });
  });
});

describe('write option validation', () => {
  it('refuses malformed options with InvalidOptionError naming the option, and writes nothing', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      const cases: Array<[() => Promise<unknown>, string]> = [
        [() => store.put('k', 1, 'job' as never), 'options'],
        [() => store.put('k', 1, { leases: lease } as never), 'leases'],
        [() => store.put('k', 1, { lease: 'job' } as never), 'lease'],
        [() => store.put('k', 1, { fence: { name: 'job' } } as never), 'token'],
        [() => store.put('k', 1, { fence: { name: 'job', token: 0 } }), 'token'],
        [() => store.put('k', 1, { fence: { name: 'bad name!', token: lease.token } }), 'name'],
        [() => store.put('k', 1, { fence: { ...lease, extra: 1 } } as never), 'fence.extra'],
        [() => store.put('k', 1, { fence: { ...lease, owner: '' } }), 'owner'],
        [() => store.delete('k', { lease } as never), 'lease'],
        [() => store.batch([{ type: 'put', key: 'k', value: 1 }], { fence: null } as never), 'fence'],
      ];
      for (const [write, option] of cases) {
        const error = await write().then(() => undefined, (caught: unknown) => caught);
        expect(error, option).toBeInstanceOf(InvalidOptionError);
        expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
        expect((error as InvalidOptionError).option, option).toBe(option);
      }
      expect(await store.get('k')).toBeUndefined();
      await store.put('k', 1, {}); // no lease options: the plain path
      expect(await store.get('k')).toBe(1);
    });
  });
});

describe('tx.requireLease: the fence limit', () => {
  it('calls made at once cannot pass TRANSACTION_FENCES_MAX together: the ones past it reject with TransactionLimitError', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: TTL_MS });
      const outcomes = await store.transaction(async (tx) => {
        // Every call passes the entry check before any of them has added its fence.
        const calls = Array.from({ length: TRANSACTION_FENCES_MAX + 3 }, () => tx.requireLease('job', lease.token));
        return Promise.allSettled(calls);
      });
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(TRANSACTION_FENCES_MAX);
      const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      expect(refused).toHaveLength(3);
      for (const outcome of refused) expect(outcome.reason).toBeInstanceOf(TransactionLimitError);
    });
  });
});
