/**
 * A checkpoint deletes every WAL segment below the manifest's WAL start, including
 * one a flush had to leave because the writer was still in it (an outsized record
 * fills its own segment; the seal's cut rotates only at the next write). Before, a
 * segment of flushed records outlived checkpoint() and close(), and the next open
 * read it again.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { WAL_RECYCLED_SEGMENTS_MAX } from '../src/limits.js';

/** The WAL's segments (the recycled pool's files, not segments, are counted apart: see below). */
async function walBytes(fileSystem: FaultFileSystem): Promise<{ files: string[]; bytes: number }> {
  const files = (await fileSystem.readdir('/db/wal')).filter((name) => name.startsWith('wal-')).sort();
  let bytes = 0;
  for (const file of files) bytes += (await fileSystem.readFile(`/db/wal/${file}`)).length;
  return { files, bytes };
}

describe('checkpoint and WAL segments', () => {
  it('no segment of flushed records survives checkpoint() or close() after outsized batches', async () => {
    const fileSystem = new FaultFileSystem(31);
    const store = await openStore('/db', { fileSystem, memoryBudgetBytes: 1024 * 1024, maxVersionsPerKey: 1 });
    const batchKeys = 3000; // about 360 KB per commit: far above the 128 KiB memtable share
    for (let round = 0; round < 5; round++) {
      await store.batch(Array.from({ length: batchKeys }, (_unused, index) => ({
        type: 'put' as const, key: `key-${String((index * 7919) % batchKeys).padStart(8, '0')}`, value: `${round}:`.padEnd(100, 'v'),
      })));
    }
    await store.checkpoint();
    const afterCheckpoint = await walBytes(fileSystem);
    expect(afterCheckpoint.bytes, `WAL after checkpoint: ${afterCheckpoint.files.join(' ')}`).toBeLessThan(200 * 1024);
    // Covered segments may stay as recycled files (WAL format 2), within the pool's bound, never replayed.
    const pool = (await fileSystem.readdir('/db/wal')).filter((name) => !name.startsWith('wal-'));
    expect(pool.every((name) => /^recycled-\d{10}-\d+\.log$/.test(name)), pool.join(' ')).toBe(true);
    expect(pool.length).toBeLessThanOrEqual(WAL_RECYCLED_SEGMENTS_MAX);
    await store.close();
    const afterClose = await walBytes(fileSystem);
    expect(afterClose.bytes, `WAL after close: ${afterClose.files.join(' ')}`).toBeLessThan(200 * 1024);
    const reopened = await openStore('/db', { fileSystem: fileSystem.crash('keep-all') });
    expect(reopened.stats().recovery).toMatchObject({ records: 0, commits: 0 }); // the close checkpointed: nothing to read again
    expect(await reopened.get('key-00002999')).toBe('4:'.padEnd(100, 'v'));
    await reopened.close();
  });
});
