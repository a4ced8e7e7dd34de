/**
 * Review of the flush thread (issues 7 and 12), part 4: the memory a flush holds in
 * transit is bounded. While the thread's writer is held after its first chunk
 * (flushThreadTestHooks.holdNextFlush), the main side may pack at most
 * FLUSH_CHUNKS_IN_FLIGHT chunks beyond what the writer consumed, plus the one it is
 * filling: it reads no more of the memtable than that, however long the hold lasts.
 *
 * The hold lasts a while (a timer) so an unbounded packer would run far past the
 * bound; the assertion is on entries read, never on time.
 */
import { Buffer } from 'node:buffer';
import { readdirSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { internalKey } from '../src/codec/keys.js';
import { prepareValue } from '../src/codec/values.js';
import { FLUSH_CHUNK_BYTES } from '../src/engine/flush-chunks.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { FLUSH_CHUNKS_IN_FLIGHT, FlushThread, flushThreadTestHooks, flushWorkerBuilt, resumeHeldFlushes } from '../src/engine/flush-thread.js';
import { memtableEntries } from '../src/engine/flusher.js';
import { type IndexOperation, MemoryIndex } from '../src/memory/memory-index.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { installTemporaryRun } from '../src/run/run-install.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

/** Value bytes per entry: with its key and header an entry is a little over 1 KiB. */
const VALUE_BYTES = 1000;
const ENTRIES = 40_000;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

afterEach(() => {
  flushThreadTestHooks.holdNextFlush = false;
  flushThreadTestHooks.onHeld = undefined;
  removeTemporaryDirectories();
});

describe('chunks in flight to the flush thread', () => {
  it('while the writer is held, the main side reads at most FLUSH_CHUNKS_IN_FLIGHT + 2 chunks of entries', async () => {
    const index = new MemoryIndex(1);
    const operations: IndexOperation[] = [];
    for (let number = 0; number < ENTRIES; number++) {
      operations.push({ key: internalKey(`key-${String(number).padStart(8, '0')}`), slot: prepareValue(Buffer.alloc(VALUE_BYTES, number & 0xff), 1 << 22).stored });
    }
    index.apply(1, operations, 1);
    let read = 0;
    const inner = memtableEntries(index);
    const counting: Iterator<RunEntry> = {
      next: () => {
        const result = inner.next();
        if (result.done !== true) read++;
        return result;
      },
    };
    const thread = new FlushThread();
    flushThreadTestHooks.holdNextFlush = true;
    let readWhileHeld = -1;
    flushThreadTestHooks.onHeld = () => {
      // Let the main side run as far as it may, then look.
      setTimeout(() => {
        readWhileHeld = read;
        resumeHeldFlushes();
      }, 300);
    };
    const directory = temporaryDirectory();
    const outcome = await thread.flush({ runsDirectory: directory, runId: 1, generation: 1, level: 0, keepDataBytes: -1 }, counting);
    await thread.close();
    await installTemporaryRun(new NodeFileSystem(), directory, 1); // the main side's half (run-install.ts)
    expect(outcome.descriptor.entryCount).toBe(ENTRIES);
    expect(readdirSync(directory)).toEqual([outcome.descriptor.fileName]);
    const entryBytesMin = VALUE_BYTES + 'key-00000000'.length;
    const perChunkMax = Math.floor(FLUSH_CHUNK_BYTES / entryBytesMin);
    expect(readWhileHeld).toBeGreaterThan(perChunkMax);
    // One chunk consumed, FLUSH_CHUNKS_IN_FLIGHT sent and waiting, one being filled (plus the entry that did not fit).
    expect(readWhileHeld).toBeLessThanOrEqual((FLUSH_CHUNKS_IN_FLIGHT + 2) * perChunkMax + 1);
    expect(ENTRIES).toBeGreaterThan(3 * (FLUSH_CHUNKS_IN_FLIGHT + 2) * perChunkMax);
  }, 60_000);
});
