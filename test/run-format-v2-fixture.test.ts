/**
 * Run format 2 stays readable (docs/FORMAT.md changelog, run format 3): a run file
 * written by format 2's writer (test/fixtures/run-v2/, entries in
 * test/run-v2-fixture-entries.ts) opens through the flat index-and-filter path and
 * answers point reads, as-of reads, cursors both ways and verify exactly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, modelAsOf, modelScan, modelVersions, plain, runOrder } from './run-helpers.js';
import { fixtureEntries, openV2Fixture } from './run-v2-fixture-entries.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});


describe('run format 2 fixture', () => {
  it('reads every key, every version, as-of and both cursors exactly', async () => {
    const reader = await openV2Fixture(hash);
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
