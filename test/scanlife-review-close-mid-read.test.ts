/**
 * A read in flight when close() runs must not open a run file after close: the store
 * closes every run's reader, and a get, snapshot get, history or scan that was waiting
 * on one run's read then went on to the next run and opened it again, a file descriptor
 * nothing closes (after a reopen and a compaction in the same process, the space of the
 * unlinked run stays held too). Now such a read ends with StoreClosedError, or answers
 * what it had read before close, and no run file stays open. No timing: the test holds
 * the reads of one run file and lets them go after close() has run.
 */
import { describe, expect, it } from 'vitest';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { countedHandle, ForwardingFileSystem } from './support/file-system-wrappers.js';
import { HoldingFileSystem } from './support/holding-file-system.js';

const OPTIONS = { memoryBudgetBytes: 1024 * 1024, segmentSizeBytes: 64 * 1024, checkpointOnClose: false } as const;

/** Counts the run files' open handles (by path). */
class CountingFileSystem extends ForwardingFileSystem {
  readonly runHandles = { openHandles: 0 };
  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return path.endsWith('.run') ? countedHandle(handle, this.runHandles) : handle;
  }
}

const key = (index: number) => `k${String(index).padStart(5, '0')}`;

/** Three runs over the same key span (no compaction: three runs are one tier's share), every key in the oldest. */
async function threeRunStore(fault: FaultFileSystem): Promise<void> {
  const store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
  for (let round = 0; round < 3; round++) {
    for (let index = round; index < 600; index += 3) await store.put(key(index), `value ${index}`);
    await store.checkpoint();
  }
  expect(store.stats().storage.runs).toBe(3);
  await store.close();
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

type Read = (store: Store) => Promise<unknown>;

/** Each reads k00300 (in the oldest run; the newer two are read first). */
const READS: Record<string, Read> = {
  'a get': (store) => store.get(key(300)),
  'a snapshot get': async (store) => (await store.snapshot()).get(key(300)),
  'a history': (store) => store.history(key(300)),
  'a transaction get': (store) => store.transaction((tx) => tx.get(key(300))),
  'a scan': (store) => store.scan({ gte: key(300) }).next(),
  'a reverse snapshot scan': async (store) => (await store.snapshot()).scan({ lte: key(300), reverse: true }).next(),
};

describe('a read in flight at close opens no run file after it', () => {
  for (const [name, read] of Object.entries(READS)) {
    it(name, async () => {
      const fault = new FaultFileSystem(7);
      await threeRunStore(fault);
      const counting = new CountingFileSystem(fault);
      const holding = new HoldingFileSystem(counting);
      const store = await openStore('/db', { ...OPTIONS, fileSystem: holding.proxy() });
      const runs = (await fault.readdir('/db/runs')).sort();
      holding.held.add(`/db/runs/${runs[1]!}`); // the middle run: read after the newest, before the oldest
      holding.hold();
      const outcome = read(store).then((value) => ({ value }), (error: unknown) => ({ error }));
      for (let turn = 0; turn < 100 && holding.heldReads === 0; turn++) await turns(1);
      expect(holding.heldReads, 'the read waits on the middle run').toBeGreaterThan(0);
      const closing = store.close();
      await turns(20);
      holding.letGo();
      await closing;
      const settled = await outcome;
      await turns(20);
      expect(counting.runHandles.openHandles, 'run files open after close').toBe(0);
      if ('error' in settled) expect(settled.error).toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
    });
  }
});
