/**
 * The piscina worker of CompressionPool (src/run/compression-pool.ts): compresses
 * a batch of block payloads per task, in a worker thread, off the event loop.
 *
 * A task carries the payloads back to back in one buffer (moved, not copied) and
 * their lengths; the result is one buffer, moved back to the caller: a header of
 * one uint32 LE compressed length per payload, then the compressed payloads in the
 * task's order (encodeBatchResult / decodeBatchResult). One task per batch, not per
 * block: a 4 KiB packed block deflates in a few microseconds, less than a task's
 * round trip through piscina.
 *
 * Priority: a pool thread lowers its own CPU priority by the pool's `nice` (piscina's
 * workerData, CompressionWorkerData) at its first task (src/util/thread-priority.ts), not
 * at import: the main thread and the merge thread import this module too. Its zlib gate
 * (src/util/zlib-gate.ts) is installed at the same moment, before its first zlib call.
 */
import { workerData } from 'node:worker_threads';
import { move } from 'piscina';
import { lowerThisThreadPriority } from '../util/thread-priority.js';
import { installZlibGate } from '../util/zlib-gate.js';
import { compressPayload } from './block-compression.js';
import type { RunCompressionValue } from './run-format.js';

export interface CompressionTask {
  compression: RunCompressionValue;
  /** The payloads back to back (a buffer of its own, transferred to the worker). */
  input: Uint8Array;
  /** Each payload's length in `input`, in order. */
  lengths: number[];
}

/** Bytes per compressed length in a batch result's header. */
export const BATCH_RESULT_LENGTH_BYTES = 4;

/** Compresses every payload of the task, in order, into one result buffer (see the header). */
export function compressBatch(task: CompressionTask): Uint8Array {
  const compressed: Uint8Array[] = [];
  let start = 0;
  let outputBytes = task.lengths.length * BATCH_RESULT_LENGTH_BYTES;
  for (const length of task.lengths) {
    const part = compressPayload(task.compression, task.input.subarray(start, start + length));
    compressed.push(part);
    outputBytes += part.length;
    start += length;
  }
  if (start !== task.input.length) throw new RangeError(`batch lengths cover ${start} of ${task.input.length} input bytes`);
  // A buffer of its own (not Buffer's shared pool), so its whole ArrayBuffer can move.
  const output = new Uint8Array(outputBytes);
  const header = new DataView(output.buffer);
  let offset = compressed.length * BATCH_RESULT_LENGTH_BYTES;
  compressed.forEach((part, index) => {
    header.setUint32(index * BATCH_RESULT_LENGTH_BYTES, part.length, true);
    output.set(part, offset);
    offset += part.length;
  });
  return output;
}

/** The compressed payloads of a batch result, in order (views into `output`). */
export function decodeBatchResult(output: Uint8Array, count: number): Uint8Array[] {
  const header = new DataView(output.buffer, output.byteOffset, output.byteLength);
  const parts: Uint8Array[] = [];
  let offset = count * BATCH_RESULT_LENGTH_BYTES;
  for (let index = 0; index < count; index++) {
    const length = header.getUint32(index * BATCH_RESULT_LENGTH_BYTES, true);
    if (offset + length > output.length) throw new RangeError(`batch result part ${index} ends past the result (${offset + length} > ${output.length})`);
    parts.push(output.subarray(offset, offset + length));
    offset += length;
  }
  if (offset !== output.length) throw new RangeError(`batch result holds ${output.length} bytes, its parts ${offset}`);
  return parts;
}

/** The pool's workerData (compression-pool.ts): how far its threads lower their CPU priority (0: not at all). */
export interface CompressionWorkerData {
  nice: number;
  /** The pool's zlib gate (src/util/zlib-gate.ts): the pool is destroyed only when no thread is inside a zlib call. */
  zlibGate?: SharedArrayBuffer;
}

/** This pool thread has set its priority and installed its zlib gate (once, at its first task). */
let prioritySet = false;

export default function compress(task: CompressionTask): Uint8Array {
  if (!prioritySet) {
    prioritySet = true;
    const data = workerData as Partial<CompressionWorkerData> | undefined;
    lowerThisThreadPriority(data?.nice ?? 0);
    installZlibGate(data?.zlibGate);
  }
  return move(compressBatch(task)) as Uint8Array;
}
