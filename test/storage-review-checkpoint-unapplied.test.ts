/**
 * A checkpoint moves the WAL start (and deletes the segments below it) only past records
 * that are in durable runs. Probe: a commit's WAL fdatasync is held (GatedFileSystem) while
 * later commits, enough to fill the segment past its end, are made, and checkpoint() is
 * called meanwhile; then the fdatasync is released, every commit is acknowledged, and the
 * machine crashes (each crash mode). The reopen must hold every acknowledged commit: a WAL
 * start moved to a newer segment while the held commit was still unapplied would leave it
 * in no run and in no replayed segment. (Observed: the later commits wait behind the held
 * group, no rotation happens meanwhile, and the checkpoint waits for them.)
 */
import { describe, expect, it } from 'vitest';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';

const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
const OPTIONS = { segmentSizeBytes: 64 * 1024 };

const settled = async (promise: Promise<unknown>): Promise<unknown> => promise.then(() => 'resolved', (error: unknown) => error);
const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

describe('checkpoint while a commit waits for its WAL fdatasync across a rotation', () => {
  for (const mode of MODES) {
    it(`${mode}: every acknowledged commit is there after a crash`, async () => {
      const inner = new FaultFileSystem(97);
      const fileSystem = new GatedFileSystem(inner);
      const store = await openStore('/db', { fileSystem, ...OPTIONS });
      await store.put('base', 'b');
      await store.checkpoint();
      fileSystem.armed = true;
      const held = store.put('held', 'h'.repeat(1000));
      const first = await fileSystem.nextHeld();
      // Later commits, enough to fill the segment past its end, while the first waits.
      const later = Array.from({ length: 8 }, (_, index) => store.put(`later-${index}`, String(index).repeat(12_000)));
      await turns(50);
      const checkpoint = store.checkpoint();
      await turns(50);
      first.release();
      fileSystem.releaseAll();
      expect(await settled(held)).toBe('resolved');
      for (const put of later) expect(await settled(put)).toBe('resolved');
      expect(await settled(checkpoint)).toBe('resolved');
      store[abandonStore]();
      const rebooted = inner.crash(mode);
      const reopened = await openStore('/db', { fileSystem: rebooted, ...OPTIONS });
      expect(await reopened.get('base')).toBe('b');
      expect(await reopened.get('held')).toBe('h'.repeat(1000));
      for (let index = 0; index < 8; index++) expect(await reopened.get(`later-${index}`), `later-${index}`).toBe(String(index).repeat(12_000));
      await reopened.close();
    });
  }
});
