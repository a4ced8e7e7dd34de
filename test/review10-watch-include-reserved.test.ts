/**
 * Review 10 (a new user's watch options): `includeReserved` of another type than boolean
 * ('yes', 1) was taken as false and the feed went on without the lease records asked
 * for; the README says an option of the wrong type is refused, never ignored. It is now
 * InvalidOptionError at the call, and true and false work as before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { InvalidOptionError, openStore, type Store } from '../src/index.js';

const open: Store[] = [];

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

describe('review10: watch includeReserved takes a boolean only', () => {
  it('refuses another type at the call; true shows lease records, false hides them', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(10) });
    open.push(store);
    await store.leases.acquire('job', { owner: 'me', ttlMs: 60_000 });
    await store.put('k', 1);
    for (const includeReserved of ['yes', 1, null]) {
      expect(() => store.watch({ sinceVersion: 0, includeReserved: includeReserved as never })).toThrow(InvalidOptionError);
    }
    const keysOf = async (includeReserved: boolean): Promise<string[]> => {
      const keys: string[] = [];
      for await (const change of store.watch({ sinceVersion: 0, untilVersion: store.version, includeReserved })) keys.push(change.key as string);
      return keys;
    };
    expect(await keysOf(false)).toEqual(['k']);
    expect((await keysOf(true)).some((key) => key.startsWith('\u0000ladybug/lease/'))).toBe(true);
  });
});
