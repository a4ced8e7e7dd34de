/**
 * The WAL writer's record buffer (wal-writer.ts): how many leading commits of a group
 * go into the next record, and their encoding as that one record (wal-format.ts
 * encodeRecord) into one buffer reused from record to record.
 *
 * - A record holds what fits the rest of its segment; past the first commit a group
 *   also stops at GROUP_COMMIT_BYTES_MAX (one large commit may exceed it: commits are
 *   bounded by the segment size at validation).
 * - The buffer always has room for one record header past the record: a recycled
 *   segment's record is written with an all-zero header after it (WalPosition.recycled).
 * - A buffer grown for an outsized record is dropped once that record is written
 *   (issue 7): at most WAL_ENCODE_BUFFER_BYTES_RETAINED_MAX is held between records.
 *
 * REQUIRES: one record at a time, under the writer's 'wal.writer' lock.
 */
import { Buffer } from 'node:buffer';
import { GROUP_COMMIT_BYTES_MAX, WAL_ENCODE_BUFFER_BYTES_INITIAL, WAL_ENCODE_BUFFER_BYTES_RETAINED_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { encodeRecord, type FramedCommit, type Hash64, RECORD_HEADER_BYTES } from './wal-format.js';
import type { WalPosition } from './wal-position.js';

export class WalRecordBuffer {
  readonly #hash: Hash64;
  #buffer: Buffer = Buffer.allocUnsafe(WAL_ENCODE_BUFFER_BYTES_INITIAL);
  /** Bytes (header included) of the record fittingPrefix's last answer makes. */
  #fittingBytes = 0;

  constructor(hash: Hash64) {
    this.#hash = hash;
  }

  /** Bytes of the buffer held now. */
  get sizeBytes(): number {
    return this.#buffer.length;
  }

  /** Bytes (header included) of the record the last fittingPrefix answer makes. */
  get fittingBytes(): number {
    return this.#fittingBytes;
  }

  /**
   * How many leading commits fit the remaining space of `segment`. Past the first
   * commit, a group also stops at GROUP_COMMIT_BYTES_MAX (a single large commit may
   * exceed it; it is bounded by the segment size, checked at validation).
   */
  fittingPrefix(commits: readonly FramedCommit[], segment: WalPosition): number {
    const room = segment.sizeBytes - segment.offset - RECORD_HEADER_BYTES;
    let used = 0;
    let count = 0;
    for (const commit of commits) {
      if (used + commit.sizeBytes > room) break;
      if (count > 0 && used + commit.sizeBytes > GROUP_COMMIT_BYTES_MAX) break;
      used += commit.sizeBytes;
      count++;
    }
    this.#fittingBytes = RECORD_HEADER_BYTES + used;
    return count;
  }

  /** Encodes `group` as one record with use tag `tag`, leaving room for a record header after it. */
  encode(group: readonly FramedCommit[], tag: number): number {
    let needed = RECORD_HEADER_BYTES;
    for (const commit of group) needed += commit.sizeBytes;
    const capacity = needed + RECORD_HEADER_BYTES;
    if (this.#buffer.length < capacity) this.#buffer = Buffer.allocUnsafe(Math.max(capacity, this.#buffer.length * 2));
    const written = encodeRecord(group, this.#buffer, 0, this.#hash, tag);
    assert(written === needed, 'record length matches the sum of its commits');
    return written;
  }

  /** Zeroes `terminatorBytes` past the encoded record of `lengthBytes` (a recycled segment's end marker). */
  zeroAfter(lengthBytes: number, terminatorBytes: number): void {
    this.#buffer.fill(0, lengthBytes, lengthBytes + terminatorBytes);
  }

  /** The first `lengthBytes` of the buffer: what write() is handed. */
  bytes(lengthBytes: number): Buffer {
    return this.#buffer.subarray(0, lengthBytes);
  }

  /** The record's bytes are written: a buffer grown for an outsized record is dropped. */
  releaseOutsized(): void {
    if (this.#buffer.length > WAL_ENCODE_BUFFER_BYTES_RETAINED_MAX) this.#buffer = Buffer.allocUnsafe(WAL_ENCODE_BUFFER_BYTES_INITIAL);
  }
}
