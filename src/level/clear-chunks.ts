/**
 * The store batches a level clear() deletes its range in (LadybugLevel#_clear): the
 * range's keys, as a keys iterator over the clear's implicit or explicit snapshot yields
 * them, cut into chunks that each fit one store commit.
 *
 * Invariants: every key the iterator yields, up to `limit`, is in exactly one chunk, in
 * iteration order; a chunk holds at most CLEAR_CHUNK_KEYS deletes and at most
 * `commitBytesMax` bytes of them as the WAL counts them (DELETE_OVERHEAD_BYTES plus the key),
 * so the store never refuses one with BatchTooLargeError (a store on small segments,
 * `segmentSizeBytes` down to 16 KiB, took fewer than a thousand deletes in a commit); the
 * pair slot's keys ('' and 0x00, neighbours) form a chunk of their own, as that chunk is a
 * transaction that may put the other half's value back (up to maxValueBytes).
 */
import { DELETE_OVERHEAD_BYTES } from '../wal/wal-format.js';
import { assert } from '../util/assert.js';
import { pairIndex } from './key-slots.js';

/** Keys deleted per store batch by clear(), at most. */
export const CLEAR_CHUNK_KEYS = 1000;

/** What clear() reads its range with: the iterator's internal next step (keys in the adapter's format). */
export interface KeySource {
  _next(): Promise<[Uint8Array | undefined, unknown] | undefined>;
}

/** The range's keys, up to `limit` (Infinity: all), in chunks of deletes that each fit one commit of `commitBytesMax` bytes. */
export async function* clearChunks(source: KeySource, limit: number, commitBytesMax: number): AsyncGenerator<Uint8Array[]> {
  let taken = 0;
  let chunk: Uint8Array[] = [];
  let chunkBytes = 0;
  while (taken < limit) {
    const entry = await source._next();
    if (entry === undefined) break;
    const key = entry[0];
    assert(key !== undefined, 'a keys iterator returns keys');
    const bytes = DELETE_OVERHEAD_BYTES + key.length;
    const full = chunk.length === CLEAR_CHUNK_KEYS || chunkBytes + bytes > commitBytesMax;
    const otherSlot = chunk.length > 0 && (pairIndex(key) === undefined) !== (pairIndex(chunk[0] as Uint8Array) === undefined);
    if (full || otherSlot) {
      yield chunk;
      chunk = [];
      chunkBytes = 0;
    }
    chunk.push(key);
    chunkBytes += bytes;
    taken++;
  }
  if (chunk.length > 0) yield chunk;
}
