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
 * again. Do not call advance() again before that promise settles. `skipKey()` is
 * advance() past every entry of the current key left (same contract): a scan that has
 * the key's answer leaves the key's older versions unread.
 *
 * Skipping a key (the index holds each block's last key): forward, the key goes on past
 * the held block only when that block's last key is the key; the first block whose last
 * key is greater (firstBlockAfter) then holds the next key, after the key's last entries
 * (upperBound), and the blocks between, nothing but the key's entries, are not read.
 * Reverse, the walk meets a key's oldest entries first: when they reach the start of a
 * block and the key goes on into the block before it, the cursor does not walk back
 * block by block but goes to the key's first block (firstBlockAtOrAfter, inside the
 * partition: a partition never splits a key), hands out the key's entries from there in
 * file order (the blocks between read only as it gets to them), then those of the block
 * where it met the key, and goes on backwards from just before the key in its first
 * block. A key with 20,000 versions over ~600 blocks: a scan that takes its newest entry
 * and skips the key reads one or two of its blocks, forward or reverse, not all of them.
 * `seekVersion(version)` passes over the whole blocks of the current key above an old
 * version (a scan as of it, retention unbounded) to the block ending just above it,
 * found as a point read finds it (run-cursor-seek.ts); reverse, over the blocks it walks
 * forward from the key's first.
 *
 * Blocks are walked through the run's partitions (RunReader.partition: a format-3
 * run's index partitions in order, a format-2 run's one flat index) by the BlockWalker both
 * cursors extend (run-block-walker.ts).
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
import { BlockWalker, type Bound } from './run-block-walker.js';

export interface RunCursor {
  readonly current: RunEntry | undefined;
  advance(): Promise<void> | undefined;
  /** Moves past the current key's entries left, to the next key's first (as advance(): undefined when synchronous). */
  skipKey(): Promise<void> | undefined;
  /**
   * Inside the current key, moves to the last entry above `version` when whole blocks of
   * the key lie before it, reading a few of them (run-cursor-seek.ts); else stays. The
   * entries passed over are not handed out: for a reader that needs, of the entries
   * above a version, only the one just above its answer (resolve.ts, retention
   * unbounded). Undefined when synchronous, else a promise (as advance()).
   */
  seekVersion(version: number): Promise<void> | undefined;
  close(): void;
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

  skipKey(): Promise<void> | undefined {
    const current = this.current;
    if (current === undefined) return undefined;
    const key = current.key;
    const partition = this.partition as RunPartition;
    const index = partition.index;
    // The key ends inside the held block (its last key is another).
    if (index.compareLastKey(key, this.local) !== 0) {
      this.position = (this.block as DecodedBlock).upperBound(key);
      return this.settle();
    }
    // Else in the block before the first whose last key is greater, or in the partition's last block (a partition never splits a key).
    const next = index.firstBlockAfter(key);
    const pending = next < index.blockCount ? this.moveToBlock(partition, next) : this.moveToPartition(partition.number + 1);
    if (pending === false) return this.exhaust();
    if (pending !== undefined) return pending.then(() => this.afterKey(key));
    return this.afterKey(key);
  }

  seekVersion(version: number): Promise<void> | undefined {
    const current = this.current;
    if (current === undefined) return undefined;
    // Whole blocks of the key follow only when the held block ends with it.
    const index = (this.partition as RunPartition).index;
    if (index.compareLastKey(current.key, this.local) !== 0) return undefined;
    return this.seekFrom(index.firstBlockAfter(current.key), version);
  }

  /** Settles on the first entry past `key` in the held block (the block after the key's last full one). */
  private afterKey(key: string): Promise<void> | undefined {
    if (this.closed || this.block === undefined) return this.exhaust();
    this.position = this.block.upperBound(key);
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

/** A key whose entries began in a block before the one where the reverse walk met it. */
interface KeySpan {
  readonly partition: RunPartition;
  /** Its first block, that block, and the position of its first (newest) entry there. */
  readonly first: number;
  readonly block: DecodedBlock;
  readonly start: number;
  /** The block where the walk met it (its last), whose entries of the key are the group. */
  readonly end: number;
}

class ReverseRunCursor extends BlockWalker implements RunCursor {
  /** The key being gathered: its entries in the block where the walk met it, oldest first (reversed when complete). */
  #gathering: RunEntry[] = [];
  /** The current key's entries in that block, newest first, and the next one's place. */
  #group: RunEntry[] = [];
  #groupPosition = 0;
  /** Set while the current key began in an earlier block (see the module header). */
  #span: KeySpan | undefined;
  /** True while handing out the key's entries in the blocks before `#span.end` (then the group's). */
  #inSpan = false;

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
    if (this.#inSpan) return this.advanceInSpan();
    this.#groupPosition++;
    if (this.#groupPosition < this.#group.length) {
      this.current = this.#group[this.#groupPosition];
      return undefined;
    }
    return this.nextKey();
  }

  skipKey(): Promise<void> | undefined {
    if (this.current === undefined) return undefined;
    return this.nextKey();
  }

  seekVersion(version: number): Promise<void> | undefined {
    // A key met in one block is held whole (the group); one that began earlier is walked forward from its first block.
    if (this.current === undefined || !this.#inSpan) return undefined;
    return this.seekFrom((this.#span as KeySpan).end, version);
  }

  /** Goes back to just before the current key (in its first block when it spans blocks) and gathers the next key. */
  private nextKey(): Promise<void> | undefined {
    const span = this.#span;
    if (span !== undefined) {
      this.hold(span.partition, span.first, span.block);
      this.position = span.start - 1;
      this.#span = undefined;
      this.#inSpan = false;
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
        if (gatheringKey !== undefined) {
          // A key's versions may span blocks, never partitions: it continues only into the previous block of the same partition.
          const continues = this.local > 0 && (this.partition as RunPartition).index.compareLastKey(gatheringKey, this.local - 1) === 0;
          return continues ? this.startSpan(gatheringKey) : this.finishGroup();
        }
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
    this.takeGroup();
    this.current = this.#group[0];
    return undefined;
  }

  /** The gathered entries become the group, newest first. */
  private takeGroup(): void {
    assert(this.#gathering.length > 0, 'a finished group holds entries');
    this.#group = this.#gathering.reverse();
    this.#gathering = [];
    this.#groupPosition = 0;
  }

  /**
   * The key gathered goes on into the block before: goes to its first block (the blocks
   * between are read only if the key's entries are taken) and makes its newest entry current.
   */
  private startSpan(key: string): Promise<void> | undefined {
    const partition = this.partition as RunPartition;
    const end = this.local;
    const first = partition.index.firstBlockAtOrAfter(key);
    assert(first < end, "a key that goes on into the block before starts there or earlier");
    this.takeGroup();
    const pending = this.moveToBlock(partition, first);
    if (pending !== undefined) return pending.then(() => this.enterSpan(partition, first, end, key));
    return this.enterSpan(partition, first, end, key);
  }

  private enterSpan(partition: RunPartition, first: number, end: number, key: string): undefined {
    if (this.closed || this.block === undefined) return this.exhaust();
    const block = this.block;
    const start = block.lowerBound(key);
    assert(start < block.count, "the key's first block holds its newest entry");
    this.#span = { partition, first, block, start, end };
    this.#inSpan = true;
    this.position = start;
    this.current = block.entryWithKey(start, key);
    return undefined;
  }

  /** The key's next entry in file order among its blocks before the span's end, else the group's first. */
  private advanceInSpan(): Promise<void> | undefined {
    const key = (this.current as RunEntry).key;
    const block = this.block as DecodedBlock;
    this.position++;
    if (this.position < block.count) {
      this.current = block.entryWithKey(this.position, key);
      return undefined;
    }
    const span = this.#span as KeySpan;
    if (this.local + 1 >= span.end) {
      this.#inSpan = false;
      this.current = this.#group[0];
      return undefined;
    }
    // The blocks between the first and the end hold nothing but the key's entries.
    const pending = this.moveToBlock(span.partition, this.local + 1);
    if (pending !== undefined) return pending.then(() => this.spanBlockHeld(key));
    return this.spanBlockHeld(key);
  }

  private spanBlockHeld(key: string): undefined {
    if (this.closed || this.block === undefined) return this.exhaust();
    this.position = 0;
    this.current = this.block.entryWithKey(0, key);
    return undefined;
  }
}
