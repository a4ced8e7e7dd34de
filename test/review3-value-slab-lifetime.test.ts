/**
 * Review of byte values carved from shared slabs (bb389c5: 64 KiB commit slabs, values
 * up to 8 KiB; 258ec93: the memory estimate charges each its share of the slab): no
 * value's bytes may be overwritten while anything can still reach them. A slab holds
 * values of several commits, memtables and (at replay) records, so the store is driven
 * to mix them:
 *
 * - values of 1 B to 8 KiB (carved) and past 8 KiB (an array of their own), put many at
 *   once while flushes run (a 256 KiB budget: a flush every ~50 4 KiB puts), the
 *   caller overwriting its array as soon as put() returns, before the commit lands;
 * - snapshots taken between overwrite rounds, read while later rounds carve new slabs
 *   and their memtables flush (in process on the fault file system, in the flush
 *   thread on a real directory);
 * - every read answer overwritten by the caller (memtable, point cache, run, snapshot);
 * - a crash and reopen (the replay's 8 KiB slabs), then more rounds over them.
 *
 * Every read must give exactly the bytes of the round it reads.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore, type Store } from '../src/store/store.js';
import type { StoreSnapshot } from '../src/store/store-snapshot.js';

const KEYS = 160;
const SIZES = [4096, 4096, 1, 100, 4096, 8188, 4095, 8189, 8193, 4096, 30_000, 4000, 2, 4096];
const OPTIONS = { memoryBudgetBytes: 256 * 1024, segmentSizeBytes: 64 * 1024 } as const;

function keyOf(index: number): string {
  return `key-${String(index).padStart(4, '0')}`;
}

/** The value of key `index` in round `round` (undefined: deleted in that round). */
function valueOf(index: number, round: number): Uint8Array | undefined {
  if (round >= 3 && (index + round) % 5 === 0) return undefined;
  const size = SIZES[(index * 3 + round) % SIZES.length]!;
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset++) bytes[offset] = (offset * 31 + index * 7 + round * 101) & 0xff;
  if (size >= 4) {
    bytes[0] = index & 0xff;
    bytes[1] = index >> 8;
    bytes[2] = round;
  }
  return bytes;
}

function describeValue(value: unknown): string {
  if (!(value instanceof Uint8Array)) return JSON.stringify(value) ?? 'undefined';
  return `${value.length} B [${[...value.subarray(0, 3)].join(',')}]`;
}

/** Reads every key (twice: the second may come from the point cache) and checks round `round`'s bytes; overwrites each answer. */
async function expectRound(read: (key: string) => Promise<unknown>, round: (index: number) => number, where: string): Promise<void> {
  for (let pass = 0; pass < 2; pass++) {
    for (let index = 0; index < KEYS; index++) {
      const value = await read(keyOf(index));
      const expected = valueOf(index, round(index));
      const same = expected === undefined ? value === undefined : value instanceof Uint8Array && Buffer.from(value).equals(Buffer.from(expected));
      if (!same) throw new Error(`${where}, pass ${pass}: ${keyOf(index)} reads ${describeValue(value)}, round ${round(index)} wrote ${describeValue(expected)}`);
      if (value instanceof Uint8Array) value.fill(0xdd); // the answer is the caller's
    }
  }
}

/** Round `round` over every key: all puts (and deletes) in flight at once, each caller array overwritten as soon as put() returns. */
async function writeRound(store: Store, round: number): Promise<void> {
  const commits: Array<Promise<unknown>> = [];
  for (let index = 0; index < KEYS; index++) {
    const value = valueOf(index, round);
    if (value === undefined) {
      commits.push(store.delete(keyOf(index)));
      continue;
    }
    commits.push(store.put(keyOf(index), value));
    value.fill(0xee); // the commit has not landed yet: the store must have its own copy
  }
  await Promise.all(commits);
}

async function scanRound(snapshot: StoreSnapshot, round: number, where: string): Promise<void> {
  let seen = 0;
  for await (const [key, value] of snapshot.scan()) {
    const index = Number(String(key).slice(4));
    const expected = valueOf(index, round);
    if (expected === undefined || !(value instanceof Uint8Array) || !Buffer.from(value).equals(Buffer.from(expected))) {
      throw new Error(`${where}: scan gives ${String(key)} = ${describeValue(value)}, round ${round} wrote ${describeValue(expected)}`);
    }
    value.fill(0xdd);
    seen++;
  }
  expect(seen).toBe(Array.from({ length: KEYS }, (_, index) => valueOf(index, round)).filter((value) => value !== undefined).length);
}

/**
 * Rounds 1-4 with a snapshot after each, every snapshot read while the next rounds
 * carve new slabs and flush; `reopen` then crashes or closes and reopens, and rounds 5-6
 * overwrite the replayed values under a snapshot of them.
 */
async function exercise(open: () => Promise<Store>, reopen: (store: Store) => Promise<Store>): Promise<number> {
  // Returns the fewer of the flushes before and after the reopen (both must have run for the case to mean anything).
  let store = await open();
  const snapshots: Array<{ round: number; snapshot: StoreSnapshot }> = [];
  try {
    for (let round = 1; round <= 4; round++) {
      // Read the older snapshots while this round's puts run and its memtables flush.
      const reading = Promise.all(snapshots.map(({ round: seen, snapshot }) => expectRound((key) => snapshot.get(key), () => seen, `snapshot of round ${seen} during round ${round}`)));
      await writeRound(store, round);
      await reading;
      await expectRound((key) => store.get(key), () => round, `store after round ${round}`);
      snapshots.push({ round, snapshot: await store.snapshot() });
    }
    await store.checkpoint();
    for (const { round, snapshot } of snapshots) {
      await expectRound((key) => snapshot.get(key), () => round, `snapshot of round ${round} after the checkpoint`);
      await scanRound(snapshot, round, `snapshot of round ${round}`);
    }
    for (const { snapshot } of snapshots.splice(0)) await snapshot.release();
    // Round 5 is acknowledged and not checkpointed: the reopen replays it into its own slabs.
    await writeRound(store, 5);
    const flushesBefore = store.stats().sinceOpen.flushes;
    store = await reopen(store);
    await expectRound((key) => store.get(key), () => 5, 'store reopened after round 5 (replayed)');
    const replayed = await store.snapshot();
    snapshots.push({ round: 5, snapshot: replayed });
    const reading = expectRound((key) => replayed.get(key), () => 5, 'snapshot of the replayed round during round 6');
    await writeRound(store, 6);
    await reading;
    await store.checkpoint();
    await expectRound((key) => replayed.get(key), () => 5, 'snapshot of the replayed round after round 6\'s checkpoint');
    await expectRound((key) => store.get(key), () => 6, 'store after round 6');
    return Math.min(flushesBefore, store.stats().sinceOpen.flushes);
  } finally {
    for (const { snapshot } of snapshots) await snapshot.release().catch(() => undefined);
    await store.close().catch(() => undefined);
  }
}

describe('slab-carved byte values stay exact while reachable', () => {
  it('fault file system (flushes in process), a crash before the reopen', async () => {
    let fileSystem = new FaultFileSystem(17);
    const flushes = await exercise(
      () => openStore('/db', { ...OPTIONS, fileSystem }),
      async (store) => {
        store[abandonStore]();
        fileSystem = fileSystem.crash('drop-unsynced');
        return openStore('/db', { ...OPTIONS, fileSystem });
      },
    );
    expect(flushes).toBeGreaterThan(0);
  });

  it('real directory (flushes in the flush thread), a close and reopen', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'review3-slabs-'));
    const fileSystem: FileSystem = new NodeFileSystem();
    try {
      const options = { ...OPTIONS, fileSystem, checkpointOnClose: false };
      const flushes = await exercise(
        () => openStore(directory, options),
        async (store) => {
          await store.close();
          return openStore(directory, options);
        },
      );
      expect(flushes).toBeGreaterThan(0);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
