/**
 * store.compact()'s result says what the WAL's spare-space release freed
 * (`walSegmentsReleased`, `walBytesReleased`), as checkpoint() reports the segments it
 * deleted: the recycled pool files and a next segment prepared ahead that compact()
 * removed from wal/, with their bytes. Before, the result was the compaction's only,
 * and a user asking for space back could not see what the WAL gave.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';

const WAL_DIRECTORY = '/db/wal';
const OPTIONS = { segmentSizeBytes: 64 * 1024, memoryBudgetBytes: 4 * 1024 * 1024, checkpointOnClose: false } as const;

/** Every file of wal/ with its size. */
async function walFiles(fileSystem: FileSystem): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for (const name of await fileSystem.readdir(WAL_DIRECTORY)) {
    const handle = await fileSystem.open(`${WAL_DIRECTORY}/${name}`, 'read');
    files.set(name, await handle.size());
    await handle.close();
  }
  return files;
}

describe('store.compact() reports the WAL space it released', () => {
  it('counts the pool files and a prepared segment it removed, with their bytes; 0 and 0 when there is nothing to release', async () => {
    const fileSystem = new FaultFileSystem(11);
    const store = await openStore('/db', { fileSystem, ...OPTIONS });
    for (let index = 0; index < 160; index++) {
      await store.put(`key-${String(index).padStart(5, '0')}`, `value-${index}-${'x'.repeat(1500)}`);
      if ((index + 1) % 40 === 0) await store.checkpoint();
    }
    const before = await walFiles(fileSystem);
    const pool = [...before].filter(([name]) => name.startsWith('recycled-'));
    expect(pool.length, 'the workload fills the pool').toBeGreaterThan(0);
    const active = store.stats().walSegment;
    const prepared = [...before].filter(([name]) => name.startsWith('wal-') && Number(name.slice(4, 14)) > active);

    const result = await store.compact();
    const after = await walFiles(fileSystem);
    const removed = [...before].filter(([name]) => !after.has(name));
    expect(removed.map(([name]) => name).sort()).toEqual([...pool, ...prepared].map(([name]) => name).sort());
    expect(result.walSegmentsReleased).toBe(removed.length);
    const poolBytes = pool.reduce((total, [, size]) => total + size, 0);
    if (prepared.length === 0) {
      expect(result.walBytesReleased).toBe(poolBytes);
    } else {
      // A prepared new segment counts what its zero fill wrote, at most its file's size.
      expect(result.walBytesReleased).toBeGreaterThan(poolBytes);
      expect(result.walBytesReleased).toBeLessThanOrEqual(poolBytes + prepared.reduce((total, [, size]) => total + size, 0));
    }

    const again = await store.compact();
    expect([again.walSegmentsReleased, again.walBytesReleased]).toEqual([0, 0]);
    await store.close();
  });
});
