/**
 * StripedRunFile: checked block reads of one run file, with repair from parity
 * (docs/FORMAT.md, "Stripes and parity" and "Repair").
 *
 * readBlock() reads a block's logical pages, checks them against the parent's
 * checksum (bound to the block's address) and returns them. On a checksum
 * mismatch, a short read or EIO it rebuilds the block from its stripes
 * (src/stripe/stripe-repair.ts), checks the rebuilt block against the same parent
 * checksum, returns it, and writes the rebuilt pages back in place: one page
 * write and a datasync through a separate read-write handle (of a page shared with
 * other blocks, format 4, only the bytes of blocks whose checks pass are rebuilt
 * ones; the rest is written as read; an unreadable page only when every byte of it is
 * vouched for, run-file-page-check.ts). A crash or a failed
 * write there leaves the old bad page, a torn mix, or the good page: each is at
 * worst one bad page in its stripe, which the next read repairs again.
 * A block that cannot be rebuilt is a StripeCorruptionError naming the run, the
 * stripes and every bad block found in them; other stripes read on.
 *
 * Read scratch: a caller that only needs a block's bytes until a synchronous step
 * after the read (a compressed block: decompressed into fresh memory right away)
 * reads into a scratch buffer taken from a small free list (takeReadScratch) and
 * gives it back after (releaseReadScratch), instead of allocating a fresh buffer
 * per block read and leaving it to the collector.
 *
 * Invariants: bytes are returned only after the parent's checksum matched; two
 * reads of one bad block share one repair; counters only grow, but for
 * unrecoverableBlocks, a gauge: the blocks whose last read could not rebuild them (a
 * later read that answers takes the block out of it); a scratch buffer is
 * held by one read at a time (taken off the list, put back only by its taker) and
 * the list holds at most READ_SCRATCH_BUFFERS_MAX buffers of at most
 * READ_SCRATCH_BYTES_MAX bytes each.
 */
import { Buffer } from 'node:buffer';
import { AssertionFailedError, asTypedError, CorruptionError } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { StripeCorruptionError, isRepairableReadError } from '../stripe/stripe-errors.js';
import { rebuildBlock, type StripePages } from '../stripe/stripe-repair.js';
import { checkedPageBytes } from './run-file-page-check.js';
import type { StripeLayout } from '../stripe/stripe-layout.js';
import { blockChecksum, checkBlock, type BlockAddress, type BlockKindValue } from './run-format.js';

/** Scratch buffers kept for reuse (one per concurrent compressed-block read beyond this is allocated and dropped). */
export const READ_SCRATCH_BUFFERS_MAX = 8;
/** Largest scratch buffer kept (a compressed block of 24 KiB of entries is a page or two). */
export const READ_SCRATCH_BYTES_MAX = 256 * 1024;
/** Smallest scratch buffer made, so one buffer serves blocks of a few pages. */
const READ_SCRATCH_BYTES_MIN = 64 * 1024;

const readScratchFree: Buffer[] = [];
/** Scratch buffers allocated since load (tests check reads reuse them). */
export const readScratchCounters = { allocated: 0 };

/** A buffer of at least `lengthBytes` for one read; give it back with releaseReadScratch. */
export function takeReadScratch(lengthBytes: number): Buffer {
  for (let index = readScratchFree.length - 1; index >= 0; index--) {
    const buffer = readScratchFree[index] as Buffer;
    if (buffer.length < lengthBytes) continue;
    readScratchFree[index] = readScratchFree[readScratchFree.length - 1] as Buffer;
    readScratchFree.pop();
    return buffer;
  }
  readScratchCounters.allocated++;
  return Buffer.allocUnsafeSlow(Math.max(lengthBytes, READ_SCRATCH_BYTES_MIN));
}

/** Gives back a buffer from takeReadScratch; the caller holds no view of it afterwards. */
export function releaseReadScratch(buffer: Buffer): void {
  assert(!readScratchFree.includes(buffer), 'a scratch buffer is released once');
  if (readScratchFree.length < READ_SCRATCH_BUFFERS_MAX && buffer.length <= READ_SCRATCH_BYTES_MAX) readScratchFree.push(buffer);
}

/** What a run reader counts (the store adds them up for stats()). */
export interface RunRepairCounters {
  /** Blocks rebuilt from parity and returned. */
  repairedBlocks: number;
  /** Parity pages found stale by scrub and rewritten. */
  repairedParityPages: number;
  /**
   * Blocks whose last read failed its check and could not be rebuilt: a gauge, not a count
   * of failed reads. A block read fine later (the fault was transient, or a scrub or a read
   * repaired it) leaves it, so it agrees with what a scrub now finds.
   */
  unrecoverableBlocks: number;
  /** Reads that failed once and then read back good bytes, nothing rebuilt. */
  transientReadErrors: number;
  /** In-place rewrites of rebuilt pages that failed (the data was still returned). */
  rewriteFailures: number;
}

export interface RepairEvent {
  runId: number;
  file: string;
  kind: BlockKindValue | 'parity';
  logicalOffset: number;
  stripes: number[];
  /** Logical pages rebuilt (for parity: the stripe's parity page). */
  pages: number[];
  rewritten: boolean;
}

/** A block of the run as its parent describes it. */
export interface BlockRef {
  logicalOffset: number;
  lengthBytes: number;
  kind: BlockKindValue;
  checksum: bigint;
}

export interface CheckedBlock {
  bytes: Buffer;
  payloadBytes: number;
  entryCount: number;
}

export class StripedRunFile {
  readonly path: string;
  readonly runId: number;
  readonly generation: number;
  readonly layout: StripeLayout;
  readonly counters: RunRepairCounters = { repairedBlocks: 0, repairedParityPages: 0, unrecoverableBlocks: 0, transientReadErrors: 0, rewriteFailures: 0 };
  /**
   * Lists the blocks lying in a stripe (set by the reader once the index is known; before
   * that only what the footer names). Asynchronous: a format-3 reader reads the index
   * partitions whose data spans the stripe. Used only to name other bad blocks in an error.
   */
  blocksInStripe: (stripe: number) => BlockRef[] | Promise<BlockRef[]> = () => [];
  onRepair: ((event: RepairEvent) => void) | undefined;
  readonly #fileSystem: FileSystem;
  readonly #handle: FileHandle;
  readonly #hash: Hash64;
  readonly #repairs = new Map<number, Promise<CheckedBlock>>();
  /** Logical offsets of the blocks whose last read could not rebuild them (counters.unrecoverableBlocks is its size). */
  readonly #unrecoverable = new Set<number>();
  /** The blocks #repair answered with bytes rebuilt from parity, and whether those were written back (repairOf). */
  readonly #repaired = new WeakMap<CheckedBlock, { rewritten: boolean }>();

  constructor(fileSystem: FileSystem, handle: FileHandle, path: string, hash: Hash64, identity: { runId: number; generation: number }, layout: StripeLayout) {
    this.#fileSystem = fileSystem;
    this.#handle = handle;
    this.path = path;
    this.#hash = hash;
    this.runId = identity.runId;
    this.generation = identity.generation;
    this.layout = layout;
  }

  readonly readPhysical = async (buffer: Buffer, position: number): Promise<void> => {
    let done = 0;
    while (done < buffer.length) {
      let count: number;
      try {
        count = await this.#handle.read(buffer, done, buffer.length - done, position + done);
      } catch (error) {
        throw asTypedError(error, `reading ${this.path} at offset ${position + done}`);
      }
      if (count === 0) throw new CorruptionError(this.path, position + done, `short read: ${buffer.length - done} bytes missing`);
      done += count;
    }
  };

  /** readPhysical on the calling thread. REQUIRES: the handle has readSync. */
  #readPhysicalSync(buffer: Buffer, position: number): void {
    const handle = this.#handle;
    assert(handle.readSync !== undefined, 'synchronous reads need readSync');
    let done = 0;
    while (done < buffer.length) {
      let count: number;
      try {
        count = handle.readSync(buffer, done, buffer.length - done, position + done);
      } catch (error) {
        throw asTypedError(error, `reading ${this.path} at offset ${position + done}`);
      }
      if (count === 0) throw new CorruptionError(this.path, position + done, `short read: ${buffer.length - done} bytes missing`);
      done += count;
    }
  }

  /** The block's bytes as stored (no check), in `scratch` when given (at least `lengthBytes` long). */
  async readLogical(logicalOffset: number, lengthBytes: number, scratch?: Buffer): Promise<Buffer> {
    assert(scratch === undefined || scratch.length >= lengthBytes, 'the scratch buffer holds the block');
    const bytes = scratch === undefined ? Buffer.allocUnsafeSlow(lengthBytes) : scratch.subarray(0, lengthBytes);
    let done = 0;
    for (const extent of this.layout.extents(logicalOffset, lengthBytes)) {
      await this.readPhysical(bytes.subarray(done, done + extent.lengthBytes), extent.physicalOffset);
      done += extent.lengthBytes;
    }
    return bytes;
  }

  /** readLogical on the calling thread. REQUIRES: the handle has readSync. */
  #readLogicalSync(logicalOffset: number, lengthBytes: number, scratch: Buffer | undefined): Buffer {
    assert(scratch === undefined || scratch.length >= lengthBytes, 'the scratch buffer holds the block');
    const bytes = scratch === undefined ? Buffer.allocUnsafeSlow(lengthBytes) : scratch.subarray(0, lengthBytes);
    let done = 0;
    for (const extent of this.layout.extents(logicalOffset, lengthBytes)) {
      this.#readPhysicalSync(bytes.subarray(done, done + extent.lengthBytes), extent.physicalOffset);
      done += extent.lengthBytes;
    }
    assert(done === lengthBytes, 'the extents cover the block');
    return bytes;
  }

  #address(block: BlockRef): BlockAddress {
    return { runId: this.runId, generation: this.generation, offset: block.logicalOffset, kind: block.kind };
  }

  /** True if `bytes` pass the block's check (parent checksum, header copy, payload length). */
  passes(block: BlockRef, bytes: Buffer): boolean {
    try {
      checkBlock(this.#hash, this.path, bytes, this.#address(block), block.checksum);
      return true;
    } catch (error) {
      if (error instanceof CorruptionError) return false;
      throw error;
    }
  }

  /**
   * Reads and checks a block; with `repair`, a block that fails is rebuilt from
   * parity (and written back); without, the first failure is thrown. With
   * `scratch` (takeReadScratch), the bytes returned may be a view of it: the caller
   * uses them before releasing it (a repaired block's bytes are fresh memory).
   */
  async readBlock(block: BlockRef, repair: boolean, scratch?: Buffer): Promise<CheckedBlock> {
    try {
      const bytes = await this.readLogical(block.logicalOffset, block.lengthBytes, scratch);
      const { payloadBytes, entryCount } = checkBlock(this.#hash, this.path, bytes, this.#address(block), block.checksum);
      if (this.#unrecoverable.size > 0) this.#readable(block);
      return { bytes, payloadBytes, entryCount };
    } catch (error) {
      if (!repair || !isRepairableReadError(error)) throw error;
    }
    return this.#sharedRepair(block);
  }

  /**
   * readBlock(), answered on the calling thread when the handle reads synchronously
   * (readSync) and the block passes its check: no promise, no microtask. A block that
   * fails (checksum, short read, EIO) goes to the same repair as readBlock (a promise),
   * so every check and every repair rule holds on both paths; without readSync this
   * is readBlock.
   */
  readBlockNow(block: BlockRef, repair: boolean, scratch?: Buffer): CheckedBlock | Promise<CheckedBlock> {
    if (this.#handle.readSync === undefined) return this.readBlock(block, repair, scratch);
    try {
      const bytes = this.#readLogicalSync(block.logicalOffset, block.lengthBytes, scratch);
      const { payloadBytes, entryCount } = checkBlock(this.#hash, this.path, bytes, this.#address(block), block.checksum);
      if (this.#unrecoverable.size > 0) this.#readable(block);
      return { bytes, payloadBytes, entryCount };
    } catch (error) {
      if (!repair || !isRepairableReadError(error)) throw error;
    }
    return this.#sharedRepair(block);
  }

  /** The repair of `block`, shared by every reader that found it bad meanwhile. */
  #sharedRepair(block: BlockRef): Promise<CheckedBlock> {
    let repairing = this.#repairs.get(block.logicalOffset);
    if (repairing === undefined) {
      repairing = this.#repair(block).finally(() => this.#repairs.delete(block.logicalOffset));
      this.#repairs.set(block.logicalOffset, repairing);
    }
    return repairing;
  }

  async #repair(block: BlockRef): Promise<CheckedBlock> {
    const result = await rebuildBlock(this.layout, this.readPhysical, (error) => !isRepairableReadError(error), block, (bytes) => this.passes(block, bytes));
    const stripes = [...result.stripes.keys()];
    if (result.bytes === undefined) {
      this.#unrecoverable.add(block.logicalOffset);
      this.counters.unrecoverableBlocks = this.#unrecoverable.size;
      const bad = [block.logicalOffset, ...(await this.#otherBadBlocks(block, stripes))];
      throw new StripeCorruptionError(this.path, this.runId, block.logicalOffset, stripes, bad, this.#detail(result.stripes));
    }
    const { payloadBytes, entryCount } = checkBlock(this.#hash, this.path, result.bytes, this.#address(block), block.checksum);
    this.#readable(block);
    if (result.rebuiltPages.length === 0) {
      this.counters.transientReadErrors++;
      return { bytes: result.bytes, payloadBytes, entryCount };
    }
    this.counters.repairedBlocks++;
    const pages: Array<{ physicalOffset: number; bytes: Uint8Array }> = [];
    for (const [position, page] of result.rebuiltPages.entries()) {
      const bytes = await checkedPageBytes(this, block, page, result.rebuiltPageBytes[position]!, result.readPageBytes[position]);
      if (bytes !== undefined) pages.push({ physicalOffset: this.layout.physicalPage(page) * this.layout.pageBytes, bytes });
    }
    const rewritten = pages.length > 0 && await this.rewritePages(pages);
    this.onRepair?.({ runId: this.runId, file: this.path, kind: block.kind, logicalOffset: block.logicalOffset, stripes, pages: result.rebuiltPages, rewritten });
    const checked: CheckedBlock = { bytes: result.bytes, payloadBytes, entryCount };
    this.#repaired.set(checked, { rewritten });
    return checked;
  }

  /** `block` read and passed its check: no longer unrecoverable. */
  #readable(block: BlockRef): void {
    if (this.#unrecoverable.delete(block.logicalOffset)) this.counters.unrecoverableBlocks = this.#unrecoverable.size;
  }

  /**
   * Whether the read that answered `checked` (readBlock, readBlockNow) rebuilt it from parity,
   * and whether the rebuilt pages were written back; undefined when it read as stored. Per
   * read, unlike `counters`, which every reader of the run shares: a scrub step asks this, so
   * that a repair a concurrent read made elsewhere in the run is not taken for its own.
   */
  repairOf(checked: CheckedBlock): { rewritten: boolean } | undefined {
    return this.#repaired.get(checked);
  }

  #detail(stripes: Map<number, StripePages>): string {
    const unreadable = [...stripes.values()].reduce((total, pages) => total + pages.filter((page) => page === undefined).length, 0);
    return unreadable > 0 ? `${unreadable} unreadable page(s) in the stripe` : 'no rebuild of at most one page per stripe passes the check';
  }

  /** Other blocks of the stripes that fail their check (their pages as stored), for the error. */
  async #otherBadBlocks(block: BlockRef, stripes: number[]): Promise<number[]> {
    const bad = new Set<number>();
    for (const stripe of stripes) {
      for (const other of await this.blocksInStripe(stripe)) {
        if (other.logicalOffset === block.logicalOffset || bad.has(other.logicalOffset)) continue;
        const bytes = await this.readLogical(other.logicalOffset, other.lengthBytes).catch((error: unknown) => {
          if (isRepairableReadError(error)) return undefined;
          throw error;
        });
        if (bytes === undefined || !this.passes(other, bytes)) bad.add(other.logicalOffset);
      }
    }
    return [...bad].sort((a, b) => a - b);
  }

  /**
   * Writes whole pages back in place and makes them durable; false (counted) if
   * that failed. Never throws for an I/O failure: the caller already has good bytes.
   */
  async rewritePages(pages: Array<{ physicalOffset: number; bytes: Uint8Array }>): Promise<boolean> {
    assert(pages.every((page) => page.bytes.length === this.layout.pageBytes && page.physicalOffset % this.layout.pageBytes === 0), 'rewrites are whole pages');
    let handle: FileHandle | undefined;
    try {
      handle = await this.#fileSystem.open(this.path, 'readWrite');
      for (const page of pages) await handle.write(page.bytes, page.physicalOffset);
      await handle.datasync();
      return true;
    } catch (error) {
      if (!(error instanceof Error) || error instanceof AssertionFailedError) throw error;
      this.counters.rewriteFailures++;
      return false;
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }

  /** Checksum of `bytes` at the block's address (scrub compares it with the parent's). */
  checksumOf(block: BlockRef, bytes: Buffer): bigint {
    return blockChecksum(this.#hash, bytes, this.#address(block));
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}
