/**
 * Failures of an open while the fsyncs of the store's directories run beside it
 * (src/store/open-store.ts, createDirectories) and the lock is taken without a sync
 * (src/store/directory-lock.ts). Whichever step fails, and with a directory fsync
 * failing as well, the open rejects with the first step's typed error (no unhandled
 * rejection: vitest fails the file on one), leaves no live lock behind (the next open
 * succeeds) and loses no commit, also after a power loss right after the failed open.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem, type CrashMode, type FaultInjection } from '../src/fs/fault-file-system.js';
import { ErrorCode } from '../src/errors.js';
import { closedStore } from './support/closed-store.js';
import { openOn, scanAll, STORE_DIR } from './workload.js';

const MODES: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];


async function expectOpens(fileSystem: FaultFileSystem, expected: Map<string, unknown>): Promise<void> {
  const store = await openOn(fileSystem);
  try {
    expect(await scanAll(store)).toEqual(expected);
  } finally {
    await store.close();
  }
}

describe('an open failing beside its directory fsyncs', () => {
  it('refused by a live holder while a directory fsync fails: StoreLockedError, the holder unharmed', async () => {
    const { fileSystem, expected } = await closedStore(1, 12);
    const holder = await openOn(fileSystem);
    fileSystem.injectFault({ operation: 'syncDirectory', error: 'EIO', path: STORE_DIR });
    await expect(openOn(fileSystem)).rejects.toMatchObject({ code: ErrorCode.StoreLocked });
    await holder.put('after', 'refused open');
    expected.set('after', 'refused open');
    await holder.close();
    await expectOpens(fileSystem, expected);
  });

  const failures: Array<{ name: string; fault: FaultInjection }> = [
    { name: 'the lock temporary cannot be linked', fault: { operation: 'link', error: 'EIO', path: /LOCK\.tmp-/ } },
    { name: 'the generations cannot be listed after linking', fault: { operation: 'readdir', error: 'EIO', path: STORE_DIR, nth: 2 } },
    { name: 'the manifest cannot be listed', fault: { operation: 'readdir', error: 'EIO', path: `${STORE_DIR}/manifest` } },
    { name: 'wal/ cannot be listed', fault: { operation: 'readdir', error: 'EIO', path: `${STORE_DIR}/wal` } },
  ];
  for (const { name, fault } of failures) {
    for (const syncFails of [false, true]) {
      it(`${name}${syncFails ? ', and the parent directory fsync fails too' : ''}: IoError, no live lock left, every commit kept after a power loss`, async () => {
        const { fileSystem, expected } = await closedStore(2, 12);
        const injected = fileSystem.injectFault(fault);
        if (syncFails) fileSystem.injectFault({ operation: 'syncDirectory', error: 'EIO', path: '/' });
        await expect(openOn(fileSystem)).rejects.toMatchObject({ code: ErrorCode.Io });
        expect(injected.triggeredCount).toBe(1);
        await expectOpens(fileSystem, expected);
        // The same failure, then a power loss: whatever the failed open left of its lock never stops an open.
        for (const mode of MODES) {
          const again = await closedStore(3, 12);
          again.fileSystem.injectFault(fault);
          if (syncFails) again.fileSystem.injectFault({ operation: 'syncDirectory', error: 'EIO', path: '/' });
          await expect(openOn(again.fileSystem)).rejects.toMatchObject({ code: ErrorCode.Io });
          await expectOpens(again.fileSystem.crash(mode), again.expected);
        }
      });
    }
  }
});
