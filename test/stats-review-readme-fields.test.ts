/**
 * Every figure store.stats() and store.metrics() return is named in the README: a user
 * who finds a field in the object (or in `ladybug stats`, which prints the object) can
 * look up what it counts, its unit and whether it starts at zero on every open. Checked
 * on a store that has flushed, compacted and reopened, so every nested object is there;
 * and what the README says a reopen keeps and resets of `storage` is held to a reopen.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** Dotted paths of every field of `object`, nested objects included (arrays are leaves). */
function fieldPaths(object: object, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [name, value] of Object.entries(object)) {
    const path = `${prefix}${name}`;
    paths.push(path);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) paths.push(...fieldPaths(value as object, `${path}.`));
  }
  return paths;
}

/** True when the README names the field as a word inside backticks (`name`, `stats().a.name`, `a | name`) or in a `// a, name, b` code comment. */
function named(path: string): boolean {
  const name = path.slice(path.lastIndexOf('.') + 1);
  return new RegExp(`\`[^\`\\n]*\\b${name}\\b[^\`\\n]*\`|//[^\\n]*\\b${name}\\b`).test(readme);
}

/** A store with three flushed runs of the same 50 keys, compacted; left open. */
async function compactedStore(directory: string): Promise<Awaited<ReturnType<typeof openStore>>> {
  const store = await openStore(directory);
  for (let round = 0; round < 3; round++) {
    await store.batch(Array.from({ length: 50 }, (_, index) => ({ type: 'put' as const, key: `key/${index}`, value: round })));
    await store.checkpoint();
  }
  await store.compact();
  return store;
}

describe('the README names every figure of stats() and metrics()', () => {
  it('stats(), after flushes, a compaction and a reopen; metrics()', async () => {
    const directory = temporaryDirectory();
    const first = await compactedStore(directory);
    await first.close();
    const store = await openStore(directory);
    try {
      await store.put('key/0', 'again');
      const paths = [...fieldPaths(store.stats()), ...fieldPaths(store.metrics()).filter((path) => path.split('.').length <= 2)];
      expect(paths.length).toBeGreaterThan(100);
      expect(paths.filter((path) => !/^(?:commitSeconds|fdatasyncSeconds|groupSizeCommits|flushSeconds|flushBytes|compactionSeconds|compactionBytesIn|compactionBytesOut)\./.test(path)).filter((path) => !named(path))).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('a reopen keeps the live runs\' figures of storage and starts its counts and the figures made of them afresh', async () => {
    const directory = temporaryDirectory();
    const first = await compactedStore(directory);
    const before = first.stats().storage;
    expect(before.compaction.liveBytesEstimate).toBeGreaterThan(0);
    expect(before.compaction.writeAmplification).toBeGreaterThan(1);
    await first.close();
    const store = await openStore(directory);
    try {
      const after = store.stats().storage;
      const runFigures = (storage: typeof before) => ({
        runs: storage.runs, runBytes: storage.runBytes, runKeys: storage.runKeys, runEntries: storage.runEntries,
        bytesOnDisk: storage.compaction.bytesOnDisk, retentionFloor: storage.compaction.retentionFloor, flushedVersion: storage.flushedVersion,
        warmBytes: storage.tiers.warmBytes, coldBytes: storage.tiers.coldBytes, warmRuns: storage.tiers.warmRuns, coldRuns: storage.tiers.coldRuns,
      });
      expect(runFigures(after)).toEqual(runFigures(before));
      expect([after.flushes, after.flushedBytes, after.blockCacheHits, after.blockCacheMisses, after.writeStalls, after.repairedBlocks, after.compaction.compactions, after.compaction.compactedBytesWritten, after.scrub.passes])
        .toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);
      expect(after.compaction.writeAmplification).toBe(1);
      expect(after.compaction.liveBytesEstimate).toBe(0);
      expect(after.tiers.compressionRatio).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
