/**
 * Adversarial review of the WAL cut at memtable seals (0f385c6, f756721): a seal at
 * the end of a record cuts the log (WalWriter#cutAtNextRecord), the next record goes
 * into a new segment, and the flush of the sealed memtable records that segment as
 * the WAL start and deletes the segments below it.
 *
 * Tried here:
 * - the cut's rotation fails (ENOSPC creating the segment): the flush records a WAL
 *   start naming a segment that does not exist yet; later writes are refused, never
 *   written into the cut-off segment; a crash then, or after the disk frees up,
 *   reopens with exactly the acknowledged data;
 * - a checkpoint's seal while a later group's fdatasync is in flight, then a crash.
 */
import { describe, expect, it } from 'vitest';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore, type Store } from '../src/store/store.js';
import { GatedFileSystem, WAL_SEGMENT_OR_RECYCLED } from './support/file-system-wrappers.js';

const DIRECTORY = '/db';
const WAL_SEGMENT = /wal\/wal-\d+\.log$/;
/** Memtable share 32 KiB: a few hundred puts of VALUE seal one through the commit path. */
const OPTIONS = { memoryBudgetBytes: 256 * 1024, checkpointOnClose: false } as const;
const PUTS_MAX = 5000;
const VALUE = 'v'.repeat(100);
/** Every crash mode of the fault file system: torn-last-write keeps all pending data but a strict prefix of the last write. */
const CRASH_MODES_TRIED: readonly CrashMode[] = ['drop-unsynced', 'keep-all', 'random-subset', 'torn-last-write'];

interface Model {
  acknowledged: Map<string, unknown>;
  refused: string[];
}

/** Puts keys one at a time until a flush of a memtable sealed by the commit path installed its run. */
async function writeUntilFlushed(store: Store, model: Model, tag: string): Promise<void> {
  const flushesBefore = store.stats().storage.flushes;
  for (let index = 0; index < PUTS_MAX; index++) {
    const key = `${tag}/${String(index).padStart(5, '0')}`;
    try {
      await store.put(key, VALUE);
      model.acknowledged.set(key, VALUE);
    } catch (error) {
      expect(error).toMatchObject({ code: 'LADYBUG_DISK_FULL' });
      model.refused.push(key);
    }
    if (store.stats().storage.flushes > flushesBefore) return;
  }
  throw new Error(`no flush after ${PUTS_MAX} puts`);
}

async function walSegments(fileSystem: FaultFileSystem): Promise<string[]> {
  return (await fileSystem.readdir(`${DIRECTORY}/wal`)).filter((name) => /^wal-\d+\.log$/.test(name)).sort();
}

async function expectExactly(store: Store, model: Model): Promise<void> {
  for (const [key, value] of model.acknowledged) expect(await store.get(key), key).toBe(value);
  for (const key of model.refused) expect(await store.get(key), key).toBeUndefined();
}

async function crashAndReopen(fileSystem: FaultFileSystem, store: Store, mode: CrashMode): Promise<{ store: Store; fileSystem: FaultFileSystem }> {
  const rebooted = fileSystem.crash(mode);
  store[abandonStore](); // the process died: its lock goes with it
  return { store: await openStore(DIRECTORY, { ...OPTIONS, fileSystem: rebooted }), fileSystem: rebooted };
}

describe('WAL cut at a seal whose rotation fails (disk full)', () => {
  for (const mode of CRASH_MODES_TRIED) {
    it(`${mode}: a flush records a WAL start not yet created; later writes are refused; a crash reopens exactly`, async () => {
      const fileSystem = new FaultFileSystem(41);
      const store = await openStore(DIRECTORY, { ...OPTIONS, fileSystem });
      const model: Model = { acknowledged: new Map(), refused: [] };
      const fault = fileSystem.injectFault({ operation: 'open', error: 'ENOSPC', path: WAL_SEGMENT, persistent: true });
      await writeUntilFlushed(store, model, 'a');
      expect(fault.triggeredCount, 'the cut rotation hit the full disk').toBeGreaterThan(0);
      // The cut is pending: no record may go into the cut-off segment.
      for (let index = 0; index < 3; index++) {
        await expect(store.put(`refused/${index}`, index)).rejects.toMatchObject({ code: 'LADYBUG_DISK_FULL' });
        model.refused.push(`refused/${index}`);
      }
      await expectExactly(store, model);
      const reopened = await crashAndReopen(fileSystem, store, mode);
      await expectExactly(reopened.store, model);
      await reopened.store.put('after', 1);
      expect(await reopened.store.get('after')).toBe(1);
      await reopened.store.close();
    });
  }

  it('a clean close while the cut waits reopens at the recorded WAL start (the segment is made at open)', async () => {
    const fileSystem = new FaultFileSystem(44);
    const store = await openStore(DIRECTORY, { ...OPTIONS, fileSystem });
    const model: Model = { acknowledged: new Map(), refused: [] };
    const fault = fileSystem.injectFault({ operation: 'open', error: 'ENOSPC', path: WAL_SEGMENT, persistent: true });
    await writeUntilFlushed(store, model, 'a');
    await store.close();
    fault.remove();
    const reopened = await openStore(DIRECTORY, { ...OPTIONS, fileSystem });
    await expectExactly(reopened, model);
    await reopened.put('after', 1);
    await reopened.close();
    const again = await openStore(DIRECTORY, { ...OPTIONS, fileSystem });
    await expectExactly(again, model);
    expect(await again.get('after')).toBe(1);
    await again.close();
  });

  it('once the disk has room the next write makes the segment, and a crash after it reopens exactly', async () => {
    const fileSystem = new FaultFileSystem(42);
    const store = await openStore(DIRECTORY, { ...OPTIONS, fileSystem });
    const model: Model = { acknowledged: new Map(), refused: [] };
    const fault = fileSystem.injectFault({ operation: 'open', error: 'ENOSPC', path: WAL_SEGMENT, persistent: true });
    await writeUntilFlushed(store, model, 'a');
    // A second seal with no record since the first (a checkpoint, its rotation failing too).
    await expect(store.checkpoint()).resolves.toMatchObject({ flushedVersion: store.version });
    const segmentsWhileFull = await walSegments(fileSystem);
    expect(segmentsWhileFull.length, 'the writer keeps its segment').toBeGreaterThan(0);
    fault.remove();
    for (let index = 0; index < 20; index++) {
      await store.put(`b/${index}`, index);
      model.acknowledged.set(`b/${index}`, index);
    }
    const segmentsAfter = await walSegments(fileSystem);
    expect(segmentsAfter.at(-1)! > segmentsWhileFull.at(-1)!, 'the writes after the cut went into a new segment').toBe(true);
    // A second memtable sealed and flushed after the failed rotation: every segment below its start goes.
    await writeUntilFlushed(store, model, 'c');
    const reopened = await crashAndReopen(fileSystem, store, 'drop-unsynced');
    await expectExactly(reopened.store, model);
    await reopened.store.close();
  });
});

describe('a checkpoint seal while a later group is being written', () => {
  for (const [release, mode] of [false, true].flatMap((release) => CRASH_MODES_TRIED.map((mode) => [release, mode] as const))) {
    it(`${release ? 'acknowledged' : 'in flight'} at the crash, ${mode}: the checkpointed data and every acknowledged write survive`, async () => {
      const faults = new FaultFileSystem(43);
      const fileSystem = new GatedFileSystem(faults);
      const store = await openStore(DIRECTORY, { ...OPTIONS, fileSystem });
      for (let index = 0; index < 50; index++) await store.put(`a/${index}`, index);
      fileSystem.armed = true;
      const first = store.put('first', 1);
      const held = await fileSystem.nextHeld();
      const checkpoint = store.checkpoint(); // waits for the wal.writer lock behind `first`
      const second = store.put('second', 2); // its group queues behind the checkpoint's cut
      second.catch(() => undefined); // rejected by the crash when still in flight
      held.release();
      await first;
      const heldSecond = await fileSystem.nextHeld();
      await checkpoint; // seals, flushes and deletes WAL while `second` waits for its fdatasync
      if (release) {
        fileSystem.armed = false;
        heldSecond.release();
        await second;
      }
      const rebooted = faults.crash(mode);
      store[abandonStore]();
      if (!release) heldSecond.release();
      const reopened = await openStore(DIRECTORY, { ...OPTIONS, fileSystem: rebooted });
      for (let index = 0; index < 50; index++) expect(await reopened.get(`a/${index}`)).toBe(index);
      expect(await reopened.get('first')).toBe(1);
      if (release) expect(await reopened.get('second')).toBe(2);
      else expect([undefined, 2]).toContain(await reopened.get('second'));
      await reopened.close();
    });
  }
});

describe('a torn record after a cut (torn-last-write)', () => {
  // The record in flight at the crash is the last write anywhere: only a strict prefix of it
  // survives. It is the first record of the segment a checkpoint's cut made, or a later one;
  // without the checkpoint, after several flushes, the segment a seal's cut made is a
  // recycled file (an earlier use's records after the torn one).
  const cases = [[0, true, 0], [0, true, 5], [3, true, 0], [3, true, 5], [8, true, 1], [8, false, 0], [12, false, 3]] as const;
  for (const [flushes, checkpoint, recordsBefore] of cases) {
    const cut = checkpoint ? "a checkpoint's cut" : 'no checkpoint';
    it(`${flushes} flushes, ${cut}, ${recordsBefore} records, then a torn one: reopens with every acknowledged write`, async () => {
      const faults = new FaultFileSystem(45 + flushes + recordsBefore);
      const fileSystem = new GatedFileSystem(faults);
      fileSystem.heldPaths = WAL_SEGMENT_OR_RECYCLED;
      const store = await openStore(DIRECTORY, { ...OPTIONS, fileSystem });
      const model: Model = { acknowledged: new Map(), refused: [] };
      for (let round = 0; round < flushes; round++) await writeUntilFlushed(store, model, `round${round}`);
      if (checkpoint) await store.checkpoint();
      for (let index = 0; index < recordsBefore; index++) {
        await store.put(`after/${index}`, index);
        model.acknowledged.set(`after/${index}`, index);
      }
      fileSystem.armed = true;
      const torn = store.put('torn', 'x'.repeat(2000));
      torn.catch(() => undefined); // rejected by the crash
      const held = await fileSystem.nextHeld();
      const rebooted = faults.crash('torn-last-write');
      store[abandonStore]();
      held.release();
      const reopened = await openStore(DIRECTORY, { ...OPTIONS, fileSystem: rebooted });
      await expectExactly(reopened, model);
      // Its write was the last one: a strict prefix of it never reads as the record.
      expect(await reopened.get('torn')).toBeUndefined();
      await reopened.put('after-reopen', 1);
      await reopened.close();
      const again = await openStore(DIRECTORY, { ...OPTIONS, fileSystem: rebooted });
      await expectExactly(again, model);
      expect(await again.get('after-reopen')).toBe(1);
      await again.close();
    });
  }
});
