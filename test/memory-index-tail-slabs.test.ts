/**
 * A byte value carved from a slab is kept in the ascending tail as its slab and span,
 * not as its EncodedValue (src/memory/ascending-tail.ts): the commit's EncodedValue
 * dies young instead of being copied by every scavenge. Whatever reads the tail gets
 * the same bytes: a point read (the chain made then holds an equal EncodedValue, the
 * same one at every later read), a flush (memtableEntries, byte for byte the flush of
 * the same memtable with every chain made), and the drop's release of the values'
 * slabs (memory/slab-reuse.ts), which counts every slab value once, walking the keys
 * in the order they arrived (MemoryIndex#forEachEntryInArrivalOrder).
 */
import { describe, expect, it } from 'vitest';
import { SlabPool } from '../src/codec/slab-pool.js';
import { COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, EncodedValue, ValueSlabs } from '../src/codec/value-slabs.js';
import { memtableEntries } from '../src/engine/memtable-entries.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { releaseDroppedMemtable } from '../src/memory/slab-reuse.js';
import { TOMBSTONE, VersionChain, type VersionSlot } from '../src/memory/version-chain.js';

const keyOf = (number: number): string => `k${String(number).padStart(6, '0')}`;

/** Value lengths: small, a page, the largest carved value, and over it (an array of its own, kept as its EncodedValue). */
const lengthOf = (number: number): number => [1, 100, 4096, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX + 1, 20_000][number % 6]!;

interface Written {
  index: MemoryIndex;
  slots: VersionSlot[];
  pool: SlabPool;
}

/** `count` ascending keys, one per commit: slab values of every length, a string and a delete now and then. */
function write(count: number): Written {
  const pool = new SlabPool(COMMIT_VALUE_SLAB_BYTES);
  const slabs = new ValueSlabs(COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, pool);
  const index = new MemoryIndex(1000);
  const slots: VersionSlot[] = [];
  for (let number = 0; number < count; number++) {
    let slot: VersionSlot;
    if (number % 11 === 5) slot = TOMBSTONE;
    else if (number % 13 === 7) slot = `string ${number}`;
    else {
      const value = slabs.reserve(lengthOf(number));
      value.source.fill(number & 0xff, value.start, value.start + value.length);
      slot = value;
    }
    slots.push(slot);
    index.apply(number + 1, [{ key: keyOf(number), slot }], 0);
  }
  return { index, slots, pool };
}

/** Key, version and value bytes (hex; undefined for a delete) of every entry a flush reads. */
function flushed(index: MemoryIndex): Array<[string, number, string | undefined]> {
  const read: Array<[string, number, string | undefined]> = [];
  for (const entry of memtableEntries(index)) read.push([entry.key, entry.version, entry.value === undefined ? undefined : Buffer.from(entry.value).toString('hex')]);
  return read;
}

const isSlabValue = (slot: VersionSlot): slot is EncodedValue => slot instanceof EncodedValue && slot.inSlab;

describe('MemoryIndex: slab values in the ascending tail', () => {
  it('keeps a slab value as its slab, not its EncodedValue, and a flush reads the same bytes as with every chain made', () => {
    const { index, slots } = write(600);
    const { entries } = index.orderedEntries();
    entries.forEach((entry, number) => {
      const slot = slots[number]!;
      expect(entry instanceof EncodedValue).toBe(slot instanceof EncodedValue && !slot.inSlab);
      if (isSlabValue(slot)) expect(entry).toBe(slot.source);
      else expect(entry).toBe(slot);
    });
    const read = flushed(index);
    const chained = write(600).index;
    chained.orderedKeysAndChains();
    expect(chained.orderedEntries().entries.every((entry) => entry instanceof VersionChain)).toBe(true);
    expect(flushed(chained)).toEqual(read);
    expect(read.map(([key, version]) => [key, version])).toEqual(slots.map((_, number) => [keyOf(number), number + 1]));
    index.verify();
  });

  it('a read of a tail key makes its chain once, holding an EncodedValue equal to the one applied', () => {
    const { index, slots } = write(3000);
    const held = index.orderedEntries();
    for (const number of [2999, 2950, 1200, 3, 0]) {
      const chain = index.chain(keyOf(number))!;
      const slot = slots[number]!;
      expect(chain.versions).toEqual([number + 1]);
      if (slot instanceof EncodedValue) {
        const stored = chain.newest as EncodedValue;
        expect([stored.source, stored.start, stored.length]).toEqual([slot.source, slot.start, slot.length]);
        expect(Buffer.from(stored.bytes).equals(Buffer.from(slot.bytes))).toBe(true);
      } else expect(chain.newest).toBe(slot);
      expect(index.chain(keyOf(number))).toBe(chain);
    }
    // The entries a flush already holds: the made chain in the key's place, or (a key a
    // read's step moved into the Map, memory/key-entries.ts) the slab or slot applied.
    const heldEntry = held.entries[2950];
    const applied = slots[2950]!;
    expect(heldEntry === index.chain(keyOf(2950)) || heldEntry === (isSlabValue(applied) ? applied.source : applied)).toBe(true);
    index.verify();
  });

  it('the drop releases every slab value once, and the slabs go to the free list', () => {
    const { index, slots, pool } = write(2000);
    const slabValues = slots.filter(isSlabValue).length;
    const slabBytes = new Set(slots.filter(isSlabValue).map((slot) => slot.source)).size * COMMIT_VALUE_SLAB_BYTES;
    // Moves the allocator off its last slab, so every slab can be free once released.
    const next = new ValueSlabs(COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, pool);
    next.reserve(1);
    expect(releaseDroppedMemtable(index, 1 << 30, 1 << 30, pool)).toBe(slabValues);
    expect(pool.freeBytes).toBeGreaterThanOrEqual(slabBytes - COMMIT_VALUE_SLAB_BYTES);
  });

  it('the walk in arrival order visits every key once, in the Map, the tree or the tail, and the drop releases every slab value', () => {
    const pool = new SlabPool(COMMIT_VALUE_SLAB_BYTES);
    const slabs = new ValueSlabs(COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, pool);
    const index = new MemoryIndex(1000);
    let version = 0;
    let slabValues = 0;
    const put = (key: string): void => {
      const value = slabs.reserve(100);
      slabValues++;
      index.apply(++version, [{ key, slot: value }], 0);
    };
    // Keys out of order (the Map), a scan (the tree), ascending keys (the tail), a read moving a step of it, a rewrite.
    for (let number = 0; number < 3000; number++) put(keyOf((number * 7919) % 3000));
    index.scanChunk({}, undefined, version, false, 10);
    for (let number = 3000; number < 6000; number++) put(keyOf(number));
    expect(index.chain(keyOf(4000))?.versions).toEqual([4001]);
    put(keyOf(10));
    for (let number = 6000; number < 7000; number++) put(keyOf(number));
    const visited = new Map<unknown, number>();
    let entries = 0;
    index.forEachEntryInArrivalOrder((entry) => {
      entries++;
      if (entry instanceof VersionChain) visited.set(entry, (visited.get(entry) ?? 0) + 1);
    });
    expect(entries).toBe(7000);
    expect([...visited.values()].every((count) => count === 1)).toBe(true);
    expect(releaseDroppedMemtable(index, 1 << 30, 1 << 30, pool)).toBe(slabValues);
    index.verify();
  });

  it('a slab value applied after a flush took the entries without spans is never read against the shared empty spans', () => {
    // The flush's arrays are the tail's own: a later push appends to entries and versions.
    // Entries handed out while no entry was a slab carry NO_SPANS, so a slab entry after that
    // would have no span where its value is due; the tail keeps such a value as its slot.
    const pool = new SlabPool(COMMIT_VALUE_SLAB_BYTES);
    const slabs = new ValueSlabs(COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, pool);
    const index = new MemoryIndex(1000);
    index.apply(1, [{ key: keyOf(0), slot: 'a string' }], 0);
    const handed = index.orderedEntries();
    expect(handed.spans).toHaveLength(0);
    const value = slabs.reserve(100);
    value.source.fill(7, value.start, value.start + value.length);
    index.apply(2, [{ key: keyOf(1), slot: value }], 0);
    expect(handed.entries).toHaveLength(2);
    const entry = handed.entries[1];
    const span = handed.spans[1];
    // A slab entry must come with its span; anything else is the value itself.
    if (entry instanceof Uint8Array) expect(span, 'the span of a slab entry handed out').toBeDefined();
    else expect(entry).toBe(value);
    expect(handed.versions[1]).toBe(2);
    index.verify();
    const read = flushed(index);
    expect(read.map(([key, version]) => [key, version])).toEqual([[keyOf(0), 1], [keyOf(1), 2]]);
    expect(read[1]![2]).toBe(Buffer.from(value.source.subarray(value.start, value.start + value.length)).toString('hex'));
    expect(index.chain(keyOf(1))?.slotAt(0)).toBe(value);
  });
});
