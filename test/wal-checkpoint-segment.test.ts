/**
 * An explicit checkpoint (checkpoint(), close(), backup()) rotates the WAL to a
 * SEGMENT_BYTES_MIN segment, not a first segment's SEGMENT_BYTES_INITIAL
 * (segment-files.ts checkpointSegmentSizeBytes; issue 7, compaction space: the empty
 * 64 KiB segment a settle's checkpoint left was 0.11x of the delete-heavy store's live
 * bytes after compact()).
 *
 * - After a checkpoint the active segment is SEGMENT_BYTES_MIN bytes; a seal's cut
 *   (a memtable filled by writes) still starts at the first-segment size.
 * - Writes that follow grow the segments again by doubling, a commit larger than the
 *   small segment gets a segment big enough, and the store reopens exactly after a
 *   crash and after a clean close.
 * - The delete-heavy case in small: after a checkpoint and compact({ retainFrom }),
 *   wal/ holds one segment of SEGMENT_BYTES_MIN bytes and no pool file.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { SEGMENT_BYTES_INITIAL, SEGMENT_BYTES_MIN } from '../src/limits.js';
import { abandonStore } from '../src/store/store.js';
import { scanAll } from './workload.js';

const STORE_DIRECTORY = '/db';
const WAL_DIRECTORY = '/db/wal';
const KIBIBYTE = 1024;
const OPTIONS = { memoryBudgetBytes: 4 * 1024 * KIBIBYTE } as const;

function keyOf(index: number): string {
  return `key-${String(index).padStart(5, '0')}`;
}

function valueOf(index: number): string {
  return `value-${index}-${'x'.repeat(300 + (index % 5) * 100)}`;
}

/** wal/'s files (segments and pool files) and their sizes, by name. */
async function walFiles(fileSystem: FileSystem): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for (const name of (await fileSystem.readdir(WAL_DIRECTORY)).sort()) files.set(name, (await fileSystem.readFile(`${WAL_DIRECTORY}/${name}`)).length);
  return files;
}

/** Size of segment `segmentNumber` on disk. */
async function segmentBytes(fileSystem: FileSystem, segmentNumber: number): Promise<number> {
  const size = (await walFiles(fileSystem)).get(`wal-${String(segmentNumber).padStart(10, '0')}.log`);
  expect(size, `segment ${segmentNumber} exists`).toBeDefined();
  return size ?? 0;
}

describe('an explicit checkpoint rotates the WAL to a SEGMENT_BYTES_MIN segment', () => {
  it('checkpoint() leaves a small active segment; writes grow it back and reopen exactly', async () => {
    expect(SEGMENT_BYTES_MIN).toBeLessThan(SEGMENT_BYTES_INITIAL);
    const fileSystem = new FaultFileSystem(1);
    const store = await openStore(STORE_DIRECTORY, { fileSystem, ...OPTIONS });
    const expected = new Map<string, unknown>();
    expect(await segmentBytes(fileSystem, store.stats().walSegment), 'a new store starts at the first-segment size').toBe(SEGMENT_BYTES_INITIAL);
    for (let index = 0; index < 20; index++) {
      await store.put(keyOf(index), valueOf(index));
      expected.set(keyOf(index), valueOf(index));
    }
    const before = store.stats().walSegment;
    await store.checkpoint();
    const active = store.stats().walSegment;
    expect(active).toBe(before + 1);
    expect(await segmentBytes(fileSystem, active)).toBe(SEGMENT_BYTES_MIN);
    // About 100 KB of records after it: the segments double from the small one.
    for (let index = 20; index < 220; index++) {
      await store.put(keyOf(index), valueOf(index));
      expected.set(keyOf(index), valueOf(index));
    }
    const sizes = [];
    for (let segment = active; segment <= store.stats().walSegment; segment++) sizes.push(await segmentBytes(fileSystem, segment));
    expect(sizes.slice(0, 3)).toEqual([SEGMENT_BYTES_MIN, 2 * SEGMENT_BYTES_MIN, 4 * SEGMENT_BYTES_MIN]);
    // A crash: the records after the checkpoint are replayed from the small segments on.
    store[abandonStore]();
    const rebooted = fileSystem.crash('drop-unsynced');
    const reopened = await openStore(STORE_DIRECTORY, { fileSystem: rebooted, ...OPTIONS });
    expect(await scanAll(reopened)).toEqual(expected);
    await reopened.put('after-crash', 1);
    expected.set('after-crash', 1);
    await reopened.close();
    const rebootedAgain = rebooted.crash('drop-unsynced');
    const again = await openStore(STORE_DIRECTORY, { fileSystem: rebootedAgain, ...OPTIONS });
    expect(await scanAll(again)).toEqual(expected);
    // close() checkpointed after a record: the store resumes in a small empty segment.
    expect(await segmentBytes(rebootedAgain, again.stats().walSegment)).toBe(SEGMENT_BYTES_MIN);
    await again.close();
  });

  it('a commit larger than the small segment right after a checkpoint gets a segment big enough', async () => {
    const fileSystem = new FaultFileSystem(2);
    const store = await openStore(STORE_DIRECTORY, { fileSystem, ...OPTIONS });
    await store.put('small', 1);
    await store.checkpoint();
    const active = store.stats().walSegment;
    expect(await segmentBytes(fileSystem, active)).toBe(SEGMENT_BYTES_MIN);
    const big = 'b'.repeat(3 * SEGMENT_BYTES_MIN);
    await store.put('big', big);
    expect(store.stats().walSegment).toBeGreaterThan(active);
    expect(await segmentBytes(fileSystem, store.stats().walSegment)).toBeGreaterThan(big.length);
    store[abandonStore]();
    const reopened = await openStore(STORE_DIRECTORY, { fileSystem: fileSystem.crash('drop-unsynced'), ...OPTIONS });
    expect(await reopened.get('small')).toBe(1);
    expect(await reopened.get('big')).toBe(big);
    await reopened.close();
  });

  it('a seal under writes still cuts to a first-size segment', async () => {
    const fileSystem = new FaultFileSystem(3);
    // A 1 MiB budget: its active memtable share fills and is sealed by the writes alone.
    const store = await openStore(STORE_DIRECTORY, { fileSystem, memoryBudgetBytes: 1024 * KIBIBYTE, segmentSizeBytes: 256 * KIBIBYTE });
    const firstSizes = new Set<number>();
    for (let index = 0; index < 2_000 && store.stats().storage.flushes === 0; index++) {
      await store.put(keyOf(index), valueOf(index));
    }
    await store.put('after-seal', 1);
    expect(store.stats().storage.flushes, 'the writes sealed and flushed a memtable').toBeGreaterThan(0);
    for (const [name, size] of await walFiles(fileSystem)) if (name.startsWith('wal-')) firstSizes.add(size);
    expect(firstSizes.has(SEGMENT_BYTES_MIN), 'no cut made a checkpoint-size segment').toBe(false);
    await store.close();
  });

  it('delete-heavy in small: after checkpoint() and compact({ retainFrom }) wal/ holds one SEGMENT_BYTES_MIN segment', async () => {
    const fileSystem = new FaultFileSystem(4);
    const store = await openStore(STORE_DIRECTORY, { fileSystem, ...OPTIONS, maxVersionsPerKey: 1 });
    const expected = new Map<string, unknown>();
    for (let first = 0; first < 2_000; first += 200) {
      await store.batch(Array.from({ length: 200 }, (_, offset) => ({ type: 'put' as const, key: keyOf(first + offset), value: valueOf(first + offset) })));
    }
    for (let first = 0; first < 2_000; first += 200) {
      await store.batch(Array.from({ length: 200 }, (_, offset) => first + offset).filter((index) => index % 10 !== 0).map((index) => ({ type: 'del' as const, key: keyOf(index) })));
    }
    for (let index = 0; index < 2_000; index += 10) expected.set(keyOf(index), valueOf(index));
    await store.checkpoint();
    await store.compact({ retainFrom: store.version });
    expect(await walFiles(fileSystem)).toEqual(new Map([[`wal-${String(store.stats().walSegment).padStart(10, '0')}.log`, SEGMENT_BYTES_MIN]]));
    expect(await scanAll(store)).toEqual(expected);
    await store.close();
    const reopened = await openStore(STORE_DIRECTORY, { fileSystem: fileSystem.crash('drop-unsynced'), ...OPTIONS, maxVersionsPerKey: 1 });
    expect(await scanAll(reopened)).toEqual(expected);
    await reopened.close();
  });
});
