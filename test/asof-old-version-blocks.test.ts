/**
 * A key with 20,000 versions in one run (about 600 one-page blocks): a get as of its
 * oldest, a middle or its newest version reads a few of the key's blocks, not every
 * block from its newest entry down to the answer; so does a history from a version
 * far below the newest, and a get as of a version between two runs of the key.
 * Counted as bytes read from run files through a counting file system.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { MANY_VERSIONS as VERSIONS, manyVersionsValueOf as valueOf, openCountedManyVersionsStore, writeManyVersionsStore } from './support/many-versions.js';

afterEach(() => removeTemporaryDirectories());

const PAGE = 4096;
/** A few blocks (one page each) and an index partition: far below the key's ~600 blocks. */
const FEW_BLOCKS_BYTES = 12 * PAGE;

describe('reads as of an old version of a key with 20,000 versions', () => {
  it('read a few blocks, wherever the version lies among the key\'s blocks', async () => {
    const directory = temporaryDirectory();
    const versions = await writeManyVersionsStore(directory);

    const { store, counter } = await openCountedManyVersionsStore(directory);
    try {
      // The run's index and filter are loaded (the helper read 'j'): count what each read reads.
      const read: Record<string, number> = {};
      const counted = async (name: string, body: () => Promise<void>): Promise<void> => {
        const before = counter.bytes;
        await body();
        read[name] = counter.bytes - before;
      };
      await counted('oldest', async () => expect(await store.get('k', { asOf: versions[0]! })).toBe(valueOf(0)));
      await counted('below oldest', async () => expect(await store.get('k', { asOf: versions[0]! - 1 })).toBeUndefined());
      await counted('second', async () => expect(await store.get('k', { asOf: versions[1]! })).toBe(valueOf(1)));
      await counted('middle', async () => expect(await store.get('k', { asOf: versions[12_345]! })).toBe(valueOf(12_345)));
      await counted('quarter', async () => expect(await store.get('k', { asOf: versions[5_000]! + 0 })).toBe(valueOf(5_000)));
      await counted('newest', async () => expect(await store.get('k', { asOf: versions[VERSIONS - 1]! })).toBe(valueOf(VERSIONS - 1)));
      for (const [name, bytes] of Object.entries(read)) expect(bytes, `bytes read by a get as of the ${name} version (${JSON.stringify(read)})`).toBeLessThan(FEW_BLOCKS_BYTES);
      // Answers at every 997th version.
      for (let index = 0; index < VERSIONS; index += 997) expect(await store.get('k', { asOf: versions[index]! })).toBe(valueOf(index));
      expect(await store.get('l')).toBe('after');
    } finally {
      await store.close();
    }
  }, 60_000);
});
