/**
 * Review of the session's retention changes (f6583e4): compaction drops a delete
 * visible at the retention floor only when its inputs hold every version of the key
 * (every live run, and no memtable holding a newer version). "No memtable holds a newer
 * version" was read as memtables.appliedVersion > manifest.flushedVersion, but a flush
 * records its run in the manifest (flushedVersion rises to the memtable's last version)
 * before it installs the run: in between, the memtable's versions are in no live run,
 * yet the check said memory held nothing newer. A compact({ retainFrom }) deciding there
 * merged every live run as if it held every version, dropped c's delete at the floor
 * while c's newer version sat in the flushing memtable, and c as of the floor, refused
 * before (maxVersionsPerKey 1: c at 3 is the one retained), answered "absent" after.
 * The test widens that window (the flush's manifest edit is held once it is durable,
 * before the install) and compacts inside it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest, type ManifestEdit } from '../src/manifest/manifest.js';
import { openStore, type Store } from '../src/index.js';

const originalApply = Manifest.prototype.apply;
afterEach(() => {
  Manifest.prototype.apply = originalApply;
});

async function readAsOf(store: Store, key: string, version: number): Promise<unknown> {
  try {
    return await store.get(key, { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('retention review: a delete at the floor while a flush is between its manifest edit and its install', () => {
  it('stays refused after a compact({ retainFrom }) of every live run decided in that window', async () => {
    let armed = false;
    let reached!: () => void;
    const inWindow = new Promise<void>((resolve) => (reached = resolve));
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    Manifest.prototype.apply = async function apply(this: Manifest, edit: ManifestEdit): Promise<void> {
      await originalApply.call(this, edit);
      if (armed && edit.flushedVersion !== undefined && (edit.addRuns?.length ?? 0) > 0) {
        armed = false;
        reached();
        await gate; // durable, not yet installed
      }
    };
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(91), maxVersionsPerKey: 1, memoryBudgetBytes: 256 * 1024 });
    try {
      await store.put('a', 'a1');
      await store.put('c', 'c2');
      await store.delete('c'); // version 3
      await store.checkpoint();
      await store.put('c', 'c4'); // version 4, in memory
      expect(await readAsOf(store, 'c', 3)).toBe('LADYBUG_VERSION_NOT_RETAINED');
      // Fill the memtable until it seals: its flush runs in the background and is held in the window.
      armed = true;
      const filler = 'x'.repeat(2000);
      for (let index = 0; store.stats().storage.immutableMemtables === 0 && index < 1000; index++) await store.put(`p${String(index).padStart(4, '0')}`, filler);
      await inWindow;
      expect(store.stats().storage.runs, 'the flushed run is not installed yet').toBe(1);
      expect(store.stats().storage.memtableBytes, 'nothing written after the seal').toBe(0);
      expect(await readAsOf(store, 'c', 3)).toBe('LADYBUG_VERSION_NOT_RETAINED');
      const result = await store.compact({ retainFrom: 3 });
      expect(result.retentionFloor).toBe(3);
      letGo();
      await store.checkpoint();
      expect(await readAsOf(store, 'c', 4)).toBe('c4');
      expect(await readAsOf(store, 'a', 3)).toBe('a1');
      expect(await readAsOf(store, 'c', 3), 'c as of the floor after the merge').toBe('LADYBUG_VERSION_NOT_RETAINED');
    } finally {
      letGo();
      await store.close();
    }
  });
});
