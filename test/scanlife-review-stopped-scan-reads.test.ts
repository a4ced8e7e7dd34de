/**
 * A scan ended while its step waits on the runs stops reading. MergedScan#close during
 * the opening of the run cursors (a snapshot released under a scan's first step, a
 * throw() into it, a close) was undone when the opening resolved: the cursors were
 * assigned after it and the step read its whole chunk from the files (256 keys' blocks
 * of every run) for an answer nobody would take. Now the step stops there, the cursors
 * it opened closed. The test counts the run file reads after the held ones are let go.
 */
import { describe, expect, it } from 'vitest';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { HoldingFileSystem } from './support/holding-file-system.js';

const OPTIONS = { memoryBudgetBytes: 4 * 1024 * 1024, checkpointOnClose: false } as const;

class ReadCounting extends ForwardingFileSystem {
  runReads = 0;
  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    if (!path.endsWith('.run')) return handle;
    return replaceMethods(handle, {
      read: (buffer, offset, length, position) => {
        this.runReads++;
        return handle.read(buffer, offset, length, position);
      },
    });
  }
}

const key = (index: number) => `k${String(index).padStart(5, '0')}`;

describe('a scan ended during its first step', () => {
  it('reads no chunk after the snapshot is released', async () => {
    const fault = new FaultFileSystem(9);
    let store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    for (let round = 0; round < 2; round++) {
      for (let index = round; index < 1200; index += 2) await store.put(key(index), `${index}:${'v'.repeat(1000)}`);
      await store.checkpoint();
    }
    await store.close();
    const counting = new ReadCounting(fault);
    const holding = new HoldingFileSystem(counting);
    store = await openStore('/db', { ...OPTIONS, fileSystem: holding.proxy() });
    try {
      for (const name of await fault.readdir('/db/runs')) holding.held.add(`/db/runs/${name}`);
      const snapshot = await store.snapshot();
      holding.hold();
      const step = snapshot.scan()[Symbol.asyncIterator]().next().then(() => 'answered', (error: unknown) => error);
      for (let turn = 0; turn < 100 && holding.heldReads === 0; turn++) await new Promise((resolve) => setImmediate(resolve));
      expect(holding.heldReads).toBeGreaterThan(0);
      await snapshot.release();
      const before = counting.runReads;
      holding.letGo();
      expect(await step).toMatchObject({ code: 'LADYBUG_SNAPSHOT_RELEASED' });
      for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
      const after = counting.runReads - before;
      expect(after, "run file reads after the release").toBeLessThan(50);
    } finally {
      holding.letGo();
      await store.close();
    }
  });
});
