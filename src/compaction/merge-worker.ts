/**
 * The merge thread's entry (node:worker_threads; the main side is merge-thread.ts):
 * performs the compactor's merge of one pick off the main thread, as LevelDB's
 * background thread does. Compiled to dist/src/compaction/merge-worker.js.
 *
 * One request at a time: open the input runs read-only with this thread's own
 * NodeFileSystem, BlockCache and hash, cursors (fillCache false) over them newest
 * first, mergeRunBatches with the rule the main thread decided (plain data), writeRun with
 * the run id, generation, level and compression it chose into the output's temporary
 * file only (`temporaryOnly`: created, written, datasynced, closed; never renamed or
 * removed here: the main thread does that through the store's fenced file system,
 * src/run/run-install.ts, as this thread's file system is outside the fence a lock
 * takeover raises). Answers the descriptor (undefined when nothing survives),
 * `temporary: true` and the counters, or the error (merge-error.ts).
 *
 * - Inputs are read WITHOUT parity repair: a damaged block throws CorruptionError and
 *   the main side merges again in process, where the store's readers repair it, count
 *   it in stats and log it (merge-thread.ts). A repair here would rewrite a page of a
 *   file the main thread reads, and would not be counted.
 * - Compressed (cold-tier) blocks are compressed here, inline: this thread is already
 *   off the main thread. (Sending them to the store's pool cost two messages per block
 *   through a main thread busy with a load, which held a 1M-key load's cold merge for
 *   5 s instead of 2, and the pool's two threads added ~40 MiB of RSS.) The bytes in and
 *   out are counted and answered with the run, for stats().storage.tiers.
 * - Cancel: the main side posts 'cancel'; the merge stops at its next yield
 *   (MERGE_WORKER_YIELD_ENTRIES entries) and the answer is 'cancelled' (the main side
 *   removes the temporary file). Every file this thread opened is closed when it answers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadHash64 } from '../codec/checksum.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import { BlockCache } from '../run/block-cache.js';
import { type BlockCompressor, type CompressionCounters, InlineCompressor } from '../run/compression-pool.js';
import type { RunCursor } from '../run/run-cursor.js';
import type { RunDescriptor, RunEntry } from '../run/run-descriptor.js';
import type { RunCompressionValue } from '../run/run-format.js';
import { RunReader } from '../run/run-reader.js';
import { confirmThreadCreate } from '../run/run-install.js';
import { writeRun } from '../run/run-writer.js';
import type { StripedChunkHolder } from '../stripe/striped-output.js';
import { assert } from '../util/assert.js';
import { type SerializedError, serializeError } from './merge-error.js';
import { MERGE_WORKER_YIELD_ENTRIES, type MergeCounters, mergeRunBatches } from './merge-runs.js';
import type { MergeJob } from './merge-thread.js';
import { BACKGROUND_THREAD_NICE_DEFAULT, lowerThisThreadPriority } from '../util/thread-priority.js';
import { installZlibGate } from '../util/zlib-gate.js';

/** The merge thread's own block cache: index and filter partitions of the inputs (data blocks are not cached). */
export const MERGE_THREAD_CACHE_BYTES = 1024 * 1024;

/** A merge job (merge-thread.ts) as the thread receives it, with the protocol's fields. */
export interface MergeRequest extends MergeJob {
  type: 'merge';
  id: number;
  /** Entries read between two progress messages. */
  progressEntries: number;
  /** Test hook: after the first progress message, wait for 'cancel' or 'resume'. */
  holdAtFirstProgress: boolean;
  /** Test hook: once the inputs are read, before checking the lock and creating the output, say 'progress' and wait for 'cancel' or 'resume'. */
  holdBeforeCreate: boolean;
  /** Test hook: ignore 'cancel' (a stuck thread, which close() terminates). */
  ignoreCancel: boolean;
}

export type MainToWorker =
  | MergeRequest
  | { type: 'cancel'; id: number }
  | { type: 'resume'; id: number };

export type WorkerToMain =
  | { type: 'progress'; id: number; entriesRead: number }
  | { type: 'done'; id: number; descriptor: RunDescriptor | undefined; temporary?: boolean; counters: MergeCounters; compressed: CompressionCounters }
  | { type: 'cancelled'; id: number }
  | { type: 'failed'; id: number; error: SerializedError };

/** The running request's hooks for the messages that concern it. */
interface Active {
  id: number;
  cancel: AbortController;
  ignoreCancel: boolean;
  release: (() => void) | undefined;
  /** A 'resume' came (possibly before the merge reached its hold): the hold is skipped or ends. */
  resumed: boolean;
}

/** The Worker's workerData (merge-thread.ts): how far this thread lowers its CPU priority (0: not at all). */
export interface MergeWorkerData {
  nice: number;
  /** This thread's zlib gate (src/util/zlib-gate.ts): it is terminated only outside a zlib call. */
  zlibGate?: SharedArrayBuffer;
}

// Before any merge (src/util/thread-priority.ts; where the platform refuses, at the process's priority).
lowerThisThreadPriority((workerData as Partial<MergeWorkerData> | undefined)?.nice ?? BACKGROUND_THREAD_NICE_DEFAULT);
installZlibGate((workerData as Partial<MergeWorkerData> | undefined)?.zlibGate);
const port = parentPort;
assert(port !== null, 'merge-worker.js runs in a worker thread');
const fileSystem = new NodeFileSystem({ syncMode: 'inline' });
const cache = new BlockCache(MERGE_THREAD_CACHE_BYTES);
/** The write chunk kept across this thread's merges (one at a time; striped-output.ts). */
const writeChunk: StripedChunkHolder = { chunk: undefined };
let active: Active | undefined;

function post(message: WorkerToMain, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

port.on('message', (message: MainToWorker) => {
  if (message.type === 'merge') {
    assert(active === undefined, 'one merge at a time in the merge thread');
    void serve(message);
    return;
  }
  if (active === undefined || active.id !== message.id) return; // a late message for a request that already answered
  if (message.type === 'cancel') {
    if (active.ignoreCancel) return;
    active.cancel.abort(new Error('merge cancelled'));
    active.release?.();
  } else {
    active.resumed = true;
    active.release?.();
  }
});

async function serve(request: MergeRequest): Promise<void> {
  const current: Active = { id: request.id, cancel: new AbortController(), ignoreCancel: request.ignoreCancel, release: undefined, resumed: false };
  active = current;
  const counters: MergeCounters = { entriesRead: 0, entriesWritten: 0, entriesDropped: 0, markersRead: 0, markersWritten: 0, payloadBytesWritten: 0 };
  const readers: RunReader[] = [];
  try {
    const hash = await loadHash64();
    for (const input of request.inputs) readers.push(await RunReader.open(fileSystem, request.runsDirectory, input, hash, cache, { repair: false }));
    const cursors: RunCursor[] = [];
    try {
      for (const reader of readers) cursors.push(await reader.cursor({}, false, { fillCache: false }));
    } catch (error) {
      for (const cursor of cursors) cursor.close();
      throw error;
    }
    let reported = 0;
    let holding = false;
    const onProgress = (entriesRead: number): void => {
      if (entriesRead - reported < request.progressEntries && !(request.holdAtFirstProgress && reported === 0)) return;
      if (request.holdAtFirstProgress && reported === 0) holding = true;
      reported = entriesRead;
      post({ type: 'progress', id: request.id, entriesRead });
    };
    const signal = current.cancel.signal;
    const compressor = new CountingCompressor();
    const merged = mergeRunBatches(cursors, request.rule, counters, onProgress, signal, MERGE_WORKER_YIELD_ENTRIES);
    let descriptor: RunDescriptor | undefined;
    try {
      const first = await merged.next();
      if (first.done !== true) {
        // Batches (never empty), not entries: one async step per batch (merge-runs.ts).
        const held = async function* (): AsyncGenerator<RunEntry[]> {
          yield first.value;
          for (;;) {
            if (holding) {
              holding = false;
              await new Promise<void>((resolve) => {
                current.release = resolve;
                if (signal.aborted || current.resumed) resolve();
              });
              current.release = undefined;
              signal.throwIfAborted();
            }
            const next = await merged.next();
            if (next.done === true) return;
            yield next.value;
          }
        };
        if (request.holdBeforeCreate) {
          post({ type: 'progress', id: request.id, entriesRead: counters.entriesRead });
          await new Promise<void>((resolve) => {
            current.release = resolve;
            if (signal.aborted || current.resumed) resolve();
          });
          current.release = undefined;
          signal.throwIfAborted();
        }
        // Not after a takeover: the new holder's flush or merge creates this name (run-install.ts).
        await confirmThreadCreate(fileSystem, request.lockPath, request.runsDirectory, request.runId);
        descriptor = await writeRun({
          fileSystem, runsDirectory: request.runsDirectory, runId: request.runId, generation: request.generation, level: request.level, hash,
          entries: { batches: held() }, compression: request.compression, compressor, writeChunk, temporaryOnly: true,
        });
      }
    } finally {
      await merged.return(undefined);
    }
    // Cancelled after the write: 'done' all the same; the main side installs and removes the
    // finished output, as it does for an in-process merge cancelled there.
    if (signal.aborted && descriptor === undefined) post({ type: 'cancelled', id: request.id });
    else post({ type: 'done', id: request.id, descriptor, temporary: true, counters, compressed: compressor.counters });
  } catch (error) {
    if (current.cancel.signal.aborted) post({ type: 'cancelled', id: request.id });
    else post({ type: 'failed', id: request.id, error: serializeError(error) });
  } finally {
    for (const reader of readers) {
      cache.dropRun(reader.descriptor.runId);
      await reader.close().catch(() => undefined);
    }
    active = undefined;
  }
}

/** Compresses on this thread and counts the bytes (ColdTierCompressor's counters, on the main side). */
class CountingCompressor implements BlockCompressor {
  readonly parallelism = 1;
  readonly counters: CompressionCounters = { blocks: 0, inputBytes: 0, outputBytes: 0 };
  readonly #inline = new InlineCompressor();

  async compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
    const inputBytes = payload.length;
    const compressed = await this.#inline.compress(compression, payload);
    this.counters.blocks++;
    this.counters.inputBytes += inputBytes;
    this.counters.outputBytes += compressed.length;
    return compressed;
  }
}
