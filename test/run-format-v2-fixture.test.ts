/**
 * Run format 2 stays readable (docs/FORMAT.md changelog, run format 3): a run file
 * written by format 2's writer (test/fixtures/run-v2/, entries in
 * test/run-v2-fixture-entries.ts) opens through the flat index-and-filter path and
 * answers point reads, as-of reads, cursors both ways and verify exactly.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { RunReader } from '../src/run/run-reader.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelAsOf, modelScan, modelVersions, plain, RUNS_DIRECTORY, runOrder } from './run-helpers.js';
import { fixtureEntries } from './run-v2-fixture-entries.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

async function openFixture(): Promise<RunReader> {
  const descriptor = JSON.parse(readFileSync('test/fixtures/run-v2/descriptor.json', 'utf8')) as RunDescriptor;
  const fileSystem = await freshFileSystem();
  const handle = await fileSystem.open(`${RUNS_DIRECTORY}/${descriptor.fileName}`, 'createExclusive');
  await handle.write(readFileSync(`test/fixtures/run-v2/${descriptor.fileName}`), 0);
  await handle.datasync();
  await handle.close();
  return RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024));
}

describe('run format 2 fixture', () => {
  it('reads every key, every version, as-of and both cursors exactly', async () => {
    const reader = await openFixture();
    expect(reader.footer.formatVersion).toBe(2);
    const sorted = runOrder(fixtureEntries());
    const keys = [...new Set(sorted.map((entry) => entry.key))];
    for (const key of keys) {
      expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
      expect(plain((await reader.entryAsOf(key, 1_000_000))!)).toEqual(modelAsOf(sorted, key, 1_000_000));
    }
    expect(await reader.versions('fixture-99999')).toEqual([]);
    const asOf = 10 * 100 + 5;
    expect(plain((await reader.entryAsOf('fixture-00010', asOf))!)).toEqual(modelAsOf(sorted, 'fixture-00010', asOf));
    const range = { gte: 'fixture-00095', lt: 'fixture-00205' };
    expect(await drain(await reader.cursor(range, false))).toEqual(modelScan(sorted, range, false));
    expect(await drain(await reader.cursor(range, true))).toEqual(modelScan(sorted, range, true));
    expect(await drain(await reader.cursor({}, true))).toEqual(modelScan(sorted, {}, true));
    expect((await reader.verify()).problems).toEqual([]);
    await reader.close();
  });
});
