/**
 * Review (issue 7's replay work: d7e916f, 6c64a98, 30363fa, 48d2feb): a crash at every
 * file system call of a reopen that replays a killed store's multi-segment WAL,
 * under every crash mode, then a second reopen: every acknowledged commit is there
 * with its exact value (strings with two-byte characters, objects with a nested
 * Buffer, bytes small and over half a replay slab, empty bytes, tombstones), nothing
 * more; and what a reopen returns is the caller's own (mutating it changes no
 * later read, so no value aliases a replay slab or the segment image).
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { FaultFileSystem, isSimulatedCrash } from '../src/fs/fault-file-system.js';
import type { CrashMode } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';
import { openOn, scanAll, segmentPath } from './workload.js';

const MODES: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

function valueFor(index: number): unknown {
  switch (index % 7) {
    case 0: return `héllo-€-${index}-${'ж'.repeat(index % 50)}`;
    case 1: return { index, nested: Buffer.from([index & 0xff, 1, 2, 3]), text: 'ü' };
    case 2: return new Uint8Array(index % 3 === 0 ? 0 : 40).fill(index & 0xff);
    case 3: return Buffer.alloc(3000, index & 0xff); // over half a replay slab: an array of its own
    case 4: return '';
    case 5: return index * 1.5;
    default: return Buffer.from(`b${index}`);
  }
}

/** A store killed after 60 acknowledged single puts and deletes over several 16 KiB segments, killed (keep-all). */
async function killedStore(seed: number, checkpointAt = -1): Promise<{ fileSystem: FaultFileSystem; expected: Map<string, unknown> }> {
  const first = new FaultFileSystem(seed);
  const store = await openOn(first);
  const expected = new Map<string, unknown>();
  for (let index = 0; index < 60; index++) {
    // Runs, a manifest whose WAL start is past segment 1, and segments left below it.
    if (index === checkpointAt) await store.checkpoint();
    // Two-byte keys, and keys beside the reserved prefix '\u0000ladybug/' (a reserved-key scan at open must not hide them).
    const key = [`k${index % 23}`, `ключ-${index % 5}`, `\u0000ladybug0${index % 3}`, `\u0000ladybug.${index % 2}`][index % 4]!;
    if (index % 11 === 10) {
      await store.delete(key);
      expected.delete(key);
    } else {
      await store.put(key, valueFor(index));
      expected.set(key, valueFor(index));
    }
  }
  store[abandonStore]();
  // A process kill: everything written is in the page cache.
  const killed = first.crash('keep-all');
  expect(await killed.exists(segmentPath(3))).toBe(true); // the log spans several segments
  return { fileSystem: killed, expected };
}

/** The simulated crash, as the open reports it (typed, the crash as its cause). */
function crashed(error: unknown): boolean {
  return isSimulatedCrash(error) || (error instanceof Error && isSimulatedCrash(error.cause));
}

function normalise(entries: Map<string, unknown>): Map<string, unknown> {
  return new Map([...entries].map(([key, value]) => [key, value instanceof Uint8Array ? Buffer.from(value).toString('hex') : JSON.stringify(value)]));
}

async function expectExact(fileSystem: FaultFileSystem, expected: Map<string, unknown>): Promise<void> {
  const store = await openOn(fileSystem);
  try {
    expect(normalise(await scanAll(store))).toEqual(normalise(expected));
  } finally {
    await store.close();
  }
}

describe('review replay16: a crash at any call of a replaying open', () => {
  it('counts the calls of a clean replaying open', async () => {
    const { fileSystem, expected } = await killedStore(5);
    const before = fileSystem.operationCount;
    const store = await openOn(fileSystem);
    expect(fileSystem.operationCount - before).toBeGreaterThan(10);
    expect(normalise(await scanAll(store))).toEqual(normalise(expected));
    await store.close();
  });

  it('keeps every acknowledged commit exactly through a crash at every call of the open, every mode, and a second crashed open', async () => {
    const probe = await killedStore(7);
    const start = probe.fileSystem.operationCount;
    const opened = await openOn(probe.fileSystem);
    const openCalls = probe.fileSystem.operationCount - start;
    opened[abandonStore]();
    let crashedOpens = 0;
    for (let calls = 0; calls <= openCalls; calls++) {
      for (const mode of MODES) {
        const { fileSystem, expected } = await killedStore(7);
        fileSystem.crashAfterOperations(calls);
        try {
          const store = await openOn(fileSystem);
          store[abandonStore]();
        } catch (error) {
          if (!crashed(error)) throw error;
          crashedOpens++;
        }
        let rebooted = fileSystem.crash(mode);
        // A second open that crashes half-way too, then a complete one.
        rebooted.crashAfterOperations(Math.floor(calls / 2));
        try {
          (await openOn(rebooted))[abandonStore]();
        } catch (error) {
          if (!crashed(error)) throw error;
        }
        rebooted = rebooted.crash(mode);
        await expectExact(rebooted, expected);
      }
    }
    expect(crashedOpens).toBeGreaterThan(openCalls * 2);
  }, 120_000);

  it('keeps them through a crash at every call of an open that also removes an orphan run and segments below the WAL start', async () => {
    const withOrphans = async (): Promise<{ fileSystem: FaultFileSystem; expected: Map<string, unknown> }> => {
      const killed = await killedStore(11, 40);
      // A killed flush's temporary run file, and a covered segment a killed checkpoint left.
      const handle = await killed.fileSystem.open('/db/runs/0000000099.run.tmp', 'createExclusive');
      await handle.write(Buffer.alloc(100, 7), 0);
      await handle.close();
      expect(await killed.fileSystem.exists(segmentPath(1))).toBe(false); // the checkpoint moved the start past it
      const below = await killed.fileSystem.open(segmentPath(1), 'createExclusive');
      await below.write(Buffer.alloc(200, 9), 0);
      await below.close();
      return killed;
    };
    const probe = await withOrphans();
    const start = probe.fileSystem.operationCount;
    const opened = await openOn(probe.fileSystem);
    const openCalls = probe.fileSystem.operationCount - start;
    opened[abandonStore]();
    expect(await probe.fileSystem.exists('/db/runs/0000000099.run.tmp')).toBe(false);
    expect(await probe.fileSystem.exists(segmentPath(1))).toBe(false);
    for (let calls = 0; calls <= openCalls; calls++) {
      for (const mode of MODES) {
        const { fileSystem, expected } = await withOrphans();
        fileSystem.crashAfterOperations(calls);
        try {
          (await openOn(fileSystem))[abandonStore]();
        } catch (error) {
          if (!crashed(error)) throw error;
        }
        const rebooted = fileSystem.crash(mode);
        await expectExact(rebooted, expected);
        expect((await rebooted.readdir('/db/runs')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
        expect(await rebooted.exists(segmentPath(1))).toBe(false);
      }
    }
  }, 120_000);

  it('hands a reopened store\'s readers values of their own', async () => {
    const { fileSystem, expected } = await killedStore(9);
    const store = await openOn(fileSystem);
    try {
      for (const [key] of expected) {
        const first = await store.get(key);
        if (first instanceof Uint8Array) first.fill(0xee);
        else if (first !== null && typeof first === 'object') ((first as { nested: Buffer }).nested).fill(0xee);
      }
      expect(normalise(await scanAll(store))).toEqual(normalise(expected));
    } finally {
      await store.close();
    }
  });
});
