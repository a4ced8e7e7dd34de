/**
 * Manifest generations past the ten digits of their zero-padded names (docs/FORMAT.md,
 * "Manifest"): the rewrite after MANIFEST-9999999999 writes MANIFEST-10000000000. It
 * must be written, chosen at the next open over the older names and its leftovers
 * removed, not refused by an assertion that fails every manifest edit from then on.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/index.js';
import { Manifest } from '../src/manifest/manifest.js';
import { copyFileName, parseManifestFileName } from '../src/manifest/manifest-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const LAST_TEN_DIGIT_GENERATION = 9_999_999_999;

function manifestNames(directory: string): string[] {
  return readdirSync(join(directory, 'manifest')).sort();
}

/**
 * A leftover temporary name of generation 9,999,999,999 (an unfinished rewrite of it):
 * the next rewrite takes the generation above every name, 10,000,000,000.
 */
function leaveLastTenDigitGeneration(directory: string): void {
  writeFileSync(join(directory, 'manifest', `${copyFileName(LAST_TEN_DIGIT_GENERATION, 'a')}.tmp`), '');
}

describe('manifest generations past ten digits', () => {
  it('a manifest rewrites into MANIFEST-10000000000 and reopens from it', async () => {
    const directory = temporaryDirectory();
    const fileSystem = new NodeFileSystem();
    const hash = await loadHash64();
    const created = await Manifest.open(fileSystem, directory, hash, { create: true });
    await created.close();
    leaveLastTenDigitGeneration(directory);
    const manifest = await Manifest.open(fileSystem, directory, hash, { create: false, editsMax: 1 });
    await manifest.apply({ flushedVersion: 5, versionHighWater: 5 });
    await manifest.apply({ flushedVersion: 7, versionHighWater: 7 }); // a full rewrite: editsMax 1
    await manifest.close();
    expect(manifestNames(directory)).toEqual(['MANIFEST-10000000000.a', 'MANIFEST-10000000000.b']);
    const reopened = await Manifest.open(fileSystem, directory, hash, { create: false });
    expect(reopened.state.flushedVersion).toBe(7);
    await reopened.apply({ flushedVersion: 9 });
    await reopened.close();
    const last = await Manifest.open(fileSystem, directory, hash, { create: false });
    expect(last.state.flushedVersion).toBe(9);
    await last.close();
  });

  it('a store whose close rewrites the manifest past ten digits keeps its data', async () => {
    const directory = temporaryDirectory();
    let store = await openStore(directory);
    await store.put('kept', 'value');
    await store.close();
    leaveLastTenDigitGeneration(directory);
    store = await openStore(directory);
    for (let round = 0; round < 20; round++) {
      await store.put(`round-${round}`, round);
      await store.checkpoint(); // one manifest edit per flush: close rewrites after 16
    }
    await store.close();
    expect(manifestNames(directory)).toEqual(['MANIFEST-10000000000.a', 'MANIFEST-10000000000.b']);
    store = await openStore(directory);
    expect(await store.get('kept')).toBe('value');
    for (let round = 0; round < 20; round++) expect(await store.get(`round-${round}`)).toBe(round);
    await store.close();
  });

  it('names parse by value across the width change', () => {
    expect(copyFileName(LAST_TEN_DIGIT_GENERATION + 1, 'b')).toBe('MANIFEST-10000000000.b');
    expect(parseManifestFileName('MANIFEST-10000000000.a.tmp')).toEqual({ generation: 10_000_000_000, copy: 'a', temporary: true });
    expect(parseManifestFileName('MANIFEST-09999999999.a')).toBeUndefined();
    expect(parseManifestFileName('MANIFEST-123.a')).toBeUndefined();
  });
});
