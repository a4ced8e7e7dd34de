/**
 * The flush thread's entry (node:worker_threads; the main side is flush-thread.ts):
 * writes the run of one sealed memtable off the main thread. Compiled to
 * dist/src/engine/flush-worker.js.
 *
 * One flush at a time: 'begin' names the run (directory, run id, generation, level)
 * and how many data block bytes to send back for the block cache; 'chunk' messages
 * bring the entries in run order (flush-chunks.ts, transferred); 'end' says no more
 * come. The entries go to writeRun as batches, one per chunk, with this thread's own
 * NodeFileSystem (inline syncs) and hash: temp file, blocks, datasync, close, exactly
 * as an in-process flush writes them (the file is byte for byte the same:
 * test/flush-thread.test.ts), but only the temporary file (`temporaryOnly`): the
 * rename, the directory fsync and any removal are the main thread's, through the
 * store's fenced file system (src/run/run-install.ts: this thread's file system is
 * outside the fence a lock takeover raises). Answers 'done' with the descriptor, the
 * sealed blocks the flusher prepopulates the cache with (copies, transferred) and
 * `temporary: true`, or 'failed' with the error (serialized as merge-error.ts does;
 * typed by writeRun, ENOSPC as DiskFullError; its partial file is left for the main
 * thread to remove).
 *
 * - Arrival order ('begin' arrivalOrder, a random memtable: flush-key-order.ts): the
 *   chunks bring each key's entries together but the keys of each key range in the
 *   order they arrived; a range's chunks are kept and indexed as they come, and once
 *   its last one is in ('chunk' rangeEnd) its keys are sorted and the writer
 *   gets its entries in run order; its chunks are acknowledged (as below) once the writer has
 *   taken the range's last batch.
 * - Flow control: each chunk is acknowledged ('consumed') once the writer has taken
 *   what it keeps of it (it asks for the next batch), so the main side keeps at most
 *   FLUSH_CHUNKS_IN_FLIGHT chunks queued here. The acknowledgement transfers the
 *   chunk's buffer back, to be packed again (no entry of it is referenced any more).
 * - Kept blocks: every index and filter partition, and data blocks while their bytes
 *   sum to at most `keepDataBytes`, the same byte bound CachePrepopulation applies to
 *   the blocks it is offered (it keeps them as bytes and decodes at insert, 7f8d6c4), so
 *   the two keep the same set; nothing when keepDataBytes < 0.
 * - Not niced: a flush is on the write stall's critical path (merges are niced).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadHash64 } from '../codec/checksum.js';
import { serializeError } from '../compaction/merge-error.js';
import { type FileHandle, type FileSystem, fileSystemError } from '../fs/file-system.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { confirmThreadCreate } from '../run/run-install.js';
import { type SealedBlock, writeRun } from '../run/run-writer.js';
import type { StripedChunkHolder } from '../stripe/striped-output.js';
import { assert } from '../util/assert.js';
import { installZlibGate } from '../util/zlib-gate.js';
import { FLUSH_CHUNK_BYTES, type FlushChunk, unpackFlushChunk } from './flush-chunks.js';
import { KeyRangeChunks } from './flush-key-order.js';
import type { FlushFault, FlushMainToWorker, FlushWorkerToMain, ReturnedBlock } from './flush-protocol.js';

interface Active {
  id: number;
  /** Chunks received and not yet taken; `rangeEnd` on the last chunk of a key range (arrival order). */
  chunks: Array<{ chunk: FlushChunk; rangeEnd: boolean }>;
  ended: boolean;
  wake: (() => void) | undefined;
  /** Test hook: after the first chunk is consumed, say 'held' and wait for 'resume'. */
  holdAfterFirstChunk: boolean;
  resumed: boolean;
}

const port = parentPort;
assert(port !== null, 'flush-worker.js runs in a worker thread');
// A flush writes uncompressed runs today; the gate makes any zlib call it may make safe to terminate (src/util/zlib-gate.ts).
installZlibGate((workerData as { zlibGate?: SharedArrayBuffer } | null)?.zlibGate);
const fileSystem = new NodeFileSystem({ syncMode: 'inline' });
/** The write chunk kept across this thread's flushes (one at a time; striped-output.ts). */
const writeChunk: StripedChunkHolder = { chunk: undefined };
let active: Active | undefined;

function post(message: FlushWorkerToMain, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

port.on('message', (message: FlushMainToWorker) => {
  if (message.type === 'begin') {
    assert(active === undefined, 'one flush at a time in the flush thread');
    active = { id: message.id, chunks: [], ended: false, wake: undefined, holdAfterFirstChunk: message.holdAfterFirstChunk, resumed: false };
    void serve(active, message);
    return;
  }
  const current = active;
  if (current === undefined || current.id !== message.id) return; // a late message for a flush that already answered
  if (message.type === 'chunk') current.chunks.push({ chunk: message.chunk, rangeEnd: message.rangeEnd });
  else if (message.type === 'resume') current.resumed = true;
  else current.ended = true;
  current.wake?.();
});

/** The test hook's hold, after the first chunk (or batch) is consumed. */
async function holdIfAsked(current: Active): Promise<void> {
  if (!current.holdAfterFirstChunk) return;
  current.holdAfterFirstChunk = false;
  post({ type: 'held', id: current.id });
  while (!current.resumed) await new Promise<void>((resolve) => (current.wake = resolve));
  current.wake = undefined;
}

/** Hands `chunk`'s buffer back to be packed again (flush-chunks.ts; an oversized one is not), acknowledging it. */
function consumed(current: Active, chunk: FlushChunk): void {
  const spare = chunk.buffer.byteLength === FLUSH_CHUNK_BYTES ? chunk.buffer : undefined;
  post({ type: 'consumed', id: current.id, spare }, spare === undefined ? [] : [spare]);
}

/**
 * The batches of a flush in arrival order (flush-key-order.ts): a key range's chunks are
 * kept and indexed as they come; once its last one is in, its keys are sorted and
 * its entries go out in run order, and its chunks are acknowledged when the writer asks
 * for the batch after its last.
 */
async function* arrivalOrderBatches(current: Active): AsyncGenerator<RunEntry[]> {
  let range = new KeyRangeChunks();
  for (;;) {
    const next = current.chunks.shift();
    if (next === undefined) {
      if (current.ended) break;
      await new Promise<void>((resolve) => (current.wake = resolve));
      current.wake = undefined;
      continue;
    }
    range.add(next.chunk);
    if (!next.rangeEnd) continue;
    for (const batch of range.batches(range.keyOrder())) {
      yield batch;
      await holdIfAsked(current);
    }
    for (const chunk of range.chunks) consumed(current, chunk);
    range = new KeyRangeChunks();
  }
  assert(range.chunks.length === 0, 'the last chunk of a flush in arrival order ends its range');
}

async function* batches(current: Active): AsyncGenerator<RunEntry[]> {
  for (;;) {
    while (current.chunks.length === 0 && !current.ended) await new Promise<void>((resolve) => (current.wake = resolve));
    current.wake = undefined;
    const chunk = current.chunks.shift()?.chunk;
    if (chunk === undefined) return;
    yield unpackFlushChunk(chunk);
    // The writer asks for the next batch: it has copied what it keeps of this one, so the
    // chunk's buffer goes back to be packed again.
    consumed(current, chunk);
    await holdIfAsked(current);
  }
}

/** Test hook: `inner` whose opened handles fail every `fault.syscall` with errno `fault.code`. */
function faultyFileSystem(inner: FileSystem, fault: FlushFault): FileSystem {
  const failing = new Set<string>(fault.syscall === 'write' ? ['write', 'writeOffThread'] : ['datasync']);
  const bound = (target: object, property: string | symbol): unknown => {
    const value: unknown = Reflect.get(target, property, target);
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
  };
  return new Proxy(inner, {
    get(target, property) {
      if (property !== 'open') return bound(target, property);
      return async (path: string, mode: Parameters<FileSystem['open']>[1]): Promise<FileHandle> => {
        const handle = await target.open(path, mode);
        return new Proxy(handle, {
          get(handleTarget, handleProperty) {
            if (typeof handleProperty === 'string' && failing.has(handleProperty)) {
              return () => Promise.reject(fileSystemError(fault.code, handleProperty, handleTarget.path));
            }
            return bound(handleTarget, handleProperty);
          },
        });
      };
    },
  });
}

async function serve(current: Active, request: Extract<FlushMainToWorker, { type: 'begin' }>): Promise<void> {
  const kept: ReturnedBlock[] = [];
  let keptDataBytes = 0;
  let dataFull = request.keepDataBytes < 0;
  const onBlockSealed = (sealed: SealedBlock): void => {
    if (request.keepDataBytes < 0) return;
    if (sealed.kind === 'data') {
      if (dataFull) return;
      keptDataBytes += sealed.bytes.length;
      if (keptDataBytes > request.keepDataBytes) {
        dataFull = true;
        return;
      }
    }
    // A copy in its own ArrayBuffer (the writer reuses `bytes`; a pooled Buffer's slab must not be transferred).
    const bytes = new Uint8Array(sealed.bytes);
    kept.push({ kind: sealed.kind, offset: sealed.offset, bytes: bytes.buffer, payloadBytes: sealed.payloadBytes, entryCount: sealed.entryCount });
  };
  try {
    const hash = await loadHash64();
    if (request.holdBeforeCreate) {
      current.holdAfterFirstChunk = true;
      await holdIfAsked(current);
    }
    // Not after a takeover: the new holder's thread creates this name (run-install.ts).
    await confirmThreadCreate(fileSystem, request.lockPath, request.runsDirectory, request.runId);
    const descriptor = await writeRun({
      fileSystem: request.fault === undefined ? fileSystem : faultyFileSystem(fileSystem, request.fault), runsDirectory: request.runsDirectory, runId: request.runId, generation: request.generation, level: request.level, hash,
      entries: { batches: request.arrivalOrder ? arrivalOrderBatches(current) : batches(current) }, onBlockSealed, writeChunk, temporaryOnly: true,
    });
    post({ type: 'done', id: current.id, descriptor, blocks: kept, temporary: true }, kept.map((block) => block.bytes));
  } catch (error) {
    post({ type: 'failed', id: current.id, error: serializeError(error) });
  } finally {
    active = undefined;
  }
}
