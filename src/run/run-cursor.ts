/**
 * RunCursor: walks one run's entries inside a KeyRange without a promise per entry.
 *
 * Forward: key ascending, version descending (file order). Reverse: key descending,
 * but within a key version descending too (newest first): the reverse cursor gathers
 * one key's entries (its versions may span blocks) walking backwards, then hands them
 * out in file order.
 *
 * Contract: `current` is the entry under the cursor, undefined once exhausted.
 * `advance()` returns undefined when the next entry was available synchronously
 * (inside a block already held), else a promise that settles when `current` is valid
 * again. Do not call advance() again before that promise settles.
 *
 * Blocks are walked through the run's partitions (RunReader.partition: a format-3
 * run's index partitions in order, a format-2 run's one flat index).
 *
 * Invariants: the cursor holds a reference to the block and the partition it reads
 * (not only the cache), so an eviction never invalidates it; values are views into
 * held blocks.
 */
import type { KeyRange } from '../memory/memory-index.js';
import { assert } from '../util/assert.js';
import type { DecodedBlock } from './data-block.js';
import type { RunEntry } from './run-descriptor.js';
import type { RunPartition } from './run-partitions.js';
import type { RunReader } from './run-reader.js';

export interface RunCursor {
  readonly current: RunEntry | undefined;
  advance(): Promise<void> | undefined;
  close(): void;
}

interface Bound {
  key: string;
  inclusive: boolean;
}

/** The tighter of gt/gte and of lt/lte. */
function normalize(range: KeyRange): { low: Bound | undefined; high: Bound | undefined } {
  let low: Bound | undefined;
  if (range.gte !== undefined) low = { key: range.gte, inclusive: true };
  if (range.gt !== undefined && (low === undefined || range.gt >= low.key)) low = { key: range.gt, inclusive: false };
  let high: Bound | undefined;
  if (range.lte !== undefined) high = { key: range.lte, inclusive: true };
  if (range.lt !== undefined && (high === undefined || range.lt <= high.key)) high = { key: range.lt, inclusive: false };
  return { low, high };
}

function aboveLow(key: string, low: Bound | undefined): boolean {
  return low === undefined || (low.inclusive ? key >= low.key : key > low.key);
}

function belowHigh(key: string, high: Bound | undefined): boolean {
  return high === undefined || (high.inclusive ? key <= high.key : key < high.key);
}

export async function openRunCursor(reader: RunReader, range: KeyRange, reverse: boolean, fillCache = true): Promise<RunCursor> {
  const { low, high } = normalize(range);
  const cursor = reverse ? new ReverseRunCursor(reader, low, high, fillCache) : new ForwardRunCursor(reader, low, high, fillCache);
  const { smallestKey, largestKey } = reader.descriptor;
  if (!belowHigh(smallestKey, high) || !aboveLow(largestKey, low) || (low !== undefined && high !== undefined && !belowHigh(low.key, high))) {
    return cursor; // exhausted from the start, no I/O
  }
  await cursor.start();
  return cursor;
}

/** Shared: which partition and block are held, and moving to another one (sync when cached). */
abstract class BlockWalker {
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

  private hold(partition: RunPartition, local: number, block: DecodedBlock): void {
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

class ForwardRunCursor extends BlockWalker implements RunCursor {
  async start(): Promise<void> {
    const reader = this.reader;
    const low = this.low;
    const number = low === undefined ? 0 : low.inclusive ? reader.partitionAtOrAfter(low.key) : reader.partitionAfter(low.key);
    if (number >= reader.partitionCount) return;
    const partition = await this.openPartition(number);
    const index = partition.index;
    const first = low === undefined ? 0 : low.inclusive ? index.firstBlockAtOrAfter(low.key) : index.firstBlockAfter(low.key);
    assert(first < index.blockCount, 'the partition found for the low bound holds a block at or past it');
    await this.moveToBlock(partition, first);
    const block = this.block as DecodedBlock;
    this.position = low === undefined ? 0 : low.inclusive ? block.lowerBound(low.key) : block.upperBound(low.key);
    await this.settle();
  }

  advance(): Promise<void> | undefined {
    if (this.current === undefined) return undefined;
    this.position++;
    return this.settle();
  }

  /** Makes `current` the entry at the position, moving to the next block past the end. */
  private settle(): Promise<void> | undefined {
    for (;;) {
      if (this.closed || this.block === undefined) return this.exhaust();
      if (this.position < this.block.count) {
        const key = this.block.keys[this.position] as string;
        if (!belowHigh(key, this.high)) return this.exhaust();
        this.current = this.block.entryWithKey(this.position, key);
        return undefined;
      }
      this.position = 0;
      const pending = this.moveBy(1);
      if (pending === false) return this.exhaust();
      if (pending !== undefined) return pending.then(() => this.settle());
    }
  }
}

class ReverseRunCursor extends BlockWalker implements RunCursor {
  /** The key being gathered and its entries, oldest first (reversed when complete). */
  #gathering: RunEntry[] = [];
  #group: RunEntry[] = [];
  #groupPosition = 0;

  async start(): Promise<void> {
    const reader = this.reader;
    const high = this.high;
    const found = high === undefined ? reader.partitionCount : high.inclusive ? reader.partitionAfter(high.key) : reader.partitionAtOrAfter(high.key);
    const partition = await this.openPartition(Math.min(found, reader.partitionCount - 1));
    const index = partition.index;
    if (found >= reader.partitionCount || high === undefined) {
      await this.moveToBlock(partition, index.blockCount - 1);
      this.position = (this.block as DecodedBlock).count - 1;
    } else {
      const local = high.inclusive ? index.firstBlockAfter(high.key) : index.firstBlockAtOrAfter(high.key);
      assert(local < index.blockCount, 'the partition found for the high bound holds a block past it');
      await this.moveToBlock(partition, local);
      const block = this.block as DecodedBlock;
      this.position = (high.inclusive ? block.upperBound(high.key) : block.lowerBound(high.key)) - 1;
    }
    await this.gather();
  }

  advance(): Promise<void> | undefined {
    if (this.current === undefined) return undefined;
    this.#groupPosition++;
    if (this.#groupPosition < this.#group.length) {
      this.current = this.#group[this.#groupPosition];
      return undefined;
    }
    return this.gather();
  }

  /** Gathers the next key (walking backwards from the position) and makes its newest entry current. */
  private gather(): Promise<void> | undefined {
    for (;;) {
      if (this.closed || this.block === undefined) return this.exhaust();
      const gathering = this.#gathering;
      const gatheringKey = gathering[0]?.key;
      if (this.position < 0) {
        // A key's versions may span blocks, never partitions: it continues only into the previous block of the same partition.
        const continues = gatheringKey !== undefined && this.local > 0 && (this.partition as RunPartition).index.compareLastKey(gatheringKey, this.local - 1) === 0;
        if (gatheringKey !== undefined && !continues) return this.finishGroup();
        const pending = this.moveBy(-1);
        if (pending === false) return this.exhaust();
        if (pending !== undefined) {
          return pending.then(() => {
            this.position = (this.block as DecodedBlock).count - 1;
            return this.gather();
          });
        }
        this.position = (this.block as DecodedBlock).count - 1;
        continue;
      }
      const entryKey = this.block.keys[this.position] as string;
      if (gatheringKey === undefined) {
        if (!aboveLow(entryKey, this.low)) return this.exhaust();
      } else if (entryKey !== gatheringKey) {
        return this.finishGroup();
      }
      gathering.push(this.block.entry(this.position));
      this.position--;
    }
  }

  private finishGroup(): undefined {
    assert(this.#gathering.length > 0, 'a finished group holds entries');
    this.#group = this.#gathering.reverse();
    this.#gathering = [];
    this.#groupPosition = 0;
    this.current = this.#group[0];
    return undefined;
  }
}
