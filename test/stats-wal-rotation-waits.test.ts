/**
 * store.stats().sinceOpen.walRotationWaits / walRotationWaitMs: the WAL rotations
 * whose commits waited in the foreground for the next segment's creation
 * (WalWriter#stats().rotationWaits, issue 12), beside the WAL's other figures. Before,
 * only the writer counted them, so a user seeing a commit latency spike at a segment
 * boundary could not tell it from the store's stats.
 *
 * Here the creation of every segment after the store's first is held (its
 * open(createExclusive)) until a commit is waiting at the rotation, so exactly that
 * rotation waits.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';

/** Holds the creation of new WAL segment files while armed. */
class HeldSegmentCreation extends ForwardingFileSystem {
  armed = false;
  held = 0;
  #release: () => void = () => undefined;
  readonly #gate = new Promise<void>((resolve) => {
    this.#release = resolve;
  });

  release(): void {
    this.armed = false;
    this.#release();
  }

  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    if (this.armed && mode === 'createExclusive' && /\/wal\/wal-\d+\.log$/.test(path)) {
      this.held++;
      await this.#gate;
    }
    return super.open(path, mode);
  }
}

describe('stats(): WAL rotation waits', () => {
  it('a commit that waited at a rotation for its segment is counted in sinceOpen.walRotationWaits', async () => {
    const fileSystem = new HeldSegmentCreation(new FaultFileSystem(5));
    const store = await openStore('/db', { fileSystem, segmentSizeBytes: 64 * 1024, checkpointOnClose: false });
    expect(store.stats().sinceOpen.walRotationWaits).toBe(0);
    const segment = store.stats().walSegment;
    fileSystem.armed = true;
    // 24 concurrent 4 KiB puts: more than the 64 KiB segment holds, so the writer reaches a
    // rotation while the next segment's creation is held. On the in-memory file system
    // commits need only turns of the event loop: once the settled count stops growing, the
    // puts left wait for the rotation (nothing else is held).
    const puts = Array.from({ length: 24 }, (_, index) => store.put(`key-${index}`, 'x'.repeat(4000)));
    let settled = 0;
    for (const put of puts) void put.then(() => settled++);
    for (let turn = 0, quiet = 0, last = -1; turn < 10_000 && quiet < 200; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      quiet = settled === last ? quiet + 1 : 0;
      last = settled;
    }
    expect(fileSystem.held, 'the next segment\'s creation was held').toBeGreaterThan(0);
    expect(settled, 'puts wait at the rotation').toBeLessThan(puts.length);
    fileSystem.release();
    await Promise.all(puts);
    for (let more = 0; more < 4; more++) await store.put(`after-${more}`, more);
    const stats = store.stats();
    expect(stats.walSegment).toBeGreaterThan(segment);
    expect(stats.sinceOpen.walRotationWaits).toBe(1);
    expect(stats.sinceOpen.walRotationWaitMs).toBeGreaterThan(0);
    await store.close();
  });
});
