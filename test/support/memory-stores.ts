/**
 * Stores on the in-memory fault file system for tests that only need a store to call:
 * `const memoryStore = useMemoryStores();` at the top of a test file registers an
 * afterEach that closes every store it opened in that test.
 */
import { afterEach } from 'vitest';
import { FaultFileSystem } from '../../src/fs/fault-file-system.js';
import { openStore, type Store, type StoreOptions } from '../../src/index.js';

export function useMemoryStores(seed = 10): (options?: Partial<StoreOptions>) => Promise<Store> {
  const open: Store[] = [];
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
  });
  return async (options = {}) => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(seed), ...options });
    open.push(store);
    return store;
  };
}
