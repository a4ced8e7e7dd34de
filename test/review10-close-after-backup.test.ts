/**
 * Review 10 (a new user's shutdown): `const taken = store.backup(dir); await store.close()`
 * rejected the backup with StoreClosedError ("store is closed: cannot backup"), although
 * the store was open when backup() was called and the README says close() waits for a
 * running backup; checkpoint() called just before close() was refused the same way. Both
 * queue on the lifecycle lock, and close() marks the store closing at once, so when the
 * lock was granted they found it closing. They now run, and close() (queued behind them
 * on that lock) waits for them. A call made after close() is still refused.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openStore, StoreClosedError, verifyBackup } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterAll(() => removeTemporaryDirectories());

async function storeWithData(): Promise<{ directory: string; store: Awaited<ReturnType<typeof openStore>> }> {
  const directory = join(temporaryDirectory('ladybug-review10-close-'), 'store');
  const store = await openStore(directory);
  for (let index = 0; index < 50; index++) await store.put(`k${index}`, index);
  return { directory, store };
}

describe('review10: work called before close() is not refused by it', () => {
  it('a backup called before close() completes, and close() waits for it', async () => {
    const { directory, store } = await storeWithData();
    const target = join(temporaryDirectory('ladybug-review10-backup-'), 'backup');
    const taken = store.backup(target);
    const closed = store.close();
    const result = await taken;
    await closed;
    expect(result.version).toBe(50);
    const report = await verifyBackup(target);
    expect(report.ok).toBe(true);
    expect(report.version).toBe(50);
    const reopened = await openStore(directory);
    expect(await reopened.get('k49')).toBe(49);
    await reopened.close();
  });

  it('a checkpoint called before close() completes', async () => {
    const { store } = await storeWithData();
    const checkpointed = store.checkpoint();
    const closed = store.close();
    expect((await checkpointed).flushedVersion).toBe(50);
    await closed;
  });

  it('a backup or checkpoint called after close() is still refused', async () => {
    const { store } = await storeWithData();
    const closed = store.close();
    await expect(store.backup(join(temporaryDirectory('ladybug-review10-backup-'), 'late'))).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.checkpoint()).rejects.toBeInstanceOf(StoreClosedError);
    await closed;
    await expect(store.checkpoint()).rejects.toBeInstanceOf(StoreClosedError);
  });
});
