/**
 * Compression of data block payloads for the cold tier (docs/FORMAT.md, "Compressed
 * data blocks"): node:zlib only, no native addon.
 *
 * A compressed block keeps its 16-byte header (checksum, payload length = the
 * compressed length, entry count); the payload is the compressed bytes of the
 * entries. The checksum and the stripe parity cover the compressed bytes, so
 * repair never needs to decompress; the block cache holds decompressed blocks.
 *
 * Settings (ANCHORS "Compression", 64 KiB blocks of JSON records): brotli quality 1
 * (350-420 MB/s, ratio 9.8) and gzip level 1 (115-220 MB/s, ratio 6.7); raw deflate
 * level 1 for the packed 4 KiB blocks of format 4 (the cold tier since format 4:
 * brotli's fixed cost per call, ~10 us, dominates a small block).
 * Block size: a point read that misses the cache decompresses one whole block, so
 * the block is RUN_COMPRESSED_BLOCK_TARGET_BYTES (24 KiB), not 64 KiB: measured on
 * JSON records of about 90 B (test/run-cold-block-size.test.ts prints it), brotli 1
 * takes ~66 us per 24 KiB block against ~93-133 us per 64 KiB one, and since a
 * compressed block is padded to whole pages, the run file's ratio is 5.25 at 24 KiB
 * (one page per block), 6.28 at 64 KiB, 3.52 at 16 KiB, 2.89 at 12 KiB.
 * Invariants: decompression output is bounded by RUN_COMPRESSED_BLOCK_RAW_BYTES_MAX
 * (a corrupt length cannot make us allocate without bound); a zlib failure is a
 * CorruptionError, never garbage.
 */
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { CorruptionError } from '../errors.js';
import { assert } from '../util/assert.js';
import { enterZlib, leaveZlib } from '../util/zlib-gate.js';
import { RUN_BLOCK_BYTES_MAX, RunCompression, type RunCompressionValue } from './run-format.js';

/**
 * Target size of a data block's uncompressed entries in a compressed run (see the
 * header: a block of JSON records compresses into one page). Runs written with the
 * older 64 KiB target read the same: the index gives every block's length.
 */
export const RUN_COMPRESSED_BLOCK_TARGET_BYTES = 24 * 1024;
/**
 * Target size of a data block's uncompressed entries in a packed run (format 4, the
 * cold tier's default): packed blocks are not padded to pages, so a small block costs
 * no ratio, and a point read that misses the cache decompresses 4 KiB instead of 24.
 * Measured on this machine (raw deflate level 1 / brotli 1, one block): 100 B records
 * 4.5 / 12.1 us at 4 KiB against 14.7 / 18.3 us at 24 KiB; JSON records of ~90 B
 * 8.8 / 12.0 us at 4 KiB against 24.9 / 42.6 us at 24 KiB; ratios within 10% of 24 KiB.
 */
export const RUN_PACKED_BLOCK_TARGET_BYTES = 4 * 1024;
/** Largest decompressed payload accepted (a block holds at most one value over the target). */
export const RUN_COMPRESSED_BLOCK_RAW_BYTES_MAX = RUN_BLOCK_BYTES_MAX;
/**
 * zlib output chunk when decompressing: above the block target, so a usual block
 * decompresses into one chunk (zlib's default 16 KiB chunks made three allocations
 * and a concatenation per 24 KiB block; measured on a busy machine, brotli 1 of a
 * 24 KiB block: 40-103 us with default chunks, 39-67 us with one).
 */
export const RUN_DECOMPRESS_CHUNK_BYTES = 32 * 1024;
/**
 * zlib output chunk for the packed blocks of format 4 (about RUN_PACKED_BLOCK_TARGET_BYTES
 * of entries): twice the target, so a usual block still inflates into one chunk
 * without allocating 32 KiB per read (busy machine, one 4 KiB block: 6 us with 8 KiB
 * chunks, 11 us with 32 KiB; a larger block takes more chunks and reads the same).
 */
export const RUN_PACKED_DECOMPRESS_CHUNK_BYTES = 2 * RUN_PACKED_BLOCK_TARGET_BYTES;
export const BROTLI_QUALITY = 1;
export const GZIP_LEVEL = 1;
/** Raw deflate (no gzip header or trailer: the block checksum covers the bytes) at level 1. */
export const DEFLATE_LEVEL = 1;

assert(RUN_DECOMPRESS_CHUNK_BYTES >= RUN_COMPRESSED_BLOCK_TARGET_BYTES, 'a usual compressed block decompresses into one zlib chunk');

/** Compresses synchronously (what a worker runs; also the fallback without a pool). */
export function compressPayload(compression: RunCompressionValue, payload: Uint8Array): Buffer {
  assert(compression !== RunCompression.none, 'compressing needs a codec');
  // Each call makes a zlib stream: a worker thread is not terminated meanwhile (src/util/zlib-gate.ts).
  enterZlib();
  try {
    if (compression === RunCompression.brotli) {
      return zlib.brotliCompressSync(payload, {
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: payload.length,
        },
      });
    }
    if (compression === RunCompression.deflate) return zlib.deflateRawSync(payload, { level: DEFLATE_LEVEL });
    return zlib.gzipSync(payload, { level: GZIP_LEVEL });
  } finally {
    leaveZlib();
  }
}

/** Decompresses a checked payload; a zlib failure (a writer bug, the checksum passed) is a CorruptionError. */
export function decompressPayload(compression: RunCompressionValue, payload: Uint8Array, file: string, offset: number): Buffer {
  assert(compression !== RunCompression.none, 'decompressing needs a codec');
  enterZlib(); // outside the try: a thread being terminated throws ThreadStoppingError, not CorruptionError
  try {
    const chunkSize = compression === RunCompression.deflate ? RUN_PACKED_DECOMPRESS_CHUNK_BYTES : RUN_DECOMPRESS_CHUNK_BYTES;
    const options = { maxOutputLength: RUN_COMPRESSED_BLOCK_RAW_BYTES_MAX, chunkSize };
    if (compression === RunCompression.brotli) return zlib.brotliDecompressSync(payload, options);
    if (compression === RunCompression.deflate) return zlib.inflateRawSync(payload, options);
    return zlib.gunzipSync(payload, options);
  } catch (error) {
    throw new CorruptionError(file, offset, `data block does not decompress: ${(error as Error).message}`);
  } finally {
    leaveZlib();
  }
}
