/**
 * Review of 257b82a / 3607759 (src/run/block-cache.ts: two recency lists, partitions
 * first): the operations test/block-cache-recency-model.test.ts leaves out, against
 * an array model of the documented policy. A random sequence of data block gets and
 * sets, partition lookups and sets (some partitions larger than the whole cache),
 * prepopulation of blocks and partitions (insertIfRoom, insertPartitionIfRoom),
 * touches of the slots a reader keeps, dropRun, clear, and changes of maxBytes (down
 * to below the held partitions, and back up). After every step: bytes,
 * partitionBytes and the count agree with the model, bytes <= maxBytes, and every
 * slot a reader kept reads `held` exactly while the model holds that partition (and
 * lets go of the partition once it does not).
 *
 * Found: once the partitions leave a data block no room, set() does not cache it
 * (3607759), but admits() still admitted it on its second miss, so every repeated
 * miss took the cached read's path (a fresh block-sized allocation and decode) for a
 * block then thrown away, instead of the scratch read the doorkeeper exists for.
 */
import { describe, expect, it } from 'vitest';
import { BLOCK_CACHE_BYTES_PER_ENTRY, BlockCache, type PartitionSlot } from '../src/run/block-cache.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { fakeBlock } from './run-helpers.js';

interface ModelSlot {
  key: string;
  runId: number;
  sizeBytes: number;
  referenced: boolean;
}

/** The documented policy, the slow way: arrays oldest first. */
class Model {
  data: ModelSlot[] = [];
  partitions: ModelSlot[] = [];
  bytes = 0;
  constructor(public maxBytes: number) {}

  get partitionBytes(): number {
    return this.partitions.reduce((sum, slot) => sum + slot.sizeBytes, 0);
  }
  has(key: string): boolean {
    return this.data.some((slot) => slot.key === key) || this.partitions.some((slot) => slot.key === key);
  }
  hasPartition(key: string): boolean {
    return this.partitions.some((slot) => slot.key === key);
  }
  getData(key: string): boolean {
    const index = this.data.findIndex((slot) => slot.key === key);
    if (index < 0) return false;
    this.data.push(...this.data.splice(index, 1));
    return true;
  }
  touch(key: string): boolean {
    const slot = this.partitions.find((candidate) => candidate.key === key);
    if (slot !== undefined) slot.referenced = true;
    return slot !== undefined;
  }
  #evictData(target: number): void {
    while (this.bytes > target && this.data.length > 0) this.bytes -= this.data.shift()!.sizeBytes;
  }
  #evictPartitions(target: number): void {
    while (this.bytes > target) {
      const oldest = this.partitions.shift()!;
      if (oldest.referenced) {
        oldest.referenced = false;
        this.partitions.push(oldest);
        continue;
      }
      this.bytes -= oldest.sizeBytes;
    }
  }
  setData(slot: ModelSlot): void {
    if (this.has(slot.key) || slot.sizeBytes > this.maxBytes - this.partitionBytes) return;
    this.#evictData(this.maxBytes - slot.sizeBytes);
    this.data.push(slot);
    this.bytes += slot.sizeBytes;
  }
  setPartition(slot: ModelSlot): void {
    if (this.has(slot.key) || slot.sizeBytes > this.maxBytes) return;
    this.#evictData(this.maxBytes - slot.sizeBytes);
    this.#evictPartitions(this.maxBytes - slot.sizeBytes);
    this.partitions.push(slot);
    this.bytes += slot.sizeBytes;
  }
  insertIfRoom(slot: ModelSlot, partition: boolean): void {
    if (this.has(slot.key) || slot.sizeBytes > this.maxBytes - this.bytes) return;
    (partition ? this.partitions : this.data).push(slot);
    this.bytes += slot.sizeBytes;
  }
  dropRun(runId: number): void {
    for (const slot of [...this.data, ...this.partitions]) if (slot.runId === runId) this.bytes -= slot.sizeBytes;
    this.data = this.data.filter((slot) => slot.runId !== runId);
    this.partitions = this.partitions.filter((slot) => slot.runId !== runId);
  }
  clear(): void {
    this.data = [];
    this.partitions = [];
    this.bytes = 0;
  }
  resize(maxBytes: number): void {
    this.maxBytes = maxBytes;
    this.#evictData(maxBytes);
    this.#evictPartitions(maxBytes);
  }
}

describe('review: block cache lists under resize, clear, prepopulation and oversized partitions', () => {
  it('agrees with the array model, keeps its bounds, and kept slots read held exactly while cached', () => {
    const blockSlotBytes = fakeBlock(10).sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    const sizes = [4 * blockSlotBytes, 12 * blockSlotBytes, 30 * blockSlotBytes, 2 * blockSlotBytes];
    const cache = new BlockCache(sizes[1]!);
    const model = new Model(sizes[1]!);
    const generator = new SeededRandom(11);
    const random = () => generator.nextFloat();
    const keyOf = (runId: number, offset: number) => `${runId}:${offset}`;
    const kept = new Map<string, { slot: PartitionSlot<{ key: string }>; object: { key: string } }>();
    const reached = { resizeBelowPartitions: 0, oversized: 0, clears: 0, keptEvicted: 0 };
    for (let step = 0; step < 30_000; step++) {
      const runId = 1 + Math.floor(random() * 3);
      const choice = random();
      if (choice < 0.3) {
        const offset = Math.floor(random() * 30) * 4096;
        const hit = cache.get(runId, offset) !== undefined;
        expect(hit).toBe(model.getData(keyOf(runId, offset)));
        if (!hit) {
          cache.set(runId, offset, fakeBlock(10));
          model.setData({ key: keyOf(runId, offset), runId, sizeBytes: blockSlotBytes, referenced: false });
        }
      } else if (choice < 0.6) {
        const offset = 16 + Math.floor(random() * 10) * 4096;
        const key = keyOf(runId, offset);
        const keptSlot = kept.get(key);
        if (keptSlot !== undefined && keptSlot.slot.held && random() < 0.5) {
          // A reader touching the slot it kept (run-partitions.ts).
          expect(model.touch(key)).toBe(true);
          cache.touchPartition(keptSlot.slot);
        } else {
          const found = cache.lookupPartition<{ key: string }>(runId, offset);
          expect(found !== undefined).toBe(model.touch(key));
          if (found === undefined) {
            const oversized = random() < 0.05;
            const partitionBytes = oversized ? 31 * blockSlotBytes : 1_500 + Math.floor(random() * 2_000);
            if (oversized) reached.oversized++;
            const object = { key };
            const slot = cache.setPartition(runId, offset, object, partitionBytes);
            model.setPartition({ key, runId, sizeBytes: partitionBytes + BLOCK_CACHE_BYTES_PER_ENTRY, referenced: false });
            expect(slot.partition).toBe(object);
            if (slot.held) kept.set(key, { slot, object });
          } else {
            expect(found.held).toBe(true);
            kept.set(key, { slot: found, object: found.partition! });
          }
        }
      } else if (choice < 0.75) {
        const offset = Math.floor(random() * 30) * 4096;
        cache.insertIfRoom(runId, offset, fakeBlock(10));
        model.insertIfRoom({ key: keyOf(runId, offset), runId, sizeBytes: blockSlotBytes, referenced: false }, false);
      } else if (choice < 0.85) {
        const offset = 16 + Math.floor(random() * 10) * 4096;
        const key = keyOf(runId, offset);
        const partitionBytes = 1_500 + Math.floor(random() * 2_000);
        cache.insertPartitionIfRoom(runId, offset, { key }, partitionBytes);
        model.insertIfRoom({ key, runId, sizeBytes: partitionBytes + BLOCK_CACHE_BYTES_PER_ENTRY, referenced: false }, true);
      } else if (choice < 0.93) {
        const maxBytes = sizes[Math.floor(random() * sizes.length)]!;
        if (maxBytes < model.partitionBytes) reached.resizeBelowPartitions++;
        cache.maxBytes = maxBytes;
        model.resize(maxBytes);
      } else if (choice < 0.99) {
        cache.dropRun(runId);
        model.dropRun(runId);
      } else {
        reached.clears++;
        cache.clear();
        model.clear();
      }
      expect(cache.bytes).toBe(model.bytes);
      expect(cache.partitionBytes).toBe(model.partitionBytes);
      expect(cache.blocks).toBe(model.data.length + model.partitions.length);
      expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
      for (const [key, { slot, object }] of kept) {
        const held = model.hasPartition(key);
        expect({ key, step, held: slot.held }).toEqual({ key, step, held });
        if (held) expect(slot.partition).toBe(object);
        else {
          expect(slot.partition).toBeUndefined();
          reached.keptEvicted++;
          kept.delete(key);
        }
      }
    }
    expect(reached.resizeBelowPartitions).toBeGreaterThan(50);
    expect(reached.oversized).toBeGreaterThan(50);
    expect(reached.clears).toBeGreaterThan(50);
    expect(reached.keptEvicted).toBeGreaterThan(500);
  });
});

describe('review: admission when the partitions leave a data block no room', () => {
  it('admits() refuses a block that set() would not cache, however often it misses', () => {
    const block = fakeBlock(10);
    const blockSlotBytes = block.sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    const maxBytes = 40 * blockSlotBytes;
    const cache = new BlockCache(maxBytes);
    // Partitions fill the cache but for half a block's length on disk.
    const lengthBytes = block.bytes.length;
    const partitionBytes = maxBytes - BLOCK_CACHE_BYTES_PER_ENTRY - Math.floor(lengthBytes / 2);
    expect(cache.setPartition(1, 16, { partition: true }, partitionBytes).held).toBe(true);
    expect(cache.maxBytes - cache.partitionBytes).toBeLessThan(lengthBytes);
    const answers = [0, 1, 2, 3].map(() => cache.admits(2, 4096, lengthBytes));
    // set() refuses it: no room beside the partitions, and data blocks never evict partitions.
    expect(cache.set(2, 4096, block)).toBe(block);
    expect(cache.get(2, 4096)).toBeUndefined();
    expect(answers).toEqual([false, false, false, false]);
    // With the partitions gone the block is admitted again (room), and cached.
    cache.dropRun(1);
    expect(cache.admits(2, 4096, lengthBytes)).toBe(true);
    cache.set(2, 4096, block);
    expect(cache.get(2, 4096)).toBe(block);
  });
});
