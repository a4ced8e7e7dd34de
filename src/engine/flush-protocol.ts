/**
 * The messages between a FlushThread (flush-thread.ts, main thread) and its worker
 * (flush-worker.ts), and what they carry: the job, the chunks of entries
 * (flush-chunks.ts, transferred; in key order, or by key range with each range's keys in
 * arrival order for the thread to sort: flush-key-order.ts), the consumed chunks' buffers handed back, the
 * descriptor and the sealed blocks kept for the block cache, or the error (same class,
 * merge-error.ts). Every message carries the flush's id: the main side ignores one of a
 * flush no longer pending. Types only: both sides import it, neither imports the other.
 */
import type { SerializedError } from '../compaction/merge-error.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import type { SealedBlock } from '../run/run-writer.js';
import type { FlushChunk } from './flush-chunks.js';

/** Test hook: every `syscall` of the next thread flush's run file fails with errno `code` (a full disk, a failed fsync). */
export interface FlushFault {
  syscall: 'write' | 'datasync';
  code: string;
}

export interface FlushJob {
  runsDirectory: string;
  runId: number;
  generation: number;
  level: number;
  /** Data block bytes to keep and send back (for the block cache); -1: keep no block at all. */
  keepDataBytes: number;
  /** The store's lock file: the thread confirms the lock against it before creating its file (src/run/run-install.ts confirmThreadCreate). */
  lockPath?: string | undefined;
}

/** A sealed block sent back by the thread (its bytes in an ArrayBuffer of their own). */
export interface ReturnedBlock {
  kind: SealedBlock['kind'];
  offset: number;
  bytes: ArrayBuffer;
  payloadBytes: number;
  entryCount: number;
}

export interface FlushOutcome {
  descriptor: RunDescriptor;
  /**
   * The file is still `<id>.tmp`, for the main thread to install (src/run/run-install.ts).
   * False only from a worker built before that protocol, which renamed it itself.
   */
  temporary: boolean;
  /** In the order the writer sealed them: data blocks, index partitions, filter partitions. */
  blocks: SealedBlock[];
}

export type FlushMainToWorker =
  | ({ type: 'begin'; id: number; arrivalOrder: boolean; holdAfterFirstChunk: boolean; holdBeforeCreate: boolean; fault: FlushFault | undefined } & FlushJob)
  /**
   * `rangeEnd`: in arrival order, the chunk is the last of a key range (the thread then
   * sorts the range's keys, flush-key-order.ts); false in key order.
   */
  | { type: 'chunk'; id: number; chunk: FlushChunk; rangeEnd: boolean }
  | { type: 'end'; id: number }
  | { type: 'resume'; id: number };

export type FlushWorkerToMain =
  | { type: 'consumed'; id: number; spare: ArrayBuffer | undefined }
  | { type: 'held'; id: number }
  | { type: 'done'; id: number; descriptor: RunDescriptor; blocks: ReturnedBlock[]; temporary?: boolean }
  | { type: 'failed'; id: number; error: SerializedError };
