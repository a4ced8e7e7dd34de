/**
 * VersionSeek: where a point read as of an old version starts among the blocks of a
 * key with many versions in one run (RunPointLookup.pointVersions' `seekVersion`).
 *
 * A run orders entries by key ascending, then version descending, and its index holds
 * each data block's last key only (docs/FORMAT.md: no version). The blocks whose last
 * key is the key, [first, fullEnd), hold nothing but its entries, oldest last: their
 * last entries' versions descend with the block number. So the first of them whose
 * last entry is at or below the read version (the landing block) holds the key's
 * first entry at or below it, or, when none is, the block after them (fullEnd) does,
 * if any does. The search reads blocks to find it: the key's first block (the answer
 * of a read of the newest version, as before), its last full block, then guesses by
 * interpolating the versions of the blocks known so far (versions grow with time,
 * so a key's blocks cover roughly even version spans), bisecting after a guess that
 * did not halve the blocks left: a few blocks for a key with 20,000 versions in ~600
 * blocks, instead of every block above the answer.
 *
 * The read then hands out the first block's entries (the key's newest: exact), the
 * entry just above the landing block (the last of the block before it, unless that is
 * the first block: what resolve.ts reads as the entry above the answer), and the
 * entries from the landing block on. Entries between are left out: the answer is
 * marked cut short (isCutShort), and the caller only reads it where entries above
 * the read version change nothing (maxVersionsPerKey unbounded: ReadView).
 */
import { assert } from '../util/assert.js';
import type { RunEntry } from './run-descriptor.js';

/** next()'s answer once the landing block is known. */
export const SEEK_DONE = -1;

export class VersionSeek {
  readonly #first: number;
  readonly #fullEnd: number;
  /** The read version: the landing block is the first whose last entry is at or below it. */
  readonly version: number;
  /** The highest block known to end above `version` (-1: none read yet), and its entries (`#lowWhole`: all of them, else the last). */
  #low = -1;
  #lowEntries: RunEntry[] | undefined;
  #lowWhole = false;
  /** The lowest block known to end at or below `version` (fullEnd: none known), and its entries (as `#low`'s). */
  #high: number;
  #highEntries: RunEntry[] | undefined;
  #highWhole = false;
  #firstEntries: RunEntry[] | undefined;
  /** True: the next guess bisects (the last interpolation left more than half). */
  #bisect = false;
  /** True while the block asked for is an interpolated guess. */
  #guessed = false;
  /** Blocks read by the search. */
  probes = 0;

  /** The key's blocks: [first, fullEnd) end with its entries (at least two of them: else nothing to skip). */
  constructor(first: number, fullEnd: number, version: number) {
    assert(fullEnd - first >= 2 && version >= 0, 'a seek over two or more blocks of a key, to a version');
    this.#first = first;
    this.#fullEnd = fullEnd;
    this.version = version;
    this.#high = fullEnd;
  }

  /** The block to read next, or SEEK_DONE. */
  next(): number {
    this.#guessed = false;
    if (this.#firstEntries === undefined) return this.#first;
    if (this.#high === this.#first || this.#high - this.#low <= 1) return SEEK_DONE;
    // The last full block: whether any full block reaches the version, and the other end to interpolate from.
    if (this.#high === this.#fullEnd && this.#highEntries === undefined) return this.#fullEnd - 1;
    const low = this.#low;
    const high = this.#high;
    if (this.#bisect || this.#highEntries === undefined) return (low + high) >>> 1;
    const lowVersion = ((this.#lowEntries as RunEntry[]).at(-1) as RunEntry).version;
    const highVersion = (this.#highEntries.at(-1) as RunEntry).version;
    this.#guessed = true;
    const guess = low + Math.ceil(((lowVersion - this.version) * (high - low)) / Math.max(1, lowVersion - highVersion));
    return Math.min(high - 1, Math.max(low + 1, guess));
  }

  /**
   * Block `block` (the last next()) holds `entries` of the key, newest first: all of
   * them when `whole` (always for the first block), else its last only (a cached block
   * is asked for that alone: no entry made for the others).
   */
  took(block: number, entries: RunEntry[], whole: boolean): void {
    this.probes++;
    const last = entries.at(-1);
    assert(last !== undefined, "a block that ends with the key holds one of its entries");
    const before = this.#high - this.#low;
    if (this.#firstEntries === undefined) {
      assert(whole && block === this.#first, "the first block's entries are read whole");
      this.#firstEntries = entries;
    }
    if (last.version <= this.version) {
      this.#high = block;
      this.#highEntries = entries;
      this.#highWhole = whole;
    } else {
      this.#low = block;
      this.#lowEntries = entries;
      this.#lowWhole = whole;
    }
    this.#bisect = this.#guessed && 2 * (this.#high - this.#low) > before;
  }

  /** The landing block (REQUIRES: next() said SEEK_DONE): the first that may hold an entry at or below the version. */
  get landing(): number {
    return this.#high;
  }

  /** The first block of the key (read whole first). */
  get first(): number {
    return this.#first;
  }

  /** True when the landing block's entries were read whole (they are in what appendTo gives). */
  get landingRead(): boolean {
    return this.#highEntries !== undefined && this.#highWhole;
  }

  /** True when entries between the first block and the landing one are left out. */
  get skipped(): boolean {
    return this.#low > this.#first + 1 || (this.#low === this.#first + 1 && !this.#lowWhole);
  }

  /** Appends what the search read that the read hands out: see the module header. */
  appendTo(result: RunEntry[]): void {
    const firstEntries = this.#firstEntries as RunEntry[];
    for (let index = 0; index < firstEntries.length; index++) result.push(firstEntries[index] as RunEntry);
    if (this.#high === this.#first) return;
    // The block just after the first whole (nothing left out), else only its last entry.
    const low = this.#lowEntries as RunEntry[];
    if (this.#low === this.#first + 1 && this.#lowWhole) for (let index = 0; index < low.length; index++) result.push(low[index] as RunEntry);
    else if (this.#low > this.#first) result.push(low.at(-1) as RunEntry);
    const landing = this.#highEntries;
    if (landing !== undefined && this.#highWhole) for (let index = 0; index < landing.length; index++) result.push(landing[index] as RunEntry);
  }
}
