/**
 * The merge thread's entry (node:worker_threads; the main side is merge-thread.ts):
 * performs the compactor's merge of one pick off the main thread, as LevelDB's
 * background thread does. Compiled to dist/src/compaction/merge-worker.js.
 *
 * One request at a time: open the input runs read-only with this thread's own
 * NodeFileSystem, BlockCache and hash, cursors (fillCache false) over them newest
 * first, mergeRuns with the rule the main thread decided (plain data), writeRun with
 * the run id, generation, level and compression it chose (temp, datasync, rename,
 * directory fsync, as on the main thread). Answers the descriptor (undefined when
 * nothing survives) and the counters, or the error (merge-error.ts).
 *
 * - Inputs are read WITHOUT parity repair: a damaged block throws CorruptionError and
 *   the main side merges again in process, where the store's readers repair it, count
 *   it in stats and log it (merge-thread.ts). A repair here would rewrite a page of a
 *   file the main thread reads, and would not be counted.
 * - Compressed (cold-tier) blocks are sent to the main side, which compresses them
 *   with the store's ColdTierCompressor (its pool threads, its byte counters in
 *   stats().storage.tiers, its abandon rule), and sent back: two messages per block.
 * - Cancel: the main side posts 'cancel'; the merge stops at its next yield
 *   (MERGE_WORKER_YIELD_ENTRIES entries), writeRun removes its temporary file, and the
 *   answer is 'cancelled'. Every file this thread opened is closed when it answers.
 */
import { parentPort } from 'node:worker_threads';
import { loadHash64 } from '../codec/checksum.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import { BlockCache } from '../run/block-cache.js';
import type { BlockCompressor } from '../run/compression-pool.js';
import type { RunCursor } from '../run/run-cursor.js';
import type { RunDescriptor, RunEntry } from '../run/run-descriptor.js';
import type { RunCompressionName, RunCompressionValue } from '../run/run-format.js';
import { RunReader } from '../run/run-reader.js';
import { writeRun } from '../run/run-writer.js';
import { assert } from '../util/assert.js';
import { type SerializedError, serializeError } from './merge-error.js';
import { MERGE_WORKER_YIELD_ENTRIES, type MergeCounters, mergeRuns } from './merge-runs.js';
import type { VersionGcRule } from './version-gc.js';

/** The merge thread's own block cache: index and filter partitions of the inputs (data blocks are not cached). */
export const MERGE_THREAD_CACHE_BYTES = 4 * 1024 * 1024;

export interface MergeRequest {
  type: 'merge';
  id: number;
  runsDirectory: string;
  /** Newest first, as mergeRuns takes them. */
  inputs: RunDescriptor[];
  rule: VersionGcRule;
  runId: number;
  generation: number;
  level: number;
  compression: RunCompressionName;
  /** Compressions kept in flight (the main side's compressor parallelism). */
  compressParallelism: number;
  /** Entries read between two progress messages. */
  progressEntries: number;
  /** Test hook: after the first progress message, wait for 'cancel' or 'resume'. */
  holdAtFirstProgress: boolean;
}

export type MainToWorker =
  | MergeRequest
  | { type: 'cancel'; id: number }
  | { type: 'resume'; id: number }
  | { type: 'compressed'; id: number; sequence: number; payload: Uint8Array }
  | { type: 'compress-failed'; id: number; sequence: number; error: SerializedError };

export type WorkerToMain =
  | { type: 'progress'; id: number; entriesRead: number }
  | { type: 'compress'; id: number; sequence: number; compression: RunCompressionValue; payload: Uint8Array }
  | { type: 'done'; id: number; descriptor: RunDescriptor | undefined; counters: MergeCounters }
  | { type: 'cancelled'; id: number }
  | { type: 'failed'; id: number; error: SerializedError };

/** The running request's hooks for the messages that concern it. */
interface Active {
  id: number;
  cancel: AbortController;
  pendingCompressions: Map<number, { resolve: (payload: Uint8Array) => void; reject: (error: Error) => void }>;
  release: (() => void) | undefined;
}

const port = parentPort;
assert(port !== null, 'merge-worker.js runs in a worker thread');
const fileSystem = new NodeFileSystem({ syncMode: 'inline' });
const cache = new BlockCache(MERGE_THREAD_CACHE_BYTES);
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
    active.cancel.abort(new Error('merge cancelled'));
    active.release?.();
    for (const pending of active.pendingCompressions.values()) pending.reject(new Error('merge cancelled'));
    active.pendingCompressions.clear();
  } else if (message.type === 'resume') {
    active.release?.();
  } else if (message.type === 'compressed') {
    const pending = active.pendingCompressions.get(message.sequence);
    active.pendingCompressions.delete(message.sequence);
    pending?.resolve(message.payload);
  } else {
    const pending = active.pendingCompressions.get(message.sequence);
    active.pendingCompressions.delete(message.sequence);
    pending?.reject(new RelayedError(message.error));
  }
});

/** A compression that failed on the main side: sent back as it was thrown there if the merge fails with it. */
class RelayedError extends Error {
  readonly serialized: SerializedError;
  constructor(serialized: SerializedError) {
    super(serialized.message);
    this.serialized = serialized;
  }
}

async function serve(request: MergeRequest): Promise<void> {
  const current: Active = { id: request.id, cancel: new AbortController(), pendingCompressions: new Map(), release: undefined };
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
    const merged = mergeRuns(cursors, request.rule, counters, onProgress, signal, MERGE_WORKER_YIELD_ENTRIES);
    let descriptor: RunDescriptor | undefined;
    try {
      const first = await merged.next();
      if (first.done !== true) {
        const held = async function* (): AsyncGenerator<RunEntry> {
          yield first.value;
          for (;;) {
            if (holding) {
              holding = false;
              await new Promise<void>((resolve) => {
                current.release = resolve;
                if (signal.aborted) resolve();
              });
              current.release = undefined;
              signal.throwIfAborted();
            }
            const next = await merged.next();
            if (next.done === true) return;
            yield next.value;
          }
        };
        descriptor = await writeRun({
          fileSystem, runsDirectory: request.runsDirectory, runId: request.runId, generation: request.generation, level: request.level, hash,
          entries: held(), compression: request.compression, compressor: relayCompressor(current, request.compressParallelism),
        });
      }
    } finally {
      await merged.return(undefined);
    }
    // Cancelled after the rename: 'done' all the same; the main side removes the finished
    // output, as it does for an in-process merge cancelled there.
    if (signal.aborted && descriptor === undefined) post({ type: 'cancelled', id: request.id });
    else post({ type: 'done', id: request.id, descriptor, counters });
  } catch (error) {
    if (current.cancel.signal.aborted) post({ type: 'cancelled', id: request.id });
    else post({ type: 'failed', id: request.id, error: error instanceof RelayedError ? error.serialized : serializeError(error) });
  } finally {
    for (const reader of readers) {
      cache.dropRun(reader.descriptor.runId);
      await reader.close().catch(() => undefined);
    }
    active = undefined;
  }
}

/** Sends each payload to the main side's compressor (see the header). */
function relayCompressor(current: Active, parallelism: number): BlockCompressor {
  let sequence = 0;
  return {
    parallelism,
    compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
      if (current.cancel.signal.aborted) return Promise.reject(current.cancel.signal.reason as Error);
      const number = sequence++;
      const copy = payload.slice(); // the writer reuses its buffer; the copy is transferred
      return new Promise<Uint8Array>((resolve, reject) => {
        current.pendingCompressions.set(number, { resolve, reject });
        post({ type: 'compress', id: current.id, sequence: number, compression, payload: copy }, [copy.buffer as ArrayBuffer]);
      });
    },
  };
}
