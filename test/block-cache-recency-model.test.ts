/**
 * src/run/block-cache.ts, the recency list: a long random sequence of gets, sets,
 * partition lookups, touches and dropRun is run against the cache and against a
 * plain array model of the same policy (exact LRU for data blocks, which never evict
 * partitions; a second chance for a partition touched since its last turn). After every step the
 * held keys, their recency order's effect (which key is evicted next) and the byte
 * count must agree. The cache's debug check (LADYBUG_DEBUG=1 in vitest) also walks
 * the list after each dropRun.
 */
import { describe, expect, it } from 'vitest';
import { BLOCK_CACHE_BYTES_PER_ENTRY, BlockCache } from '../src/run/block-cache.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { fakeBlock } from './run-helpers.js';

interface ModelSlot {
  key: string;
  runId: number;
  partition: boolean;
  sizeBytes: number;
  referenced: boolean;
  /** When it entered the cache's Map (the order retireRun walks). */
  sequence?: number;
}

/**
 * The policy the cache documents, written the slow and obvious way: two arrays
 * (index 0 the oldest); a data block evicts only data blocks and is not cached when
 * the partitions leave no room; a partition evicts data blocks, then partitions with
 * a second chance for a touched one.
 */
class ModelCache {
  data: ModelSlot[] = [];
  partitions: ModelSlot[] = [];
  bytes = 0;
  #sequence = 0;
  /** How often each rule decided (the test checks that the sequence reached each one). */
  dataRefused = 0;
  partitionsEvicted = 0;
  constructor(readonly maxBytes: number) {}

  get count(): number {
    return this.data.length + this.partitions.length;
  }
  get partitionBytes(): number {
    return this.partitions.reduce((sum, slot) => sum + slot.sizeBytes, 0);
  }
  has(key: string): boolean {
    return this.data.some((slot) => slot.key === key) || this.partitions.some((slot) => slot.key === key);
  }
  get(key: string): boolean {
    const index = this.data.findIndex((slot) => slot.key === key);
    if (index < 0) return false;
    const [slot] = this.data.splice(index, 1);
    this.data.push(slot!);
    return true;
  }
  lookupPartition(key: string): boolean {
    const slot = this.partitions.find((candidate) => candidate.key === key) ?? this.data.find((candidate) => candidate.key === key && candidate.partition);
    if (slot === undefined) return false;
    slot.referenced = true;
    return true;
  }
  insert(slot: ModelSlot): void {
    if (this.has(slot.key) || slot.sizeBytes > this.maxBytes) return;
    slot.sequence = this.#sequence++;
    if (!slot.partition) {
      if (slot.sizeBytes > this.maxBytes - this.partitionBytes) {
        this.dataRefused++;
        return;
      }
      this.evictData(this.maxBytes - slot.sizeBytes);
      this.data.push(slot);
    } else {
      this.evictData(this.maxBytes - slot.sizeBytes);
      while (this.bytes > this.maxBytes - slot.sizeBytes) {
        const oldest = this.partitions.shift()!;
        if (oldest.referenced) {
          oldest.referenced = false;
          this.partitions.push(oldest);
          continue;
        }
        this.bytes -= oldest.sizeBytes;
        this.partitionsEvicted++;
      }
      this.partitions.push(slot);
    }
    this.bytes += slot.sizeBytes;
  }
  insertIfRoom(slot: ModelSlot): void {
    if (this.has(slot.key) || slot.sizeBytes > this.maxBytes - this.bytes) return;
    slot.sequence = this.#sequence++;
    (slot.partition ? this.partitions : this.data).push(slot);
    this.bytes += slot.sizeBytes;
  }
  evictData(target: number): void {
    while (this.bytes > target && this.data.length > 0) this.bytes -= this.data.shift()!.sizeBytes;
  }
  /** A retired run's slots go to the old end of the data list (its partitions then evict like data blocks). */
  retireRun(runId: number): void {
    const retired = [...this.data, ...this.partitions].filter((slot) => slot.runId === runId);
    // In the order the cache walks its Map: insertion order of the keys (the test inserts each key once per life).
    retired.sort((left, right) => left.sequence! - right.sequence!);
    this.data = this.data.filter((slot) => slot.runId !== runId);
    this.partitions = this.partitions.filter((slot) => slot.runId !== runId);
    for (const slot of retired) {
      slot.referenced = false;
      this.data.unshift(slot);
    }
  }
  dropRun(runId: number): void {
    for (const slot of [...this.data, ...this.partitions]) if (slot.runId === runId) this.bytes -= slot.sizeBytes;
    this.data = this.data.filter((slot) => slot.runId !== runId);
    this.partitions = this.partitions.filter((slot) => slot.runId !== runId);
  }
}

describe('BlockCache recency list', () => {
  it('agrees with an array model of the policy over 20,000 random operations, partitions first', () => {
    const block = fakeBlock(10);
    const blockSlotBytes = block.sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    // Thirty partitions of this size overflow the cache: partitions evict partitions, and crowd data blocks out.
    const partitionBytes = 2_500;
    const partitionSlotBytes = partitionBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    const maxBytes = 12 * blockSlotBytes;
    const cache = new BlockCache(maxBytes);
    const model = new ModelCache(maxBytes);
    const generator = new SeededRandom(7);
    const random = () => generator.nextFloat();
    // Data blocks at page offsets, partitions at odd 16-byte units: the two never share a key.
    const keyOf = (runId: number, offset: number) => `${runId}:${offset}`;
    let evictionsSeen = 0;
    let retired = 0;
    for (let step = 0; step < 20_000; step++) {
      const runId = 1 + Math.floor(random() * 3);
      const choice = random();
      if (choice < 0.4) {
        const offset = Math.floor(random() * 30) * 4096;
        const hit = cache.get(runId, offset) !== undefined;
        expect(hit).toBe(model.get(keyOf(runId, offset)));
        if (!hit) {
          cache.set(runId, offset, fakeBlock(10));
          model.insert({ key: keyOf(runId, offset), runId, partition: false, sizeBytes: blockSlotBytes, referenced: false });
        }
      } else if (choice < 0.75) {
        const offset = 16 + Math.floor(random() * 10) * 4096;
        const hit = cache.lookupPartition(runId, offset) !== undefined;
        expect(hit).toBe(model.lookupPartition(keyOf(runId, offset)));
        if (!hit) {
          cache.setPartition(runId, offset, { runId, offset }, partitionBytes);
          model.insert({ key: keyOf(runId, offset), runId, partition: true, sizeBytes: partitionSlotBytes, referenced: false });
        }
      } else if (choice < 0.97) {
        const offset = Math.floor(random() * 30) * 4096;
        cache.insertIfRoom(runId, offset, fakeBlock(10));
        model.insertIfRoom({ key: keyOf(runId, offset), runId, partition: false, sizeBytes: blockSlotBytes, referenced: false });
      } else if (choice < 0.985) {
        cache.dropRun(runId);
        model.dropRun(runId);
      } else {
        cache.retireRun(runId);
        model.retireRun(runId);
        retired++;
      }
      expect(cache.bytes).toBe(model.bytes);
      expect(cache.partitionBytes).toBe(model.partitionBytes);
      expect(cache.blocks).toBe(model.count);
      if (model.bytes + blockSlotBytes > maxBytes) evictionsSeen++;
    }
    // The sequence did exercise eviction (the cache was full for most steps) and each rule.
    expect(evictionsSeen).toBeGreaterThan(10_000);
    expect(model.dataRefused).toBeGreaterThan(100);
    expect(model.partitionsEvicted).toBeGreaterThan(100);
    expect(retired).toBeGreaterThan(100);
    expect(cache.evictions).toBeGreaterThan(1_000);
  });

  it('evicts in O(1): 200,000 evictions through a small cache keep the oldest-first order', () => {
    const block = fakeBlock(10);
    const slotBytes = block.sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    const cache = new BlockCache(4 * slotBytes);
    for (let index = 0; index < 200_000; index++) cache.set(1, index * 4096, block);
    expect(cache.evictions).toBe(200_000 - 4);
    // The four newest are held, the one before them is not.
    for (let index = 200_000 - 4; index < 200_000; index++) expect(cache.get(1, index * 4096)).toBe(block);
    expect(cache.get(1, (200_000 - 5) * 4096)).toBeUndefined();
  });
});
