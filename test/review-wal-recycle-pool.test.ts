/**
 * Review of WAL format 2's recycled pool (19b338d): what the pool keeps on disk.
 *
 * - A store checkpointed often with a few small writes keeps a small wal/ directory:
 *   the pool holds what the writer takes back, not a pile of first-size segments.
 * - Defect (fixed since, test now plain): a pool file larger than the store's segmentSizeBytes can never
 *   be made into a segment again (the writer caps every segment at segmentSizeBytes),
 *   yet removeSegmentsBelow keeps it (isRecyclableSize looks at powers of two only)
 *   and newest-first ordering keeps it as long as fewer than 16 newer files arrive.
 *   A store that once ran with larger segments (or had a burst that grew its segments,
 *   then was reopened with a smaller segmentSizeBytes) keeps up to
 *   WAL_RECYCLED_BYTES_MAX (128 MiB) of dead files in wal/ for good.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';

const KIBIBYTE = 1024;
const MEBIBYTE = 1024 * KIBIBYTE;

function walFiles(directory: string): Array<{ name: string; bytes: number }> {
  const walDir = join(directory, 'wal');
  return readdirSync(walDir).sort().map((name) => ({ name, bytes: statSync(join(walDir, name)).size }));
}

function describeFiles(files: ReadonlyArray<{ name: string; bytes: number }>): string {
  return files.map((file) => `${file.name}:${file.bytes}`).join(' ');
}

describe('the recycled pool on disk', () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  function newDirectory(): string {
    const directory = mkdtempSync(join(tmpdir(), 'ladybug-review-pool-'));
    directories.push(directory);
    return directory;
  }

  it('a small store checkpointed 24 times (a put before each) keeps wal/ at a few first-size segments', async () => {
    const directory = newDirectory();
    const store = await openStore(directory, {});
    for (let round = 0; round < 24; round++) {
      await store.put(`key-${round}`, 'v'.repeat(100));
      await store.checkpoint();
    }
    const files = walFiles(directory);
    const total = files.reduce((sum, file) => sum + file.bytes, 0);
    // One 64 KiB segment in use and the covered one waiting in the pool (taken back at the next cut).
    expect(total, describeFiles(files)).toBeLessThanOrEqual(4 * 64 * KIBIBYTE);
    expect(files.filter((file) => file.name.startsWith('recycled-')).length, describeFiles(files)).toBeLessThanOrEqual(2);
    await store.close();
    const reopened = await openStore(directory, {});
    for (let round = 0; round < 24; round++) expect(await reopened.get(`key-${round}`)).toBe('v'.repeat(100));
    await reopened.close();
  });

  it('pool files larger than segmentSizeBytes (never made again) are dropped, not kept for good', async () => {
    const directory = newDirectory();
    // 3.2 MB of commits with 1 MiB segments: segments grow 64 KiB .. 1 MiB, a checkpoint pools them all.
    const large = await openStore(directory, { segmentSizeBytes: MEBIBYTE });
    for (let index = 0; index < 800; index++) await large.put(`key-${index}`, 'v'.repeat(4000));
    await large.checkpoint();
    await large.close();
    const pooledLarge = walFiles(directory).filter((file) => file.name.startsWith('recycled-') && file.bytes > 64 * KIBIBYTE);
    expect(pooledLarge.length, describeFiles(walFiles(directory))).toBeGreaterThan(0);
    // Reopened with 64 KiB segments: no segment the writer makes can be larger than 64 KiB.
    const small = await openStore(directory, { segmentSizeBytes: 64 * KIBIBYTE });
    for (let round = 0; round < 20; round++) {
      await small.put(`small-${round}`, round);
      await small.checkpoint();
    }
    await small.close();
    const reopened = await openStore(directory, { segmentSizeBytes: 64 * KIBIBYTE });
    expect(await reopened.get('key-799')).toBe('v'.repeat(4000));
    expect(await reopened.get('small-19')).toBe(19);
    await reopened.close();
    const files = walFiles(directory);
    // Fails on 19b338d: recycled-...-131072/-262144/-524288/-1048576 (about 4 MiB) are still there
    // after 20 checkpoints and two reopens, and would stay for as long as the pool gets no 16 newer files.
    expect(files.filter((file) => file.bytes > 64 * KIBIBYTE), describeFiles(files)).toEqual([]);
  });
});
