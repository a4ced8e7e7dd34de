/**
 * A prepared WAL segment whose creation failed (EIO on its fsync) and that a checkpoint's
 * rotation then removes unused (it is larger than the checkpoint's 16 KiB segment). The
 * failure was dropped with the segment (NextSegment#discard caught it), the checkpoint
 * made its own segment and the store went on trusting that directory's later fsyncs.
 * Now the failure is the WAL writer's, final (WalWriter#failure): the checkpoint
 * rejects with it, the next put fails the store, close() completes (it skips the
 * checkpoint of a failed writer, rather than failing on it at every call) and a reopen
 * after a power loss has every acknowledged put.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';

const VALUE = 'v'.repeat(10_000);

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

describe('a prepared segment whose fsync failed, removed unused by a checkpoint', () => {
  it('the failure is final: the checkpoint and later puts are refused, close completes, nothing acknowledged is lost', async () => {
    const fileSystem = new FaultFileSystem(21);
    const store = await openStore('/db', { fileSystem, checkpointOnClose: true });
    const fault = fileSystem.injectFault({ operation: 'sync', error: 'EIO', path: '/db/wal/wal-0000000002.log' });
    // Past half of the 64 KiB first segment: segment 2 (128 KiB) is prepared in the background, and its fsync fails.
    for (let index = 0; index < 4; index++) await store.put(`key-${index}`, VALUE);
    await turns(10);
    expect(fault.triggeredCount).toBe(1);
    expect(store.stats().walSegment).toBe(1);
    // Before: the checkpoint resolved (the failure dropped with the segment) and the put after it was acknowledged.
    await expect(store.checkpoint()).rejects.toMatchObject({ message: expect.stringContaining('EIO') });
    await expect(store.put('after', 1)).rejects.toMatchObject({ code: ErrorCode.StoreFailed });
    expect(store.stats().failed).toBe(true);
    await store.close();
    const reopened = await openStore('/db', { fileSystem: fileSystem.crash('drop-unsynced') });
    for (let index = 0; index < 4; index++) expect(await reopened.get(`key-${index}`)).toBe(VALUE);
    expect(await reopened.get('after')).toBeUndefined();
    await reopened.put('after', 2);
    await reopened.close();
  });

  it('close() right after the refused checkpoint, with no put between, completes and keeps the WAL', async () => {
    const fileSystem = new FaultFileSystem(22);
    const store = await openStore('/db', { fileSystem, checkpointOnClose: true });
    const fault = fileSystem.injectFault({ operation: 'sync', error: 'EIO', path: '/db/wal/wal-0000000002.log' });
    for (let index = 0; index < 4; index++) await store.put(`key-${index}`, VALUE);
    await turns(10);
    expect(fault.triggeredCount).toBe(1);
    await expect(store.checkpoint()).rejects.toMatchObject({ message: expect.stringContaining('EIO') });
    // The close's own checkpoint would meet the writer's failure at every call: it is skipped, as for a failed store.
    await store.close();
    const reopened = await openStore('/db', { fileSystem: fileSystem.crash('drop-unsynced') });
    for (let index = 0; index < 4; index++) expect(await reopened.get(`key-${index}`)).toBe(VALUE);
    await reopened.close();
  });
});
