/**
 * RunPointLookup: a run's point read (RunReader.mayContain, pointVersions), the path
 * every get takes through every live run: key range, top-level index, the key's
 * filter partition, its index partition, then the data blocks that may hold the key,
 * from the block cache (decoded, or else its compressed tier: inflated, no file read)
 * or the file (run-block-decode.ts; a block the cache does not admit is decoded in
 * scratch and only the key's entries are copied out).
 *
 * Synchronous while the filter rules the key out, every block needed is cached, or
 * the file reads on the calling thread; the asynchronous steps are methods of their
 * own, not closures (a closure over a hot function's parameters makes V8 allocate
 * their context on every call, taken or not).
 *
 * Invariants: the reader checks it is open before every call; nothing read from the
 * file is used before its checksum matched (run-block-decode.ts); a block reaches the
 * cache only decoded and checked.
 */
import type { Hash64 } from '../wal/wal-format.js';
import { KEY_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { debugEnabled } from '../util/debug.js';
import { BLOCK_CACHE_LENGTH_PER_COMPRESSED_BYTE, type BlockCache } from './block-cache.js';
import { filterMayContainKey, filterMayContainProbe, type KeyProbe } from './bloom-filter.js';
import type { DecodedBlock } from './data-block.js';
import type { RunDescriptor, RunEntry } from './run-descriptor.js';
import type { CheckedBlock, StripedRunFile } from './run-file.js';
import type { RunFooter } from './run-format.js';
import { collectHeldVersions, collectUncachedVersions, decodeHeld, readDecodedNow } from './run-block-decode.js';
import { RunCompression } from './run-format.js';
import type { RunIndex } from './run-index.js';
import type { RunFilter } from './run-metadata.js';
import type { RunPartition, RunPartitions } from './run-partitions.js';
import { signedKeyPrefix } from './key-prefix.js';
import { collectVersions, collectVersionsOnceRead, markCutShort, NO_RUN_ENTRIES, reachedStop } from './run-point-read.js';
import { SEEK_DONE, VersionSeek } from './run-point-seek.js';

/** #partitionIfMayContain's "ruled out": no partition of the run may hold the key. */
const NO_PARTITION = -1;

export class RunPointLookup {
  readonly #runId: number;
  readonly #hash: Hash64;
  readonly #cache: BlockCache;
  readonly #partitions: RunPartitions;
  readonly #file: StripedRunFile;
  readonly #compression: RunFooter['compression'];
  /** False: reads throw on a bad block instead of rebuilding it. */
  readonly #repair: boolean;
  /** The run's key range, and its ends' signedKeyPrefix (key-prefix.ts): a read's probe is compared with these numbers first, the keys only on a tie. */
  readonly #smallestKey: string;
  readonly #largestKey: string;
  readonly #smallestPrefix: number;
  readonly #largestPrefix: number;

  constructor(descriptor: RunDescriptor, hash: Hash64, cache: BlockCache, partitions: RunPartitions, file: StripedRunFile, compression: RunFooter['compression'], repair: boolean) {
    this.#runId = descriptor.runId;
    this.#hash = hash;
    this.#cache = cache;
    this.#partitions = partitions;
    this.#file = file;
    this.#compression = compression;
    this.#repair = repair;
    this.#smallestKey = descriptor.smallestKey;
    this.#largestKey = descriptor.largestKey;
    this.#smallestPrefix = signedKeyPrefix(descriptor.smallestKey);
    this.#largestPrefix = signedKeyPrefix(descriptor.largestKey);
    assert(file.runId === descriptor.runId, "a run's lookup reads its own file");
    if (compression !== RunCompression.none) cache.compressed.registerRun(descriptor.runId, descriptor.fileBytes);
  }

  /** RunReader.mayContain. */
  mayContain(key: string, probe: KeyProbe | undefined): boolean | Promise<boolean> {
    const number = this.#partitionIfMayContain(key, probe);
    return number instanceof Promise ? number.then((found) => found !== NO_PARTITION) : number !== NO_PARTITION;
  }

  /**
   * The one partition that may hold `key` (mayContain's answer), NO_PARTITION when the
   * key range, the top-level index or the partition's filter rules it out: a point
   * read searches the top-level index once, not again for the index partition.
   */
  #partitionIfMayContain(key: string, probe: KeyProbe | undefined): number | Promise<number> {
    if (key.length === 0 || key.length > KEY_BYTES_MAX) return NO_PARTITION;
    let number: number;
    if (probe === undefined) {
      if (key < this.#smallestKey || key > this.#largestKey) return NO_PARTITION;
      number = this.#partitions.atOrAfter(key);
    } else {
      assert(probe.key === key && probe.hash === this.#hash, 'a key probe is used for its own key and hash function');
      // The key range by prefixes (order-preserving: a smaller prefix is a smaller key), the keys only on a tie.
      const prefix = probe.prefix;
      if (prefix < this.#smallestPrefix || prefix > this.#largestPrefix) return NO_PARTITION;
      if ((prefix === this.#smallestPrefix && key < this.#smallestKey) || (prefix === this.#largestPrefix && key > this.#largestKey)) return NO_PARTITION;
      number = this.#partitions.atOrAfterPrefix(key, prefix);
    }
    if (number >= this.#partitions.count) return NO_PARTITION;
    const filter = this.#partitions.filter(number);
    if (filter instanceof Promise) return this.#partitionOnceFilterRead(filter, number, key, probe);
    return this.#filterAllows(filter, key, probe) ? number : NO_PARTITION;
  }

  /**
   * #partitionIfMayContain once the filter partition is read. The asynchronous steps of
   * the point read are methods of their own, not closures: a closure over a hot
   * function's parameters makes V8 allocate their context on every call, taken or not.
   */
  async #partitionOnceFilterRead(pending: Promise<RunFilter>, number: number, key: string, probe: KeyProbe | undefined): Promise<number> {
    return this.#filterAllows(await pending, key, probe) ? number : NO_PARTITION;
  }

  /** The filter's answer for `key`, with the read's probe (hashed once per read; #partitionIfMayContain checked it is `key`'s) when it brings one. */
  #filterAllows(filter: RunFilter, key: string, probe: KeyProbe | undefined): boolean {
    if (probe === undefined) return filterMayContainKey(filter.kind, filter.bits, filter.probes, this.#hash, key);
    return filterMayContainProbe(filter.kind, filter.bits, filter.probes, probe);
  }

  /**
   * RunReader.pointVersions. With `untilVersion` >= 0 the read stops after the block in
   * which it has `untilCount` entries at or below `untilVersion` (older entries cannot
   * change the caller's answer): a key with 20,000 versions in this run read every block
   * of them (about 600 pages) for its newest. An answer so cut short is marked
   * (isCutShort, run-point-read.ts), so that nobody takes it for the key's whole history.
   * With `seekVersion` >= 0 the caller needs no entry above `seekVersion` but the one
   * just above the first at or below it: a key whose blocks above that entry are many
   * is read from there (VersionSeek, run-point-seek.ts), the blocks between left
   * unread; such an answer is marked cut short too, and stops at its first entry at or
   * below `seekVersion` when `untilVersion` sets no stop.
   */
  pointVersions(key: string, probe: KeyProbe | undefined, untilVersion = -1, untilCount = 1, seekVersion = -1): readonly RunEntry[] | Promise<readonly RunEntry[]> {
    const number = this.#partitionIfMayContain(key, probe);
    if (number instanceof Promise) return this.#versionsOncePartitionKnown(number, key, untilVersion, untilCount, seekVersion);
    // Most runs a point read asks rule the key out: no array made for them.
    if (number === NO_PARTITION) return NO_RUN_ENTRIES;
    return this.#versionsInPartition(number, key, [], untilVersion, untilCount, seekVersion);
  }

  async #versionsOncePartitionKnown(pending: Promise<number>, key: string, untilVersion: number, untilCount: number, seekVersion: number): Promise<readonly RunEntry[]> {
    const number = await pending;
    return number === NO_PARTITION ? NO_RUN_ENTRIES : this.#versionsInPartition(number, key, [], untilVersion, untilCount, seekVersion);
  }

  /** The key's versions from partition `number`, the one that may hold it (its filter allowed it). */
  #versionsInPartition(number: number, key: string, result: RunEntry[], untilVersion: number, untilCount: number, seekVersion: number): RunEntry[] | Promise<RunEntry[]> {
    if (debugEnabled()) assert(number === this.#partitions.atOrAfter(key), "the partition searched once is the key's partition");
    const partition = this.#partitions.partition(number, true);
    if (partition instanceof Promise) return this.#versionsOncePartitionRead(partition, key, result, untilVersion, untilCount, seekVersion);
    return this.#versionsIn(partition, key, result, untilVersion, untilCount, seekVersion);
  }

  async #versionsOncePartitionRead(pending: Promise<RunPartition>, key: string, result: RunEntry[], untilVersion: number, untilCount: number, seekVersion: number): Promise<RunEntry[]> {
    return this.#versionsIn(await pending, key, result, untilVersion, untilCount, seekVersion);
  }

  #versionsIn(partition: RunPartition, key: string, result: RunEntry[], untilVersion: number, untilCount: number, seekVersion: number): RunEntry[] | Promise<RunEntry[]> {
    const index = partition.index;
    const first = index.firstBlockAtOrAfter(key);
    // A seek only for a key that fills two blocks or more (a partition never splits a key); one compare for the rest.
    if (seekVersion >= 0 && first < index.blockCount && index.compareLastKey(key, first) === 0) {
      const fullEnd = index.firstBlockAfter(key);
      if (fullEnd - first >= 2) return this.#seek(index, key, new VersionSeek(first, fullEnd, seekVersion), result, untilVersion, untilCount);
    }
    return this.#collectFrom(index, key, first, result, untilVersion, untilCount, false);
  }

  /**
   * The key's entries from block `from` on, appended to `result`, down to the stop;
   * `gapped`: `result` already lacks entries of the key (a seek skipped blocks), so it is
   * marked cut short wherever it ends.
   */
  #collectFrom(index: RunIndex, key: string, from: number, result: RunEntry[], untilVersion: number, untilCount: number, gapped: boolean): RunEntry[] | Promise<RunEntry[]> {
    for (let local = from; local < index.blockCount; local++) {
      const ended = this.#collectBlock(index, local, key, result);
      if (ended instanceof Promise) return this.#versionsFrom(index, key, local, result, ended, untilVersion, untilCount, gapped);
      if (ended) break;
      if (reachedStop(result, untilVersion, untilCount)) return markCutShort(result);
    }
    return gapped ? markCutShort(result) : result;
  }

  /**
   * The rest of versions() once block `local` went asynchronous (`pending`: its
   * entries collected, and whether the key ends in it), from the next block on.
   */
  async #versionsFrom(index: RunIndex, key: string, local: number, result: RunEntry[], pending: Promise<boolean>, untilVersion: number, untilCount: number, gapped: boolean): Promise<RunEntry[]> {
    const ended = await pending;
    if (!ended && reachedStop(result, untilVersion, untilCount)) return markCutShort(result);
    for (let next = local + 1; !ended && next < index.blockCount; next++) {
      if (await this.#collectBlock(index, next, key, result)) break;
      if (reachedStop(result, untilVersion, untilCount)) return markCutShort(result);
    }
    return gapped ? markCutShort(result) : result;
  }

  /**
   * The read as of `search.version` of a key with two blocks or more: the search reads
   * the blocks it needs (synchronously while they are cached or read on the calling
   * thread), then the read goes on from its landing block (run-point-seek.ts).
   */
  #seek(index: RunIndex, key: string, search: VersionSeek, result: RunEntry[], untilVersion: number, untilCount: number): RunEntry[] | Promise<RunEntry[]> {
    for (let block = search.next(); block !== SEEK_DONE; block = search.next()) {
      // A cached block the search only passes through: its last entry alone (no entry made for the others).
      const cached = block === search.first ? undefined : this.#cache.get(this.#runId, index.offset(block));
      if (cached !== undefined) {
        if (debugEnabled()) assert(cached.compareKey(key, cached.count - 1) === 0, 'a block the search reads ends with the key');
        search.took(block, [cached.entryWithKey(cached.count - 1, key)], false);
        continue;
      }
      const entries: RunEntry[] = [];
      const ended = this.#collectBlock(index, block, key, entries);
      if (ended instanceof Promise) return this.#seekOnceRead(index, key, search, block, entries, ended, result, untilVersion, untilCount);
      search.took(block, entries, true);
    }
    search.appendTo(result);
    const skipped = search.skipped;
    // Past a gap the answer is not the key's whole history anyway: without a stop of the caller's, it ends at its first entry at or below the version.
    const stopVersion = untilVersion >= 0 || !skipped ? untilVersion : search.version;
    const stopCount = untilVersion >= 0 ? untilCount : 1;
    if (!search.landingRead) return this.#collectFrom(index, key, search.landing, result, stopVersion, stopCount, skipped);
    // The landing block ends with the key (it is one of its full blocks): the read goes on after it, unless stopped.
    if (reachedStop(result, stopVersion, stopCount)) return markCutShort(result);
    return this.#collectFrom(index, key, search.landing + 1, result, stopVersion, stopCount, skipped);
  }

  async #seekOnceRead(index: RunIndex, key: string, search: VersionSeek, block: number, entries: RunEntry[], pending: Promise<boolean>, result: RunEntry[], untilVersion: number, untilCount: number): Promise<RunEntry[]> {
    await pending;
    search.took(block, entries, true);
    return this.#seek(index, key, search, result, untilVersion, untilCount);
  }

  /**
   * Appends `key`'s entries in block `local` of `index` to `result`; true when the key ends
   * in it. From the cache (one hit or miss counted); else read, and cached if the
   * cache admits it; a block it does not admit (full cache, first miss) is read into
   * a scratch buffer (decompressed, for a compressed run) and only the key's entries
   * are copied out.
   */
  #collectBlock(index: RunIndex, local: number, key: string, result: RunEntry[]): boolean | Promise<boolean> {
    const offset = index.offset(local);
    const cached = this.#cache.get(this.#runId, offset);
    if (cached !== undefined) return collectVersions(cached, key, result);
    const held = this.#compression === RunCompression.none ? undefined : this.#cache.compressed.lookup(this.#runId, offset);
    if (held !== undefined) return this.#collectHeld(index, local, key, result, held);
    if (!this.#cache.admits(this.#runId, offset, this.#roomLength(index, local))) {
      return this.#collectUncached(index, local, key, result);
    }
    const block = this.#readBlockNow(index, local);
    return block instanceof Promise ? collectVersionsOnceRead(block, key, result) : collectVersions(block, key, result);
  }

  /**
   * #collectBlock for a block the compressed tier holds: inflated, no file read; decoded
   * into the cache only while it has room (no eviction, no doorkeeper: a decoded block
   * evicted to make room for this one would itself cost only an inflate, and the
   * allocation, decode and collection of that churn cost more than it saves; measured
   * on uniform gets of 1M keys, compressed-tier.ts), else in scratch.
   */
  #collectHeld(index: RunIndex, local: number, key: string, result: RunEntry[], held: CheckedBlock): boolean {
    const path = this.#file.path;
    if (!this.#cache.hasRoomFor(this.#roomLength(index, local))) return collectHeldVersions(path, this.#compression, index, local, key, result, held);
    return collectVersions(this.#cache.set(this.#runId, index.offset(local), decodeHeld(path, this.#compression, index, local, held)), key, result);
  }

  /** Block `local`'s length as the cache's room rules ask it: a compressed block's scaled toward its decoded size (BLOCK_CACHE_LENGTH_PER_COMPRESSED_BYTE). */
  #roomLength(index: RunIndex, local: number): number {
    const length = index.lengthBytes(local);
    return this.#compression === RunCompression.none ? length : length * BLOCK_CACHE_LENGTH_PER_COMPRESSED_BYTE;
  }

  /** #collectBlock for a block left out of the cache: read into scratch, checked, decoded, the key's values copied (run-block-decode.ts). */
  #collectUncached(index: RunIndex, local: number, key: string, result: RunEntry[]): boolean | Promise<boolean> {
    return collectUncachedVersions(this.#file, this.#compression, index, local, key, result, this.#repair, this.#cache);
  }

  /** A block the cache missed, read and offered to the cache: on the calling thread when the file allows. */
  #readBlockNow(index: RunIndex, local: number): DecodedBlock | Promise<DecodedBlock> {
    const decoded = readDecodedNow(this.#file, this.#compression, index, local, this.#repair, this.#cache);
    if (decoded instanceof Promise) return this.#cacheOnceRead(decoded, index, local);
    return this.#cache.set(this.#runId, index.offset(local), decoded);
  }

  async #cacheOnceRead(pending: Promise<DecodedBlock>, index: RunIndex, local: number): Promise<DecodedBlock> {
    return this.#cache.set(this.#runId, index.offset(local), await pending);
  }
}
