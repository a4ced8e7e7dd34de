/**
 * Stores written by earlier commits whose runs have K = 8 data pages per stripe, the
 * default before 2026-11-30 13:38 (test/fixtures/make-format-review-fixture.mjs, run from
 * builds of those commits):
 * - format-review-run-v2-cold (972a90e, the last commit before run format 3): a format-2
 *   cold run (brotli data blocks of about 24 KiB, flat index and filter) beside a format-2
 *   warm run, in a format-2 manifest with a retention floor;
 * - format-review-run-v3-k8 (79c3c2c, the last commit before K = 16 became the default):
 *   format-3 runs (brotli cold, warm) in a format-2 manifest.
 * The current code reads every key exact now and as of the floor, scrubs them clean,
 * rewrites them as formats 5 and 6 (manifest 3) by compact(), and reads the same after a
 * reopen.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { expectExact, fixture, footers, manifestState } from './format-review-fixture-support.js';
import { removeTemporaryDirectories } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('fixtures of runs with K = 8', () => {
  it.each([
    { name: 'format-review-run-v2-cold', version: 2 },
    { name: 'format-review-run-v3-k8', version: 3 },
  ])('$name: brotli cold and warm runs of format $version with K = 8 read exact, scrub clean, and compact into formats 5 and 6', async ({ name, version }) => {
    const { directory, expected } = fixture(name);
    expect(manifestState(directory)).toEqual({ formatVersion: 2, retentionFloor: expected.floorAt });
    expect(footers(directory)).toEqual([{ version, compression: 2 }, { version, compression: 0 }]);

    let store = await openStore(directory);
    expect(store.stats().storage.compaction.retentionFloor).toBe(expected.floorAt);
    await expectExact(store, expected);
    const scrub = await store.scrub();
    expect([...scrub.repaired, ...scrub.unrecoverable, ...scrub.damaged]).toEqual([]);
    await store.compact();
    await expectExact(store, expected);
    await store.close();
    expect(manifestState(directory)).toEqual({ formatVersion: 3, retentionFloor: expected.floorAt });
    expect(footers(directory).map((footer) => footer.version).every((version) => version === 5 || version === 6)).toBe(true);

    store = await openStore(directory);
    await expectExact(store, expected);
    await store.close();
  });

});
