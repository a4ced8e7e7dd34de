/**
 * A key with many versions in one run: a get reads the blocks down to the version it
 * answers, not every version of the key, and history with a limit reads down to its
 * last listed version. Counted as bytes read from run files through a counting file
 * system; answers compared with the versions written.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { MANY_VERSIONS as VERSIONS, manyVersionsValueOf as valueOf, openCountedManyVersionsStore, writeManyVersionsStore } from './support/many-versions.js';

afterEach(() => removeTemporaryDirectories());


describe('a key with 20,000 versions in one run', () => {
  it('a get reads the blocks down to the version it answers; history with a limit down to its last entry', async () => {
    const directory = temporaryDirectory();
    const versions = await writeManyVersionsStore(directory);

    const { store, counter } = await openCountedManyVersionsStore(directory);
    try {
      // The run's index and filter are loaded (the helper read 'j'): count what gets of one key read.
      const before = counter.bytes;
      for (let read = 0; read < 3; read++) expect(await store.get('k')).toBe(valueOf(VERSIONS - 1));
      const newestBytes = counter.bytes - before;
      // Each get needs the key's first block (and at most an index partition): 3 reads of a few pages.
      expect(newestBytes, 'bytes read by 3 gets of the newest version').toBeLessThan(3 * 64 * 1024);

      const history = await store.history('k', { limit: 5 });
      expect(history.map((entry) => entry.value)).toEqual([1, 2, 3, 4, 5].map((back) => valueOf(VERSIONS - back)));
      const historyBytes = counter.bytes - before - newestBytes;
      expect(historyBytes, 'bytes read by history limit 5').toBeLessThan(64 * 1024);

      // As-of reads answer every version, near the newest and far below it.
      for (const index of [VERSIONS - 1, VERSIONS - 2, VERSIONS - 300, 12_345, 1, 0]) {
        expect(await store.get('k', { asOf: versions[index]! }), `asOf the ${index}th version`).toBe(valueOf(index));
      }
      expect(await store.get('k', { asOf: versions[0]! - 1 })).toBeUndefined();
      expect((await store.history('k')).length).toBe(VERSIONS);
      expect((await store.history('k', { limit: 12_345 })).at(-1)!.value).toBe(valueOf(VERSIONS - 12_345));
      expect(await store.get('l')).toBe('after');
    } finally {
      await store.close();
    }
  }, 60_000);
});
