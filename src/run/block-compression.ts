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
 * (350-420 MB/s, ratio 9.8) and gzip level 1 (115-220 MB/s, ratio 6.7).
 * Invariants: decompression output is bounded by RUN_COMPRESSED_BLOCK_RAW_BYTES_MAX
 * (a corrupt length cannot make us allocate without bound); a zlib failure is a
 * CorruptionError, never garbage.
 */
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { CorruptionError } from '../errors.js';
import { assert } from '../util/assert.js';
import { RUN_BLOCK_BYTES_MAX, RunCompression, type RunCompressionValue } from './run-format.js';

/** Target size of a data block's uncompressed entries in a compressed run (the measured 64 KiB). */
export const RUN_COMPRESSED_BLOCK_TARGET_BYTES = 64 * 1024;
/** Largest decompressed payload accepted (a block holds at most one value over the target). */
export const RUN_COMPRESSED_BLOCK_RAW_BYTES_MAX = RUN_BLOCK_BYTES_MAX;
export const BROTLI_QUALITY = 1;
export const GZIP_LEVEL = 1;

/** Compresses synchronously (what a worker runs; also the fallback without a pool). */
export function compressPayload(compression: RunCompressionValue, payload: Uint8Array): Buffer {
  assert(compression !== RunCompression.none, 'compressing needs a codec');
  if (compression === RunCompression.brotli) {
    return zlib.brotliCompressSync(payload, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: payload.length,
      },
    });
  }
  return zlib.gzipSync(payload, { level: GZIP_LEVEL });
}

/** Decompresses a checked payload; a zlib failure (a writer bug, the checksum passed) is a CorruptionError. */
export function decompressPayload(compression: RunCompressionValue, payload: Uint8Array, file: string, offset: number): Buffer {
  assert(compression !== RunCompression.none, 'decompressing needs a codec');
  try {
    if (compression === RunCompression.brotli) return zlib.brotliDecompressSync(payload, { maxOutputLength: RUN_COMPRESSED_BLOCK_RAW_BYTES_MAX });
    return zlib.gunzipSync(payload, { maxOutputLength: RUN_COMPRESSED_BLOCK_RAW_BYTES_MAX });
  } catch (error) {
    throw new CorruptionError(file, offset, `data block does not decompress: ${(error as Error).message}`);
  }
}
