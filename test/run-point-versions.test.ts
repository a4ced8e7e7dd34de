/**
 * RunReader.pointVersions (the point read every run answers, src/run/run-point-read.ts):
 * - a run that rules the key out (filter, key range, partition) answers the shared
 *   NO_RUN_ENTRIES, nothing made per run; versions()/versionsSyncWhenCached still
 *   hand out arrays of the caller's own;
 * - its answers equal the model for present and absent keys, on format 3 runs and
 *   on the format-2 fixture (flat index and filter);
 * - blocks the full cache does not admit are read into the read scratch and walked
 *   in place (data-block-seek.ts, no decoded block made): every value handed out stays
 *   exact after later reads rewrote both scratches, and none of those blocks is held;
 *   in a compressed (cold) run too, whose blocks were all cached before (each miss
 *   allocated, copied and cached a decompressed block).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import { writeRun } from '../src/run/run-writer.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { NO_RUN_ENTRIES } from '../src/run/run-point-read.js';
import { RunReader } from '../src/run/run-reader.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { freshFileSystem, modelVersions, plain, RUNS_DIRECTORY, runOrder, simpleEntries, writeAndOpen, type PlainEntry } from './run-helpers.js';
import { fixtureEntries, openV2Fixture } from './run-v2-fixture-entries.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});


/** Keys around and between `keys`: before the first, after the last, and between neighbours. */
function absentKeys(keys: readonly string[]): string[] {
  const absent = ['', '\u0000', 'a', `${keys.at(-1)!}\u0000`, '\u00ff'.repeat(8)];
  for (let index = 0; index < keys.length; index += 7) absent.push(`${keys[index]!}-absent`);
  return absent;
}

async function checkAgainstModel(reader: RunReader, sorted: RunEntry[]): Promise<void> {
  const keys = [...new Set(sorted.map((entry) => entry.key))];
  for (const key of keys) {
    expect((await reader.pointVersions(key)).map(plain), key).toEqual(modelVersions(sorted, key));
  }
  let shared = 0;
  for (const key of absentKeys(keys)) {
    const found = await reader.pointVersions(key);
    expect(found, key).toEqual([]);
    if (found === NO_RUN_ENTRIES) shared++;
    // The callers' arrays are their own: never the shared empty answer.
    const own = await reader.versionsSyncWhenCached(key);
    expect(own).not.toBe(NO_RUN_ENTRIES);
    own.push({ key, version: 1, value: undefined });
    expect(await reader.pointVersions(key)).toEqual([]);
  }
  // Every key ruled out before a block is read answers the shared array (a bloom false positive may read a block and find nothing).
  expect(shared).toBeGreaterThan(absentKeys(keys).length / 2);
  expect(Object.isFrozen(NO_RUN_ENTRIES)).toBe(true);
  expect(NO_RUN_ENTRIES).toEqual([]);
}

describe('RunReader.pointVersions', () => {
  it('the written format (5): equal to the model, the shared empty answer for ruled-out keys', async () => {
    const entries = simpleEntries(400, 3, 60);
    const { reader } = await writeAndOpen(hash, entries);
    expect(reader.footer.formatVersion).toBe(5);
    await checkAgainstModel(reader, runOrder(entries));
    await reader.close();
  });

  it('format 2 fixture: equal to the model, the shared empty answer for ruled-out keys', async () => {
    const reader = await openV2Fixture(hash);
    expect(reader.footer.formatVersion).toBe(2);
    await checkAgainstModel(reader, runOrder(fixtureEntries()));
    await reader.close();
  });

  it('blocks left out of a full cache: values exact after later reads reused the read scratch', async () => {
    // 6 versions of 300 B per key: keys span block boundaries.
    const entries = simpleEntries(120, 6, 300);
    const sorted = runOrder(entries);
    const { reader, cache } = await writeAndOpen(hash, entries, { cacheBytes: 3 * 4096 * 4 });
    const admits = cache.admits.bind(cache);
    let refused = 0;
    cache.admits = (runId, offset, lengthBytes) => (admits(runId, offset, lengthBytes) ? true : (refused++, false));
    const keys = [...new Set(entries.map((entry) => entry.key))];
    const held: Array<{ key: string; found: readonly RunEntry[]; copy: PlainEntry[] }> = [];
    for (const key of keys) {
      const found = await reader.pointVersions(key);
      expect(found.map(plain), key).toEqual(modelVersions(sorted, key));
      held.push({ key, found, copy: found.map(plain) });
    }
    expect(refused).toBeGreaterThan(10); // many blocks were read through the scratches, not cached
    for (const { key, found, copy } of held) expect(found.map(plain), key).toEqual(copy);
    await reader.close();
  });

  it('a compressed run: blocks left out of a full cache are decompressed and read through the scratches, values exact, not held', async () => {
    const entries = simpleEntries(600, 4, 200);
    const sorted = runOrder(entries);
    const fileSystem = await freshFileSystem();
    const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 3, generation: 3, level: 3, hash, entries: sorted, compression: 'brotli' });
    // Room for one decompressed block (24 KiB of entries and its arrays): full after the first read.
    const cache = new BlockCache(40 * 1024);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, cache);
    expect(reader.footer.compression).not.toBe(0);
    const admits = cache.admits.bind(cache);
    let refused = 0;
    cache.admits = (runId, offset, lengthBytes) => (admits(runId, offset, lengthBytes) ? true : (refused++, false));
    const keys = [...new Set(entries.map((entry) => entry.key))];
    const held: Array<{ key: string; found: readonly RunEntry[]; copy: PlainEntry[] }> = [];
    // Far apart keys first (distinct blocks, the cache fills and then refuses), then all of them.
    for (const key of [...keys.filter((_, index) => index % 50 === 0), ...keys]) {
      const found = await reader.pointVersions(key);
      expect(found.map(plain), key).toEqual(modelVersions(sorted, key));
      held.push({ key, found, copy: found.map(plain) });
    }
    // The old reader never asked the doorkeeper about a compressed block (every miss was cached).
    expect(refused).toBeGreaterThan(0);
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
    for (const { key, found, copy } of held) expect(found.map(plain), key).toEqual(copy);
    await reader.close();
  });
});
