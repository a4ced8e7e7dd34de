/**
 * Flush chunk buffers are recycled (issue 7, src/engine/flush-chunks.ts): the flush
 * thread hands each consumed chunk's buffer back and the packing reuses it, so a
 * thread's first flush allocates at most FLUSH_CHUNKS_IN_FLIGHT buffers and the next
 * ones none (each chunk was a fresh 256 KiB ArrayBuffer before, freed by the thread's
 * garbage collector only). A reused buffer still holds an earlier chunk's bytes: the run
 * written must be the same bytes as an in-process flush writes.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { prepareValue } from '../src/codec/values.js';
import { FLUSH_CHUNK_BYTES, FlushChunkPacker, unpackFlushChunk } from '../src/engine/flush-chunks.js';
import { FLUSH_CHUNKS_IN_FLIGHT, FlushThread, flushThreadCounters, flushThreadsRunning, flushWorkerBuilt } from '../src/engine/flush-thread.js';
import { memtableEntries } from '../src/engine/flusher.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { type IndexOperation, MemoryIndex } from '../src/memory/memory-index.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { installTemporaryRun } from '../src/run/run-install.js';
import { writeRun } from '../src/run/run-writer.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

afterEach(() => removeTemporaryDirectories());

/** A memtable of `keys` keys with values of 150-400 bytes (~300 B an entry packed). */
function memtable(keys: number, round: number): MemoryIndex {
  const index = new MemoryIndex(Infinity);
  const operations: IndexOperation[] = [];
  for (let number = 0; number < keys; number++) {
    const value = Buffer.alloc(150 + ((number * 37) % 250), (number + round) & 0xff);
    operations.push({ key: internalKey(`recycled-${String(number).padStart(7, '0')}`), slot: prepareValue(value, 1 << 20).stored });
  }
  index.apply(1, operations, 1);
  return index;
}

const copied = (entry: RunEntry): RunEntry => ({ key: entry.key, version: entry.version, value: entry.value === undefined ? undefined : Uint8Array.from(entry.value) });

describe('flush chunk packing takes its buffers from its source', () => {
  it('one buffer per chunk, none left over; reused buffers with stale bytes unpack to exactly the entries packed', () => {
    const spare = new ArrayBuffer(FLUSH_CHUNK_BYTES);
    new Uint8Array(spare).fill(0xee); // an earlier chunk's bytes
    let taken = 0;
    const packer = new FlushChunkPacker(() => {
      taken++;
      return spare;
    });
    expect(taken).toBe(0);
    const packed: RunEntry[] = [];
    const unpacked: RunEntry[] = [];
    let chunks = 0;
    const take = (): void => {
      const chunk = packer.take();
      expect(chunk.buffer === spare).toBe(true); // (not toBe: a failure would diff two 256 KiB buffers)
      unpacked.push(...unpackFlushChunk(chunk).map(copied));
      new Uint8Array(spare).fill(0xee); // handed back dirty
      chunks++;
    };
    for (const entry of memtableEntries(memtable(4000, 0))) {
      packed.push(copied(entry));
      if (!packer.add(entry)) {
        take();
        expect(packer.add(entry)).toBe(true);
      }
    }
    take();
    expect(chunks).toBeGreaterThan(3);
    expect(taken).toBe(chunks);
    expect(unpacked).toEqual(packed);
  });

  it('an entry larger than a chunk gets a chunk of its own size, not a buffer of the source', () => {
    let taken = 0;
    const packer = new FlushChunkPacker(() => {
      taken++;
      return new ArrayBuffer(FLUSH_CHUNK_BYTES);
    });
    const large: RunEntry = { key: internalKey('large'), version: 3, value: new Uint8Array(FLUSH_CHUNK_BYTES + 10).fill(5) };
    expect(packer.add(large)).toBe(true);
    const chunk = packer.take();
    expect(taken).toBe(0);
    expect(chunk.buffer.byteLength).toBeGreaterThan(FLUSH_CHUNK_BYTES);
    expect(unpackFlushChunk(chunk).map(copied)).toEqual([copied(large)]);
  });

  it('a source buffer of the wrong size (a detached one is 0 bytes) is an assertion, never packed', () => {
    const packer = new FlushChunkPacker(() => new ArrayBuffer(0));
    expect(() => packer.add({ key: internalKey('k'), version: 1, value: Uint8Array.of(1) })).toThrow(/FLUSH_CHUNK_BYTES/);
  });
});

describe('the flush thread hands consumed chunks back', () => {
  it('the first flush allocates at most FLUSH_CHUNKS_IN_FLIGHT buffers, the next ones none; the runs are the in-process bytes', async () => {
    const hash = await loadHash64();
    const thread = new FlushThread();
    const rounds = 3;
    const allocated: number[] = [];
    try {
      for (let round = 0; round < rounds; round++) {
        const index = memtable(20_000, round);
        const inProcess = temporaryDirectory();
        const threaded = temporaryDirectory();
        const expected = await writeRun({ fileSystem: new NodeFileSystem(), runsDirectory: inProcess, runId: 40 + round, generation: 77, level: 0, hash, entries: memtableEntries(index) });
        const before = flushThreadCounters.chunkBuffersAllocated;
        const outcome = await thread.flush({ runsDirectory: threaded, runId: 40 + round, generation: 77, level: 0, keepDataBytes: -1 }, memtableEntries(index));
        allocated.push(flushThreadCounters.chunkBuffersAllocated - before);
        expect(outcome.descriptor).toEqual(expected);
        await installTemporaryRun(new NodeFileSystem(), threaded, 40 + round); // the main side's half (run-install.ts)
        expect(readFileSync(join(threaded, expected.fileName)).equals(readFileSync(join(inProcess, expected.fileName)))).toBe(true);
      }
    } finally {
      await thread.close();
    }
    // 20,000 entries of ~300 B are more than 2 x FLUSH_CHUNKS_IN_FLIGHT chunks: without recycling each was a new buffer.
    expect(20_000 * 300).toBeGreaterThan(2 * FLUSH_CHUNKS_IN_FLIGHT * FLUSH_CHUNK_BYTES);
    expect(allocated[0]).toBeGreaterThan(0);
    expect(allocated[0]).toBeLessThanOrEqual(FLUSH_CHUNKS_IN_FLIGHT);
    expect(allocated.slice(1)).toEqual(new Array<number>(rounds - 1).fill(0));
    expect(flushThreadsRunning()).toBe(0);
  }, 60_000);
});
