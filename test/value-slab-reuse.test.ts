/**
 * Reuse of the commit path's value slabs (src/codec/slab-pool.ts, src/memory/slab-reuse.ts,
 * issue 12): a slab goes back to the free list only once every value carved from it was
 * released by the drop of a memtable no reader captured. Each case here reads values
 * while later memtables are flushed, dropped and their slabs carved again, and checks
 * that reuse did happen, so a slab handed out while something still read it would show
 * as wrong bytes:
 *
 * - the pool's counts: a value carved and not released (a commit in flight) keeps its
 *   slab; a value released twice counts once; the slab being carved, an escaped slab,
 *   a full free list;
 * - a memtable a snapshot or a scan captured is never released;
 * - a value a transaction wrote, not yet committed, keeps its slab;
 * - a watcher's buffered changes keep theirs.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { SlabPool } from '../src/codec/slab-pool.js';
import { commitSlabPool, ValueSlabs } from '../src/codec/value-slabs.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { capturedByAReader, escapeSlabValue, markCapturedByReader, releaseDroppedMemtable } from '../src/memory/slab-reuse.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';

const SLAB_BYTES = 1024;

function carve(slabs: ValueSlabs, lengthBytes: number, fill: number) {
  const value = slabs.reserve(lengthBytes);
  value.source.fill(fill, value.start, value.start + lengthBytes);
  return value;
}

describe('SlabPool', () => {
  it('hands a slab out again only once every value carved from it was released', () => {
    const pool = new SlabPool(SLAB_BYTES);
    pool.bound(16 * SLAB_BYTES, 16 * SLAB_BYTES);
    const slabs = new ValueSlabs(SLAB_BYTES, SLAB_BYTES / 4, pool);
    // 250 B takes 256 (8-byte aligned): four fill a slab.
    const first = [carve(slabs, 250, 1), carve(slabs, 250, 2), carve(slabs, 250, 3), carve(slabs, 250, 4)];
    const slab = first[0]!.source;
    expect(first.every((value) => value.source === slab)).toBe(true);
    // The fifth value starts a new slab: the first is retired, three of its four values released.
    const second = carve(slabs, 250, 5);
    expect(second.source).not.toBe(slab);
    for (const value of first.slice(0, 3)) pool.release(value.source, value.start);
    // Released twice: still counted once, so the fourth (in flight) keeps the slab.
    pool.release(first[0]!.source, first[0]!.start);
    expect(pool.freeBytes).toBe(0);
    for (let index = 0; index < 3; index++) carve(slabs, 250, 6);
    const third = carve(slabs, 250, 7);
    expect(third.source).not.toBe(slab);
    expect(Buffer.from(first[3]!.bytes).every((byte) => byte === 4)).toBe(true);
    pool.release(first[3]!.source, first[3]!.start);
    expect(pool.freeBytes).toBe(SLAB_BYTES);
    for (let index = 0; index < 3; index++) carve(slabs, 250, 8);
    expect(carve(slabs, 250, 9).source).toBe(slab);
    expect(pool.counts.reused).toBe(1);
  });

  it('keeps the slab being carved, an escaped slab, and no more than the bound', () => {
    const pool = new SlabPool(SLAB_BYTES);
    pool.bound(16 * SLAB_BYTES, 16 * SLAB_BYTES);
    const slabs = new ValueSlabs(SLAB_BYTES, SLAB_BYTES / 4, pool);
    const current = carve(slabs, 100, 1);
    pool.release(current.source, current.start);
    // Every value released, but the allocator still carves from it.
    expect(pool.freeBytes).toBe(0);
    const next = carve(slabs, 100, 2);
    expect(next.source).toBe(current.source);
    const escaped = new ValueSlabs(SLAB_BYTES, SLAB_BYTES / 4, pool);
    const kept = carve(escaped, 1000, 3);
    escapeSlabValue(kept, pool);
    carve(escaped, 1000, 4);
    pool.release(kept.source, kept.start);
    expect(pool.freeBytes).toBe(0);
    // Two slabs on the free list at most, one of them held: a third released slab is left to V8.
    const bounded = new SlabPool(SLAB_BYTES);
    bounded.bound(2 * SLAB_BYTES, SLAB_BYTES);
    const carving = new ValueSlabs(SLAB_BYTES, 1000, bounded);
    const values = [carve(carving, 1000, 5), carve(carving, 1000, 6), carve(carving, 1000, 7), carve(carving, 1000, 8)];
    for (const value of values.slice(0, 3)) bounded.release(value.source, value.start);
    expect(bounded.freeBytes).toBe(2 * SLAB_BYTES);
    expect(bounded.heldBytes).toBe(SLAB_BYTES);
    expect(bounded.counts.dropped).toBe(1);
    // A smaller bound (the active memtable grew): nothing held, one slab on the list.
    bounded.bound(SLAB_BYTES, 0);
    expect([bounded.freeBytes, bounded.heldBytes, bounded.counts.dropped]).toEqual([SLAB_BYTES, 0, 2]);
    // The newest released (the second value's slab) is the one kept, and taken next.
    expect(carve(carving, 1000, 9).source).toBe(values[1]!.source);
  });

  it('releases a dropped memtable\'s values unless a reader captured it', () => {
    const pool = new SlabPool(SLAB_BYTES);
    const slabs = new ValueSlabs(SLAB_BYTES, SLAB_BYTES / 4, pool);
    const captured = new MemoryIndex(4);
    const dropped = new MemoryIndex(4);
    let version = 0;
    for (let index = 0; index < 8; index++) captured.apply(++version, [{ key: `c${index}`, slot: carve(slabs, 250, index) }], Infinity);
    for (let index = 0; index < 8; index++) dropped.apply(++version, [{ key: `d${index}`, slot: carve(slabs, 250, index) }], Infinity);
    carve(slabs, 250, 0); // retires the last slab of `dropped`
    markCapturedByReader([captured]);
    expect(capturedByAReader(captured)).toBe(true);
    expect(releaseDroppedMemtable(captured, 16 * SLAB_BYTES, 16 * SLAB_BYTES, pool)).toBe(0);
    expect(releaseDroppedMemtable(dropped, 16 * SLAB_BYTES, 16 * SLAB_BYTES, pool)).toBe(8);
    expect(pool.freeBytes).toBe(2 * SLAB_BYTES);
  });
});

// Store cases: a memtable of 256 KiB (a twelfth of the budget: four slabs on the free list at most), a flush every ~60 puts of 4 KB.
const OPTIONS = { memoryBudgetBytes: 3 * 1024 * 1024, segmentSizeBytes: 64 * 1024 } as const;
const KEYS = 120;
const VALUE_BYTES = 4000;

function valueOf(index: number, round: number): Uint8Array {
  const bytes = new Uint8Array(VALUE_BYTES);
  for (let offset = 0; offset < VALUE_BYTES; offset++) bytes[offset] = (offset * 13 + index * 7 + round * 101) & 0xff;
  return bytes;
}

function keyOf(index: number, prefix = 'key-'): string {
  return `${prefix}${String(index).padStart(4, '0')}`;
}

async function writeRound(store: Store, round: number, prefix = 'key-'): Promise<void> {
  for (let index = 0; index < KEYS; index += 8) {
    await Promise.all(Array.from({ length: Math.min(8, KEYS - index) }, (_, offset) => store.put(keyOf(index + offset, prefix), valueOf(index + offset, round))));
  }
}

function expectValue(value: unknown, index: number, round: number, where: string): void {
  const same = value instanceof Uint8Array && Buffer.from(value).equals(Buffer.from(valueOf(index, round)));
  if (!same) throw new Error(`${where}: ${keyOf(index)} does not read round ${round}'s bytes`);
}

async function withStore(body: (store: Store) => Promise<void>): Promise<void> {
  const store = await openStore('/db', { ...OPTIONS, fileSystem: new FaultFileSystem(29) });
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

/** Runs `rounds` write rounds from `fromRound` (keys of `prefix`); expects flushes and reused slabs among them. */
async function churn(store: Store, fromRound: number, rounds: number, prefix = 'key-'): Promise<void> {
  const flushes = store.stats().sinceOpen.flushes;
  const reused = commitSlabPool.counts.reused;
  for (let round = fromRound; round < fromRound + rounds; round++) await writeRound(store, round, prefix);
  expect(store.stats().sinceOpen.flushes - flushes).toBeGreaterThan(2);
  expect(commitSlabPool.counts.reused - reused).toBeGreaterThan(0);
}

describe('a reused slab never holds a value something still reads', () => {
  it('a snapshot and a scan started before the churn read their memtable exactly', async () => {
    await withStore(async (store) => {
      await writeRound(store, 1);
      const snapshot = await store.snapshot();
      const scan = snapshot.scan();
      const first = await scan.next();
      expectValue((first.value as [string, unknown])[1], 0, 1, 'scan before the churn');
      await churn(store, 2, 6);
      for (let index = 0; index < KEYS; index++) expectValue(await snapshot.get(keyOf(index)), index, 1, 'snapshot after the churn');
      let index = 1;
      for (let next = await scan.next(); next.done !== true; next = await scan.next()) expectValue(next.value[1], index++, 1, 'scan after the churn');
      expect(index).toBe(KEYS);
      await snapshot.release();
      for (let key = 0; key < KEYS; key++) expectValue(await store.get(keyOf(key)), key, 7, 'store after the churn');
    });
  });

  it('a transaction\'s uncommitted write keeps its slab while other memtables are dropped', async () => {
    await withStore(async (store) => {
      await writeRound(store, 1);
      await store.transaction(async (tx) => {
        // Its view captured the memtables of round 1: the write is carved among later puts.
        await churn(store, 2, 3);
        tx.put('tx-key', valueOf(0, 99));
        await churn(store, 5, 6);
        expectValue(await tx.get('tx-key'), 0, 99, 'the transaction\'s own write');
      });
      expectValue(await store.get('tx-key'), 0, 99, 'the committed write');
    });
  });

  it('a watcher\'s buffered changes keep their slabs', async () => {
    await withStore(async (store) => {
      const feed = store.watch({ gte: 'key-', lt: 'key.' });
      const firstChange = feed.next();
      await writeRound(store, 1);
      await firstChange;
      // Keys the watcher does not take: their memtables' slabs are reused, round 1's are not.
      await churn(store, 2, 6, 'other-');
      for (let index = 1; index < KEYS; index++) {
        const next = await feed.next();
        expect(next.done).toBe(false);
        expect(next.value!.key).toBe(keyOf(index));
        expectValue(next.value!.value, index, 1, 'watched change of round 1');
      }
      await feed.return(undefined);
    });
  });
});
