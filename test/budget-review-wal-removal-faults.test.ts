/**
 * A full disk met while a flush removes the WAL segments its run covers (renaming the
 * newest into the recycled pool: a rename into a longer name may need a new directory
 * block, ENOSPC on a full disk) is not a failed flush: the run and the manifest edit are
 * durable and the memtable installed, so the store goes on (README: DiskFullError leaves
 * the store usable; only a manifest edit's ENOSPC once its first copy may hold it is
 * final), and the segments left are removed by a later flush, checkpoint or open.
 */
import { describe, expect, it } from 'vitest';
import { DiskFullError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type StoreOptions } from '../src/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';

const OPTIONS: StoreOptions = { segmentSizeBytes: 64 * 1024, maxValueBytes: 4096, memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN };
const WAL_SEGMENT = /^\/db\/wal\/wal-\d+\.log$/;

describe('ENOSPC while a flush removes the WAL it covers', () => {
  it('leaves the store usable and the segments for a later removal; nothing acknowledged is lost', async () => {
    const fileSystem = new FaultFileSystem(3);
    const store = await openStore('/db', { ...OPTIONS, fileSystem });
    const full = fileSystem.injectFault({ operation: 'rename', path: /\/db\/wal\//, error: 'ENOSPC', persistent: true });
    const model = new Map<string, string>();
    for (let index = 0; index < 400; index++) {
      const key = `k${index % 50}`;
      const value = `${index}`.padEnd(1000, 'v');
      await store.put(key, value);
      model.set(key, value);
    }
    expect(full.triggeredCount).toBeGreaterThan(0); // flushes met the full disk at their WAL removal
    expect(store.stats().failed).toBe(false);
    expect(store.stats().storage.flushes).toBeGreaterThan(0);
    const segmentsWhileFull = fileSystem.listPaths().filter((path) => WAL_SEGMENT.test(path)).length;
    full.remove();
    await store.put('after', 'space');
    model.set('after', 'space');
    await store.checkpoint();
    expect(fileSystem.listPaths().filter((path) => WAL_SEGMENT.test(path)).length).toBeLessThan(segmentsWhileFull);
    await store.close();
    const reopened = await openStore('/db', { ...OPTIONS, fileSystem });
    for (const [key, value] of model) expect(await reopened.get(key)).toBe(value);
    await reopened.close();
  });

  it('a checkpoint that meets it rejects with DiskFullError and leaves the store usable', async () => {
    const fileSystem = new FaultFileSystem(4);
    const store = await openStore('/db', { ...OPTIONS, fileSystem });
    for (let index = 0; index < 200; index++) await store.put(`k${index % 50}`, `${index}`.padEnd(1000, 'v'));
    const full = fileSystem.injectFault({ operation: 'rename', path: /\/db\/wal\//, error: 'ENOSPC', persistent: true });
    const outcome = await store.checkpoint().then(() => undefined, (error: unknown) => error);
    expect(full.triggeredCount).toBeGreaterThan(0);
    expect(outcome).toBeInstanceOf(DiskFullError);
    expect(store.stats().failed).toBe(false);
    full.remove();
    await store.put('after', 'space');
    await store.checkpoint();
    await store.close();
    const reopened = await openStore('/db', { ...OPTIONS, fileSystem });
    expect(await reopened.get('after')).toBe('space');
    expect(await reopened.get('k49')).toBe('199'.padEnd(1000, 'v'));
    await reopened.close();
  });
});
