/**
 * Scrub beyond the runs: a damaged manifest copy (and even both copies) found by
 * store.scrub() on an open store is rewritten as a new generation, so the next open
 * finds nothing to repair; a damaged record in a sealed WAL segment is reported as
 * unrecoverable with file and offset and left byte for byte as it was (scrub never
 * drops acknowledged commits); verifyStore (`ladybug verify`) reports without writing.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import { SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const key = (index: number) => `key-${String(index).padStart(6, '0')}`;
const value = (index: number) => ({ index, text: 'z'.repeat(index % 60) });

const manifestCopies = (directory: string) => readdirSync(join(directory, 'manifest')).filter((name) => /^MANIFEST-\d+\.[ab]$/.test(name)).sort();

/** Flips every bit of `length` bytes at `offset` of a file. */
function damageFile(path: string, offset: number, length: number): void {
  const bytes = readFileSync(path);
  for (let index = offset; index < offset + length && index < bytes.length; index++) bytes[index] = (bytes[index] as number) ^ 0xff;
  writeFileSync(path, bytes);
}

async function storeWithManifestEdits(directory: string) {
  const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
  for (let round = 0; round < 3; round++) {
    for (let index = round * 300; index < (round + 1) * 300; index++) await store.put(key(index), value(index));
    await store.checkpoint(); // one manifest edit each
  }
  return store;
}

describe('scrub: the manifest', () => {
  it('rewrites a damaged copy from the good one while open; the next open repairs nothing', async () => {
    const directory = temporaryDirectory();
    const store = await storeWithManifestEdits(directory);
    const before = manifestCopies(directory);
    expect(before).toHaveLength(2);
    const copyA = join(directory, 'manifest', before[0] as string);
    damageFile(copyA, 40, 16);

    const report = await store.scrub();
    expect(report.manifest).toMatchObject({ copiesChecked: 2, rewritten: true });
    expect(report.repaired.filter((found) => found.kind === 'manifest').length).toBeGreaterThanOrEqual(1);
    expect(report.unrecoverable).toEqual([]);
    expect(manifestCopies(directory)).not.toEqual(before); // a new generation, both copies
    expect((await store.scrub()).repaired).toEqual([]);
    expect(store.stats().storage.scrub.repaired).toBeGreaterThanOrEqual(1);
    await store.close();

    const reopened = await openStore(directory);
    expect(reopened.stats().recovery.manifest.repaired).toEqual([]);
    for (let index = 0; index < 900; index += 37) expect(await reopened.get(key(index))).toEqual(value(index));
    await reopened.close();
  });

  it('both copies damaged at one record (a reopen would refuse it): rewritten from the open store\'s state', async () => {
    const directory = temporaryDirectory();
    const store = await storeWithManifestEdits(directory);
    for (const name of manifestCopies(directory)) damageFile(join(directory, 'manifest', name), 40, 16);
    const report = await store.scrub();
    expect(report.manifest?.rewritten).toBe(true);
    expect(report.repaired.some((found) => found.kind === 'manifest' && /both copies/.test(found.reason))).toBe(true);
    await store.close();
    const reopened = await openStore(directory);
    expect(reopened.stats().recovery.manifest.repaired).toEqual([]);
    expect(await reopened.get(key(899))).toEqual(value(899));
    await reopened.close();
  });

  it('verifyStore (ladybug verify) reports a damaged copy and writes nothing', async () => {
    const directory = temporaryDirectory();
    const store = await storeWithManifestEdits(directory);
    await store.close();
    const copyB = join(directory, 'manifest', manifestCopies(directory)[1] as string);
    damageFile(copyB, 40, 16);
    const damaged = readFileSync(copyB);
    const report = await verifyStore(directory);
    expect(report.manifest?.damagedCopies).toBe(1);
    expect(readFileSync(copyB).equals(damaged)).toBe(true);
  });
});

describe('scrub: the WAL', () => {
  it('reports a damaged record of a sealed segment as unrecoverable with where, and never changes the segment', async () => {
    const directory = temporaryDirectory();
    // Small segments and no checkpoint: the early segments stay, sealed, holding acknowledged commits.
    const store = await openStore(directory, { segmentSizeBytes: 16 * 1024, checkpointOnClose: false, walCheckpointBytes: 64 * 1024 * 1024 });
    for (let index = 0; index < 600; index++) await store.put(key(index), value(index));
    const walDirectory = join(directory, 'wal');
    const segments = readdirSync(walDirectory).filter((name) => name.endsWith('.log')).sort();
    expect(segments.length).toBeGreaterThan(2);
    const clean = await store.scrub();
    expect(clean.unrecoverable).toEqual([]);
    expect(clean.wal?.segmentsChecked).toBeGreaterThanOrEqual(1);
    expect(clean.wal?.recordsChecked).toBeGreaterThan(0);

    const sealed = join(walDirectory, segments[0] as string);
    const recordPayloadOffset = SEGMENT_HEADER_BYTES + 40; // inside the first record
    damageFile(sealed, recordPayloadOffset, 4);
    const damaged = readFileSync(sealed);
    const report = await store.scrub();
    expect(report.unrecoverable).toEqual([
      expect.objectContaining({ kind: 'wal', file: expect.stringContaining(segments[0] as string), logicalOffset: SEGMENT_HEADER_BYTES, outcome: 'unrecoverable' }),
    ]);
    expect(report.unrecoverable[0]?.reason).toMatch(/checksum/);
    expect(readFileSync(sealed).equals(damaged)).toBe(true);
    expect(store.stats().storage.scrub.unrecoverable).toBe(1);
    // The open store still answers from memory: nothing acknowledged was dropped.
    expect(await store.get(key(0))).toEqual(value(0));
    await store.close();
    expect(readFileSync(sealed).equals(damaged)).toBe(true);

    const verified = await verifyStore(directory);
    expect(verified.ok).toBe(false);
    expect(verified.corruption).toMatchObject({ file: expect.stringContaining(segments[0] as string), offset: SEGMENT_HEADER_BYTES });
    expect(readFileSync(sealed).equals(damaged)).toBe(true);
  });
});
