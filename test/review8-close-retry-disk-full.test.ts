/**
 * A close() that failed because the disk was full can be called again once space is
 * back, and then closes: close's steps are idempotent (store-maintenance.ts), but its
 * checkpoint ran again on the engine the first call had already closed, and that
 * rejected with StoreClosedError ('cannot apply a manifest edit') on every retry, so
 * the handle could never be closed and its directory lock never released.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';

describe('close() after a full disk', () => {
  it('closes when called again once the disk has room, and nothing acknowledged is lost', async () => {
    const fileSystem = new FaultFileSystem(11);
    const store = await openStore('/db', { fileSystem });
    await store.put('a', 'one');
    await store.put('b', 'two');
    // Every write fails from now on: close's checkpoint (a full disk skips it) and then its last steps.
    const full = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', persistent: true });
    const first = await store.close().then(() => undefined, (error: unknown) => error);
    expect(first).toMatchObject({ code: ErrorCode.DiskFull });
    full.remove();
    // Space is back: the retry finishes the close.
    await expect(store.close()).resolves.toBeUndefined();
    const reopened = await openStore('/db', { fileSystem });
    expect(await reopened.get('a')).toBe('one');
    expect(await reopened.get('b')).toBe('two');
    await reopened.close();
  });
});
