/**
 * BlockWalker: what a run cursor (run-cursor.ts) holds, the partition and data block it
 * reads and its position there, and its moves to another block (synchronous when the
 * block is cached), to another partition, and inside a key with many versions to the
 * block just above an old version (seekFrom, run-cursor-seek.ts).
 *
 * Invariants: the walker holds a reference to the block and the partition it reads (not
 * only the cache), so an eviction never invalidates it; values are views into held blocks.
 */
import type { DecodedBlock } from './data-block.js';
import type { RunEntry } from './run-descriptor.js';
import type { RunPartition } from './run-partitions.js';
import type { RunReader } from './run-reader.js';
import { blockAboveVersion, type SeekBlock } from './run-cursor-seek.js';

export interface Bound {
  key: string;
  inclusive: boolean;
}

/** Shared: which partition and block are held, and moving to another one (sync when cached). */
export abstract class BlockWalker {
  protected readonly reader: RunReader;
  protected readonly low: Bound | undefined;
  protected readonly high: Bound | undefined;
  protected partition: RunPartition | undefined;
  /** The held block's number inside `partition`. */
  protected local = -1;
  protected block: DecodedBlock | undefined;
  protected position = 0;
  current: RunEntry | undefined;
  protected closed = false;
  /** False: blocks and partitions read by this cursor are not offered to the block cache. */
  readonly #fillCache: boolean;

  constructor(reader: RunReader, low: Bound | undefined, high: Bound | undefined, fillCache: boolean) {
    this.reader = reader;
    this.low = low;
    this.high = high;
    this.#fillCache = fillCache;
  }

  protected openPartition(number: number): RunPartition | Promise<RunPartition> {
    return this.reader.partition(number, this.#fillCache);
  }

  /** Holds block `local` of `partition`; undefined when it was cached, else a promise. */
  protected moveToBlock(partition: RunPartition, local: number): Promise<void> | undefined {
    const cached = this.reader.blockInPartitionIfCached(partition.index, local);
    if (cached !== undefined) {
      this.hold(partition, local, cached);
      return undefined;
    }
    return this.reader.readBlockInPartition(partition.index, local, this.#fillCache).then((block) => this.hold(partition, local, block));
  }

  /**
   * Holds the block after (`step` 1) or before (`step` -1) the held one in file order,
   * crossing into the next or previous partition; false when there is none, undefined
   * when done synchronously, else a promise.
   */
  protected moveBy(step: 1 | -1): false | Promise<void> | undefined {
    const partition = this.partition as RunPartition;
    const local = this.local + step;
    if (local >= 0 && local < partition.index.blockCount) return this.moveToBlock(partition, local);
    const number = partition.number + step;
    if (number < 0 || number >= this.reader.partitionCount) return false;
    const next = this.openPartition(number);
    const blockIn = (opened: RunPartition) => (step === 1 ? 0 : opened.index.blockCount - 1);
    if (next instanceof Promise) return next.then((opened) => this.moveToBlock(opened, blockIn(opened)));
    return this.moveToBlock(next, blockIn(next));
  }

  /** Holds the first block of partition `number`; false when there is none, undefined when done synchronously, else a promise. */
  protected moveToPartition(number: number): false | Promise<void> | undefined {
    if (number >= this.reader.partitionCount) return false;
    const next = this.openPartition(number);
    if (next instanceof Promise) return next.then((opened) => this.moveToBlock(opened, 0));
    return this.moveToBlock(next, 0);
  }

  /** Block `local` of `partition`, without holding it: cached, else read (offered to the cache with fillCache). */
  protected blockAt(partition: RunPartition, local: number): DecodedBlock | Promise<DecodedBlock> {
    return this.reader.blockInPartitionIfCached(partition.index, local) ?? this.reader.readBlockInPartition(partition.index, local, this.#fillCache);
  }

  /**
   * RunCursor.seekVersion from the held block, whose entries from `position` on are the
   * current key's, over the key's blocks before `fullEnd` (each ends with the key): to the
   * last entry of the block that ends just above `version` (run-cursor-seek.ts). Stays
   * when the current entry is at or below it, or the held block ends at or below it, or
   * no block lies between.
   */
  protected seekFrom(fullEnd: number, version: number): Promise<void> | undefined {
    const current = this.current as RunEntry;
    const block = this.block as DecodedBlock;
    const partition = this.partition as RunPartition;
    if (current.version <= version || fullEnd - this.local < 2 || (block.versions[block.count - 1] as number) <= version) return undefined;
    const key = current.key;
    const found = blockAboveVersion(key, this.local, block, this.position, fullEnd, version, (local) => this.blockAt(partition, local));
    if (found instanceof Promise) return found.then((landed) => this.landOn(partition, landed, key));
    return this.landOn(partition, found, key);
  }

  private landOn(partition: RunPartition, landed: SeekBlock, key: string): undefined {
    if (this.closed) return this.exhaust();
    this.hold(partition, landed.local, landed.block);
    this.position = landed.block.count - 1;
    this.current = landed.block.entryWithKey(this.position, key);
    return undefined;
  }

  protected hold(partition: RunPartition, local: number, block: DecodedBlock): void {
    this.partition = partition;
    this.local = local;
    this.block = block;
  }

  protected exhaust(): undefined {
    this.current = undefined;
    this.block = undefined;
    return undefined;
  }

  close(): void {
    this.closed = true;
    this.exhaust();
  }
}
