/**
 * Retention review: the retention floor never goes down (README: compact({ retainFrom })
 * "raises a store-wide floor ... never lowers it ... the manifest keeps it across
 * reopens"), and a read it refused stays refused after a reopen or a crash.
 *
 * compact({ retainFrom }) raised the floor in memory at once but wrote it to the
 * manifest only with the merge's output, after the merge: a compaction that close()
 * cancelled (or one that failed, or a crash during the merge) left the manifest's
 * floor where it was. Reads below the new floor were refused meanwhile and answered
 * again after the reopen; stats() had shown the higher floor. And a read below a
 * floor was refused before the edit recording that floor was durable.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, type Store } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';

const REFUSED = 'LADYBUG_VERSION_NOT_RETAINED';

async function readAsOf(store: Store, version: number): Promise<unknown> {
  try {
    return await store.get('k', { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

async function floorOnDisk(fileSystem: FaultFileSystem): Promise<number> {
  return (await Manifest.inspect(fileSystem, '/db', await loadHash64())).state.retentionFloor ?? 0;
}

/** k at 1..3, each version in a run of its own (too few for a background merge); every version answers (no per-key limit). */
async function threeRuns(fileSystem: FaultFileSystem): Promise<Store> {
  const store = await openStore('/db', { fileSystem });
  for (let index = 1; index <= 3; index++) {
    await store.put('k', `v${index}`);
    await store.checkpoint();
  }
  return store;
}

/** Starts compact({ retainFrom: 3 }) and holds it after its deciding step (reached) until release() is called. */
function heldCompaction(store: Store): { compaction: Promise<unknown>; reached: Promise<void>; release: () => void } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => {
    reach = resolve;
  });
  compactionTestHooks.onHorizon = () => {
    reach();
    return held;
  };
  const compaction = store.compact({ retainFrom: 3 }).catch((error: { code?: string }) => error.code);
  return { compaction, reached, release };
}

describe('retention review: the retention floor is durable once a read is refused below it', () => {
  it('a compact({ retainFrom }) cancelled by close() keeps the floor it raised', async () => {
    const fileSystem = new FaultFileSystem(41);
    let store = await threeRuns(fileSystem);
    try {
      const { compaction, reached, release } = heldCompaction(store);
      await reached;
      expect(await readAsOf(store, 2)).toBe(REFUSED);
      expect(store.stats().storage.compaction.retentionFloor).toBe(3);
      const closing = store.close();
      release();
      expect(await compaction).toBe('LADYBUG_STORE_CLOSED');
      await closing;
      store = await openStore('/db', { fileSystem });
      expect(store.stats().storage.compaction.retentionFloor, 'the floor after the reopen').toBe(3);
      expect(await readAsOf(store, 2), 'as of 2 after the reopen').toBe(REFUSED);
      expect(await readAsOf(store, 3)).toBe('v3');
    } finally {
      compactionTestHooks.onHorizon = undefined;
      await store.close();
    }
  });

  it('a crash during the merge keeps the floor a read was refused below', async () => {
    const fileSystem = new FaultFileSystem(42);
    const victim = await threeRuns(fileSystem);
    const { reached, release } = heldCompaction(victim);
    await reached;
    expect(await readAsOf(victim, 2)).toBe(REFUSED);
    compactionTestHooks.onHorizon = undefined;
    victim[abandonStore]();
    release();
    const store = await openStore('/db', { fileSystem: fileSystem.crash('drop-unsynced') });
    try {
      expect(store.stats().storage.compaction.retentionFloor, 'the floor after the crash').toBe(3);
      expect(await readAsOf(store, 2), 'as of 2 after the crash').toBe(REFUSED);
      expect(await readAsOf(store, 3)).toBe('v3');
    } finally {
      await store.close();
    }
  });

  it('a read below a floor being raised is refused only once the manifest holds the floor', async () => {
    const fileSystem = new FaultFileSystem(43);
    const store = await threeRuns(fileSystem);
    try {
      // Asked in the compaction's deciding step, right after the floor rose in memory.
      let refusal: Promise<string> | undefined;
      compactionTestHooks.onHorizon = () => {
        compactionTestHooks.onHorizon = undefined;
        refusal = store.get('k', { asOf: 1 }).then(
          () => 'answered',
          async (error: { code?: string }) => `${error.code} with the floor on disk at ${await floorOnDisk(fileSystem)}`,
        );
      };
      expect((await store.compact({ retainFrom: 3 })).retentionFloor).toBe(3);
      expect(await refusal).toBe(`${REFUSED} with the floor on disk at 3`);
    } finally {
      compactionTestHooks.onHorizon = undefined;
      await store.close();
    }
  });
});
