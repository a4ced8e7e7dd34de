/**
 * Stores written by earlier commits in the two formats no other fixture holds
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
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { openStore, restoreBackup, verifyBackup, VersionNotRetainedError, type Store } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const FOOTER_VERSION_OFFSET = 16;
const FOOTER_COMPRESSION_OFFSET = 52;
const RUN_PAGE = 4096;
const MANIFEST_FRAME_BYTES = 24;
const unpackr = new Unpackr({ useRecords: false, moreTypes: true });

const key = (index: number) => `item-${String(index).padStart(6, '0')}`;
const value = (index: number, round: number) => ({ id: index, round, text: `value ${index} of round ${round}`, tags: ['alpha', 'beta'] });

/** The fixture writer's rounds: 0 every key, 1 every 3rd, 2 every 5th, (floor), 3 every 7th, deletes every 11th, 4 keys 2000..2099. */
function expectedNow(index: number): unknown {
  if (index >= 2100) return value(index, 5);
  if (index >= 2000) return value(index, 4);
  if (index % 11 === 0) return undefined;
  if (index % 7 === 0) return value(index, 3);
  return expectedAtFloor(index);
}

function expectedAtFloor(index: number): unknown {
  if (index >= 2000) return undefined;
  if (index % 5 === 0) return value(index, 2);
  if (index % 3 === 0) return value(index, 1);
  return value(index, 0);
}

function footers(directory: string): Array<{ version: number; compression: number }> {
  return readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run')).sort().map((name) => {
    const bytes = readFileSync(join(directory, 'runs', name));
    const footer = bytes.length - RUN_PAGE;
    return { version: bytes.readUInt32LE(footer + FOOTER_VERSION_OFFSET), compression: bytes.readUInt32LE(footer + FOOTER_COMPRESSION_OFFSET) };
  });
}

/** The full-state record of the manifest's copy a (docs/FORMAT.md, "Manifest"). */
function manifestState(directory: string): { formatVersion: number; retentionFloor: unknown } {
  const name = readdirSync(join(directory, 'manifest')).filter((entry) => entry.endsWith('.a')).sort().at(-1)!;
  const bytes = readFileSync(join(directory, 'manifest', name));
  const length = bytes.readUInt32LE(4);
  const payload = unpackr.unpack(bytes.subarray(MANIFEST_FRAME_BYTES, MANIFEST_FRAME_BYTES + length)) as {
    kind: string; formatVersion: number; state: { retentionFloor?: number };
  };
  expect(payload.kind).toBe('state');
  return { formatVersion: payload.formatVersion, retentionFloor: payload.state.retentionFloor };
}

/** Checks every key of the fixture's first `keys` (2100; 2150 with the current store's WAL-only round). */
async function expectExact(store: Store, expected: { version: number; floorAt: number }, keys = 2100): Promise<void> {
  expect(store.version).toBe(expected.version);
  for (let index = 0; index < keys; index++) {
    expect(await store.get(key(index)), key(index)).toEqual(expectedNow(index));
    expect(await store.get(key(index), { asOf: expected.floorAt }), `${key(index)} as of the floor`).toEqual(expectedAtFloor(index));
  }
  const scanned: string[] = [];
  for await (const [name, stored] of store.scan({ gte: 'item-', lt: 'item.' })) {
    expect(stored).toEqual(expectedNow(Number(String(name).slice(5))));
    scanned.push(String(name));
  }
  expect(scanned.length).toBe(keys - Math.ceil(2000 / 11));
  await expect(store.get(key(1), { asOf: expected.floorAt - 1 })).rejects.toBeInstanceOf(VersionNotRetainedError);
}

interface Expected { version: number; floorAt: number; retentionFloor: number; backupVersion?: number }

function fixture(name: string, expectedName = name): { directory: string; expected: Expected } {
  const directory = temporaryDirectory();
  cpSync(join(FIXTURES, name), directory, { recursive: true });
  const expected = JSON.parse(readFileSync(join(FIXTURES, `${expectedName}.expected.json`), 'utf8')) as Expected;
  expect(expected.retentionFloor).toBe(expected.floorAt);
  return { directory, expected };
}

describe('fixtures of earlier formats (outside review of docs/FORMAT.md)', () => {
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
