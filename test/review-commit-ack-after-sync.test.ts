/**
 * Review of cc74905 (records whose writers all wait ask for the blocking fdatasync
 * hint, groups included): no put resolves before the fdatasync of the write holding
 * its record has completed, and every put resolves, whatever the hint. A wrapper file
 * system delays each WAL datasync by 0-3 event-loop turns and marks the writes made
 * before it synced once it resolves; each put's key (unique bytes) is looked up in the
 * writes when the put resolves. Workloads: a sequential writer (lone commits, hinted),
 * closed-loop writers (groups, hinted), writers arriving on their own during held
 * syncs (not hinted), over 16 KiB segments (rotations, groups split over segments)
 * and a small memory budget (seals and cuts).
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

interface WalWrite {
  bytes: Buffer;
  synced: boolean;
}

class SyncTrackingFileSystem extends ForwardingFileSystem {
  readonly writes: WalWrite[] = [];
  readonly hints: Array<boolean | undefined> = [];
  #turn = 0;

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    // A segment made from a recycled file (WAL format 2) is opened under its pool name, then renamed.
    if (!/\/wal\/(wal-\d+|recycled-\d+-\d+)\.log$/.test(path)) return handle;
    let pending: WalWrite[] = [];
    return replaceMethods(handle, {
      write: (data, position) => {
        const write = { bytes: Buffer.from(data), synced: false };
        this.writes.push(write);
        pending.push(write);
        return handle.write(data, position);
      },
      datasync: async (mayBlock) => {
        this.hints.push(mayBlock);
        const covered = pending;
        pending = [];
        const turns = this.#turn++ % 4;
        for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setImmediate(resolve));
        await handle.datasync(mayBlock);
        for (const write of covered) write.synced = true;
      },
    });
  }

  /** Whether the write holding `key`'s bytes has been synced (undefined: not written at all). */
  syncedFor(key: string): boolean | undefined {
    const needle = Buffer.from(key, 'latin1');
    let found: boolean | undefined;
    for (const write of this.writes) if (write.bytes.includes(needle)) found = (found ?? false) || write.synced;
    return found;
  }
}

describe('review of cc74905: a put resolves only after its record is synced, hinted or not', () => {
  it('sequential, closed-loop and self-arriving writers over rotating segments and seals', async () => {
    const fileSystem = new SyncTrackingFileSystem(new FaultFileSystem(3));
    const store = await openStore('/db', { fileSystem, segmentSizeBytes: 16 * 1024, memoryBudgetBytes: 256 * 1024 });
    const problems: string[] = [];
    let serial = 0;
    const put = async (tag: string, valueBytes: number): Promise<void> => {
      const key = `<${tag}:${String(serial++).padStart(6, '0')}>`;
      await store.put(key, 'v'.repeat(valueBytes));
      const synced = fileSystem.syncedFor(key);
      if (synced !== true) problems.push(`${key} resolved with its record ${synced === undefined ? 'never written' : 'not yet synced'}`);
    };
    // A sequential writer: lone commits.
    for (let index = 0; index < 150; index++) await put('seq', 100 + (index % 7) * 300);
    // Closed-loop writers: groups.
    await Promise.all(Array.from({ length: 16 }, async (_, writer) => {
      for (let index = 0; index < 40; index++) await put(`w${writer}`, 50 + ((index * 13 + writer) % 11) * 250);
    }));
    // Writers arriving on their own (not awaiting each other), during held syncs.
    const arrivals: Array<Promise<void>> = [];
    for (let index = 0; index < 400; index++) {
      arrivals.push(put('arrive', 200 + (index % 5) * 400));
      if (index % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(arrivals);
    expect(problems).toEqual([]);
    // Both hint values occurred: the paths under review were crossed.
    expect(fileSystem.hints).toContain(true);
    expect(fileSystem.hints).toContain(false);
    expect(store.stats().storage.flushes).toBeGreaterThan(0);
    await store.close();
  }, 60_000);
});
