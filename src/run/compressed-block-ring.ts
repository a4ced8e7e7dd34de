/**
 * CompressedBlockRing: the records of the block cache's compressed tier (its policy:
 * compressed-tier.ts; block-cache.ts holds the tier and its charge): the checked,
 * still compressed bytes of cold data blocks, so that a point read that misses the
 * decoded blocks inflates one held here instead of reading the file (no pread, no
 * stripe extents, no checksum: the bytes were checked against the index's checksum
 * when they were read, and nothing writes them since). RocksDB's compressed block
 * cache, or LevelDB leaning on the page cache, give the same: a cold block costs
 * ~625 B compressed against ~4.5 KiB decoded with its arrays, so the same bytes hold
 * seven times as many blocks.
 *
 * Layout: a FIFO log of SEGMENT_BYTES segments, appended at the newest segment and
 * evicted a whole segment at a time from the oldest; a Map from the block's cache key
 * (block-cache-slot.ts cacheKey, numeric keys only) to its record's position (segment
 * number * SEGMENT_BYTES + offset). A record is a RECORD_HEADER_BYTES header (the key
 * as a float64, the payload length and the entry count as u32) followed by the
 * payload; the header has the length of a run block header, so a record reads as a
 * CheckedBlock whose payload starts where a block's does (run-block-decode.ts
 * decodeChecked). No object per block beyond the Map entry: a record costs its bytes
 * plus ENTRY_BYTES, and the charge counts every segment held whole.
 *
 * FIFO, not LRU: a block is written once and never moved, so a hit is a Map lookup
 * and no list relinking; blocks read again often are held decoded (the decoded
 * tier's admission) or their keys in the point cache.
 *
 * Invariants: every Map entry points at a live record whose header holds its key;
 * evicting a segment deletes exactly the entries pointing into it; `bytes` is
 * segments held * SEGMENT_BYTES + entries * ENTRY_BYTES; a key is held at most once.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import { RUN_BLOCK_HEADER_BYTES } from './run-format.js';
import type { CheckedBlock } from './run-file.js';

/** One segment of the log; a block whose record is larger is not held. */
export const COMPRESSED_SEGMENT_BYTES = 64 * 1024;
/** A record's header: key f64, payload length u32, entry count u32 (as long as a block header, see above). */
export const COMPRESSED_RECORD_HEADER_BYTES = RUN_BLOCK_HEADER_BYTES;
/**
 * Charge per held block beyond its record: the Map entry (key, value and chain slots
 * of the ordered hash table and its bucket, with the heap numbers of a key and a
 * position past the small-integer range). Checked against the heap growth of holding
 * 40k blocks in test/block-cache-compressed.test.ts.
 */
export const COMPRESSED_ENTRY_BYTES = 64;

assert(COMPRESSED_RECORD_HEADER_BYTES === 16, 'a record header is a key f64, a length u32 and a count u32');

export class CompressedBlockRing {
  readonly #index = new Map<number, number>();
  /** Segments held, oldest first; #segments[i] is segment number #firstSegment + i. */
  readonly #segments: Buffer[] = [];
  /** Bytes of records in each held segment (parallel to #segments: the rest of a segment is not written). */
  readonly #segmentUsed: number[] = [];
  #firstSegment = 0;
  /** Bytes used in the newest segment. */
  #tailUsed = COMPRESSED_SEGMENT_BYTES;
  #hits = 0;
  #misses = 0;

  get bytes(): number {
    return this.#segments.length * COMPRESSED_SEGMENT_BYTES + this.#index.size * COMPRESSED_ENTRY_BYTES;
  }
  get blocks(): number {
    return this.#index.size;
  }
  get segments(): number {
    return this.#segments.length;
  }
  get hits(): number {
    return this.#hits;
  }
  get misses(): number {
    return this.#misses;
  }

  /** True when a block of `payloadBytes` under `key` can be held at all (a numeric key, a record within a segment). */
  static fits(key: number | string, payloadBytes: number): key is number {
    return typeof key === 'number' && COMPRESSED_RECORD_HEADER_BYTES + payloadBytes <= COMPRESSED_SEGMENT_BYTES;
  }

  has(key: number): boolean {
    return this.#index.has(key);
  }

  /** The held block under `key` as a CheckedBlock viewing its record (valid until this ring changes); counts a hit or a miss. */
  lookup(key: number | string): CheckedBlock | undefined {
    const position = typeof key === 'number' ? this.#index.get(key) : undefined;
    if (position === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    const segment = this.#segments[Math.floor(position / COMPRESSED_SEGMENT_BYTES) - this.#firstSegment] as Buffer;
    const start = position % COMPRESSED_SEGMENT_BYTES;
    const payloadBytes = segment.readUInt32LE(start + 8);
    return { bytes: segment.subarray(start, start + COMPRESSED_RECORD_HEADER_BYTES + payloadBytes), payloadBytes, entryCount: segment.readUInt32LE(start + 12) };
  }

  /** Bytes `append` of a `payloadBytes` payload adds to `bytes`: its entry, and a new segment when the newest has no room. */
  growthFor(payloadBytes: number): number {
    const record = COMPRESSED_RECORD_HEADER_BYTES + payloadBytes;
    return COMPRESSED_ENTRY_BYTES + (this.#tailUsed + record > COMPRESSED_SEGMENT_BYTES ? COMPRESSED_SEGMENT_BYTES : 0);
  }

  /**
   * Holds the `payloadBytes` bytes of `source` from `start` under `key` (REQUIRES: fits,
   * not held; copied with Buffer#copy, no view made). The caller made room for
   * growthFor(payloadBytes) bytes.
   */
  append(key: number, source: Buffer, start: number, payloadBytes: number, entryCount: number): void {
    assert(CompressedBlockRing.fits(key, payloadBytes) && !this.#index.has(key) && start + payloadBytes <= source.length, 'a record fits a segment and is held once');
    const record = COMPRESSED_RECORD_HEADER_BYTES + payloadBytes;
    if (this.#tailUsed + record > COMPRESSED_SEGMENT_BYTES) {
      if (this.#segments.length > 0) this.#segmentUsed[this.#segments.length - 1] = this.#tailUsed;
      this.#segments.push(Buffer.allocUnsafeSlow(COMPRESSED_SEGMENT_BYTES));
      this.#segmentUsed.push(0);
      this.#tailUsed = 0;
    }
    const segment = this.#segments[this.#segments.length - 1] as Buffer;
    const at = this.#tailUsed;
    segment.writeDoubleLE(key, at);
    segment.writeUInt32LE(payloadBytes, at + 8);
    segment.writeUInt32LE(entryCount, at + 12);
    source.copy(segment, at + COMPRESSED_RECORD_HEADER_BYTES, start, start + payloadBytes);
    this.#index.set(key, (this.#firstSegment + this.#segments.length - 1) * COMPRESSED_SEGMENT_BYTES + at);
    this.#tailUsed = at + record;
  }

  /** Evicts the oldest segment and the entries of its records; the bytes freed (0 when none is held). */
  evictOldest(): number {
    const segment = this.#segments.shift();
    if (segment === undefined) return 0;
    const before = this.bytes + COMPRESSED_SEGMENT_BYTES;
    const number = this.#firstSegment++;
    const used = this.#segmentUsed.shift() as number;
    const end = this.#segments.length === 0 ? this.#tailUsed : used;
    for (let start = 0; start < end; ) {
      const key = segment.readDoubleLE(start);
      const payloadBytes = segment.readUInt32LE(start + 8);
      // A dropped run's entries are gone already; a record is never rewritten, so a matching position is this record.
      if (this.#index.get(key) === number * COMPRESSED_SEGMENT_BYTES + start) this.#index.delete(key);
      start += COMPRESSED_RECORD_HEADER_BYTES + payloadBytes;
    }
    if (this.#segments.length === 0) this.#tailUsed = COMPRESSED_SEGMENT_BYTES;
    return before - this.bytes;
  }

  /** Forgets the blocks whose key `belongs` (a run going away); their bytes stay until their segment is evicted. The bytes freed. */
  dropKeys(belongs: (key: number) => boolean): number {
    const before = this.bytes;
    for (const key of this.#index.keys()) if (belongs(key)) this.#index.delete(key);
    return before - this.bytes;
  }

  clear(): void {
    this.#index.clear();
    this.#firstSegment += this.#segments.length;
    this.#segments.length = 0;
    this.#segmentUsed.length = 0;
    this.#tailUsed = COMPRESSED_SEGMENT_BYTES;
  }
}
