/**
 * Second review of 3b7ea36 and 466ea29 (null is a wrong type, refused with
 * InvalidOptionError naming the option, not taken for absent by `??`): two more options
 * of that family took null for absent. store.watch({ catchUpBatchChanges: null }) caught
 * up in batches of the default size, and store.leases.list({ prefix: null }) listed every
 * live lease as if no prefix were given. Both are now refused at the call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('null options of watch and leases.list', () => {
  it('are refused with InvalidOptionError naming the option; valid ones still answer', async () => {
    const store = await openStore(temporaryDirectory());
    await store.put('a', 1);
    await store.leases.acquire('jobs/a', { owner: 'me', ttlMs: 600_000 });
    await store.leases.acquire('other/b', { owner: 'me', ttlMs: 600_000 });

    let watchError: unknown;
    try {
      store.watch({ sinceVersion: 0, catchUpBatchChanges: null } as never);
    } catch (error) {
      watchError = error;
    }
    expect(watchError).toBeInstanceOf(InvalidOptionError);
    expect((watchError as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
    expect((watchError as InvalidOptionError).option).toBe('catchUpBatchChanges');

    const listError = await store.leases.list({ prefix: null } as never).then(() => 'resolved', (error: unknown) => error);
    expect(listError).toBeInstanceOf(InvalidOptionError);
    // Named as a prefix of the wrong type is (checkName's 'name').
    const numberError = await store.leases.list({ prefix: 5 } as never).then(() => 'resolved', (error: unknown) => error);
    expect((listError as InvalidOptionError).option).toBe((numberError as InvalidOptionError).option);

    expect((await store.leases.list({ prefix: 'jobs/' })).map((lease) => lease.name)).toEqual(['jobs/a']);
    expect((await store.leases.list()).map((lease) => lease.name)).toEqual(['jobs/a', 'other/b']);
    const feed = store.watch({ sinceVersion: 0, untilVersion: 1, catchUpBatchChanges: 1 });
    const changes: unknown[] = [];
    for await (const change of feed) changes.push(change.key);
    expect(changes).toEqual(['a']);
    await store.close();
  });
});
