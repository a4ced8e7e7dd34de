/**
 * The piscina worker of CompressionPool (src/run/compression-pool.ts): compresses
 * one block payload per task, in a worker thread, off the event loop. The result
 * is structured-cloned back (a compressed block is at most a few tens of KiB).
 */
import { compressPayload } from './block-compression.js';
import type { RunCompressionValue } from './run-format.js';

export interface CompressionTask {
  compression: RunCompressionValue;
  payload: Uint8Array;
}

export default function compress(task: CompressionTask): Uint8Array {
  return compressPayload(task.compression, task.payload);
}
