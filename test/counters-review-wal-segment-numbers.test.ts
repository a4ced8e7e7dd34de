/**
 * WAL segment numbers past the ten digits of their zero-padded names (docs/FORMAT.md,
 * "Store directory"): the segment after wal-9999999999.log is wal-10000000000.log. The
 * store must write it, list it, replay it after a crash and recycle it like any other,
 * not fail at the rotation and again at every reopen.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, type StoreOptions } from '../src/index.js';
import { Manifest } from '../src/manifest/manifest.js';
import { abandonStore } from '../src/store/store.js';
import { listSegments, segmentFileName } from '../src/wal/segment-files.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const OPTIONS: StoreOptions = { segmentSizeBytes: 16 * 1024 };
const LAST_TEN_DIGIT_SEGMENT = 9_999_999_999;

/** A store with one key whose WAL starts two segments below the last ten-digit number (a manifest edit by the store's own writer). */
async function storeNearTheLastTenDigitSegment(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory, OPTIONS);
  await store.put('kept', 'value');
  await store.close();
  const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
  await manifest.apply({ walStartSegment: LAST_TEN_DIGIT_SEGMENT - 1 });
  await manifest.close();
  return directory;
}

function walNames(directory: string): string[] {
  return readdirSync(join(directory, 'wal')).filter((name) => name.startsWith('wal-')).sort();
}

describe('WAL segment numbers past ten digits', () => {
  it('rotates from wal-9999999999.log on, replays after a crash and reopens', async () => {
    const directory = await storeNearTheLastTenDigitSegment();
    const store = await openStore(directory, OPTIONS);
    const written = new Map<string, string>();
    for (let round = 0; round < 4; round++) {
      const key = `round-${round}`;
      written.set(key, `${round}:${'x'.repeat(9000)}`);
      await store.put(key, written.get(key));
      await store.checkpoint(); // a rotation each round: 9999999999, 10000000000, ...
    }
    written.set('unflushed', 'in the WAL only');
    await store.put('unflushed', 'in the WAL only');
    expect(walNames(directory).at(-1)).toBe('wal-10000000002.log');
    store[abandonStore](); // a crash: the last put is only in wal-10000000002.log
    const reopened = await openStore(directory, OPTIONS);
    expect(reopened.stats().recovery.commits).toBeGreaterThan(0);
    expect(await reopened.get('kept')).toBe('value');
    for (const [key, value] of written) expect(await reopened.get(key)).toBe(value);
    await reopened.put('after', 1);
    await reopened.close();
    const last = await openStore(directory, OPTIONS);
    expect(await last.get('after')).toBe(1);
    expect(await last.get('unflushed')).toBe('in the WAL only');
    await last.close();
    expect(readdirSync(join(directory, 'wal')).some((name) => name.startsWith('recycled-1000000000'))).toBe(true);
  });

  it('names and lists numbers by value across the width change', async () => {
    expect(segmentFileName(LAST_TEN_DIGIT_SEGMENT)).toBe('wal-9999999999.log');
    expect(segmentFileName(LAST_TEN_DIGIT_SEGMENT + 1)).toBe('wal-10000000000.log');
    const fileSystem = new NodeFileSystem();
    const directory = temporaryDirectory();
    for (const name of ['wal-0000000007.log', 'wal-10000000000.log', 'wal-9999999999.log', 'wal-00000000008.log', 'wal-12.log']) {
      const handle = await fileSystem.open(join(directory, name), 'createExclusive');
      await handle.close();
    }
    expect(await listSegments(fileSystem, directory)).toEqual([7, LAST_TEN_DIGIT_SEGMENT, LAST_TEN_DIGIT_SEGMENT + 1]);
  });
});
