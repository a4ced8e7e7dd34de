/**
 * Stores written by earlier commits in the formats no other fixture holds
 * (test/fixtures/make-format-review-fixture.mjs, run from builds of those commits):
 * - format-review-manifest-v2 (be4de54): a format-2 manifest (a retention floor, no
 *   reserved entry counts), beside a format-3 brotli cold run and a format-3 warm run;
 * - format-review-run-v4 (29a6941): a format-4 cold run (raw deflate, packed data
 *   blocks, kind-0 filters), beside a format-3 warm run, in a format-3 manifest;
 * - format-review-current and format-review-current-backup (751c476): today's formats
 *   (WAL 2 with 50 puts to replay and a recycled pool file, runs 6 and 5, manifest 3,
 *   lock 2, backup 1), so the next format change already has its old store.
 * The current code opens each, reads every key exact (and as of the floor; below it,
 * VersionNotRetainedError), keeps the floor, rewrites the old format at the first edit
 * that needs the new one (docs/FORMAT.md changelogs), and reads the same after a reopen.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { expectExact, fixture, footers, key, manifestState } from './format-review-fixture-support.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('fixtures of earlier formats', () => {
  it('a format-2 manifest opens with its floor, reads exact, and becomes format 3 at its first counted run', async () => {
    const { directory, expected } = fixture('format-review-manifest-v2');
    expect(manifestState(directory)).toEqual({ formatVersion: 2, retentionFloor: expected.floorAt });
    expect(footers(directory)).toEqual([{ version: 3, compression: 2 }, { version: 3, compression: 0 }]);

    let store = await openStore(directory);
    expect(store.stats().storage.compaction.retentionFloor).toBe(expected.floorAt);
    await expectExact(store, expected);
    await store.compact();
    await expectExact(store, expected);
    await store.close();
    expect(manifestState(directory)).toEqual({ formatVersion: 3, retentionFloor: expected.floorAt });

    store = await openStore(directory);
    await expectExact(store, expected);
    await store.close();
  });

  it('a format-4 cold run (packed deflate blocks, kind-0 filters) reads exact, scrubs clean, and compacts into format 6', async () => {
    const { directory, expected } = fixture('format-review-run-v4');
    expect(manifestState(directory)).toEqual({ formatVersion: 3, retentionFloor: expected.floorAt });
    expect(footers(directory)).toEqual([{ version: 4, compression: 3 }, { version: 3, compression: 0 }]);

    let store = await openStore(directory);
    await expectExact(store, expected);
    const scrub = await store.scrub();
    expect([...scrub.repaired, ...scrub.unrecoverable, ...scrub.damaged]).toEqual([]);
    await store.compact();
    await expectExact(store, expected);
    await store.close();
    expect(footers(directory).map((footer) => footer.version).every((version) => version === 5 || version === 6)).toBe(true);

    store = await openStore(directory);
    await expectExact(store, expected);
    await store.close();
  });

  it('a store in today\'s formats replays its WAL past a pool file and reads exact; so does its backup, restored', async () => {
    const { directory, expected } = fixture('format-review-current');
    expect(manifestState(directory)).toEqual({ formatVersion: 3, retentionFloor: expected.floorAt });
    expect(footers(directory)).toEqual([{ version: 6, compression: 3 }, { version: 5, compression: 0 }]);
    const walHeaders = readdirSync(join(directory, 'wal')).sort().map((name) => readFileSync(join(directory, 'wal', name)).readUInt32LE(8));
    expect(walHeaders).toEqual([2, 2]); // recycled-0000000011-16384.log, wal-0000000012.log
    const store = await openStore(directory);
    await expectExact(store, expected, 2150);
    await store.close();

    const backup = fixture('format-review-current-backup', 'format-review-current');
    const verified = await verifyBackup(backup.directory);
    expect([verified.ok, verified.version, verified.problems]).toEqual([true, expected.backupVersion, []]);
    const restored = temporaryDirectory();
    await restoreBackup(backup.directory, restored);
    const fromBackup = await openStore(restored);
    await expectExact(fromBackup, { ...expected, version: expected.backupVersion! });
    expect(await fromBackup.get(key(2100))).toBeUndefined();
    await fromBackup.close();
  });
});
