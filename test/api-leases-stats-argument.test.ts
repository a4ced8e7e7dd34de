/**
 * store.leases.stats() takes no argument and ignored one: leases.stats({ reset: true })
 * returned the counters unchanged, read as reset, as store.stats({ reset: true }) did
 * before 8df4c6a. It is refused now as store.stats(x) is: InvalidOptionError 'options'
 * naming the method, thrown (stats is synchronous), the counters untouched.
 *
 * snapshot.release(x) is left as it is, on purpose: release is a cleanup, as close()
 * is, and a cleanup is often called with an argument it does not ask for
 * (.then(snapshot.release.bind(snapshot)) passes the resolved value, an abort
 * listener passes its event); refusing one would keep the pin (and every version it
 * holds from compaction) until the snapshot expires or is collected. Checked here.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

const ARGUMENTS: unknown[] = [{ reset: true }, {}, true, 3, null, 'json'];

describe('leases.stats(x) refuses an argument; snapshot.release(x) still releases', () => {
  it('leases.stats(x): throws InvalidOptionError, the counters unchanged; leases.stats() answers', async () => {
    const store = await memoryStore();
    await store.leases.acquire('jobs/a', { owner: 'me', ttlMs: 60_000 });
    const before = store.leases.stats();
    for (const argument of ARGUMENTS) {
      let thrown: unknown;
      try {
        store.leases.stats(argument as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, String(argument)).toBeInstanceOf(InvalidOptionError);
      expect(thrown).toMatchObject({ code: ErrorCode.InvalidOption, option: 'options' });
      expect((thrown as Error).message).toContain('leases.stats() takes no options');
    }
    expect(store.leases.stats()).toEqual(before);
    expect(store.leases.stats(undefined)).toEqual(before);
  });

  it('snapshot.release(x) releases the pin whatever it is passed (a cleanup, as close() is)', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    for (const argument of [{ force: true }, 'resolved value', new Event('abort')]) {
      const snapshot = await store.snapshot();
      expect(store.stats().pinnedReads).toBe(1);
      await (snapshot.release as (argument: unknown) => Promise<void>).call(snapshot, argument);
      expect(store.stats().pinnedReads).toBe(0);
    }
  });
});
