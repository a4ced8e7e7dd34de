/**
 * Seed race 5 (parity computed after the data lock is released) in the striped
 * writer (src/stripe/striped-output.ts): a stripe's parity is computed from the data
 * pages in the write chunk, and the chunk is not touched again until its write has
 * completed. Here every write completes a turn later and hands the file system the
 * bytes as they are then (as a disk read from the buffer late would), and the run is
 * several chunks long, so the writer's appends run while a chunk's write is in
 * flight. A writer that went on appending into the chunk under a pending write would
 * put bytes on disk that no parity (and no block checksum) matches.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { FileHandle, OpenMode } from '../src/fs/file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_WRITE_CHUNK_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { freshFileSystem, RUNS_DIRECTORY } from './run-helpers.js';
import { BadSectorFileSystem } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** Writes complete a turn later, with the bytes the caller's buffer holds then. */
class LateWriteFileSystem extends BadSectorFileSystem {
  writesInFlight = 0;
  mostInFlight = 0;
  changedWhileInFlight = 0;

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await super.open(path, mode);
    return { ...handle, write: async (data, position) => {
      const handedOver = Buffer.from(data);
      this.writesInFlight++;
      this.mostInFlight = Math.max(this.mostInFlight, this.writesInFlight);
      try {
        await new Promise((resolve) => setImmediate(resolve));
        if (!Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(handedOver)) this.changedWhileInFlight++;
        return await handle.write(Buffer.from(data), position);
      } finally {
        this.writesInFlight--;
      }
    } };
  }
}

const VALUE_BYTES = 3000;
/** Enough entries for four chunks of the striped area. */
const COUNT = Math.ceil((4 * RUN_WRITE_CHUNK_BYTES) / VALUE_BYTES);
const keyOf = (index: number) => `key-${String(index).padStart(6, '0')}`;
const valueOf = (index: number) => Buffer.alloc(VALUE_BYTES, (index * 7 + 3) & 0xff);

describe('seed race 5: a chunk is never changed while its write is in flight', () => {
  it('a run of four chunks written through late writes verifies, parity included, and reads back exactly', async () => {
    const inner = await freshFileSystem();
    const fileSystem = new LateWriteFileSystem(inner);
    async function* entries(): AsyncGenerator<RunEntry> {
      for (let index = 0; index < COUNT; index++) yield { key: keyOf(index), version: index + 1, value: valueOf(index) };
    }
    const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 3, level: 0, hash, entries: entries() });
    expect(descriptor.fileBytes).toBeGreaterThan(3 * RUN_WRITE_CHUNK_BYTES);
    const reader = await RunReader.open(inner, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0), { repair: false });
    expect((await reader.verify()).problems).toEqual([]);
    for (const index of [0, 1, Math.floor(COUNT / 3), Math.floor(COUNT / 2), COUNT - 2, COUNT - 1]) {
      const [newest] = await reader.versions(keyOf(index));
      expect({ index, same: Buffer.from(newest?.value ?? []).equals(valueOf(index)) }).toEqual({ index, same: true });
    }
    await reader.close();
    expect(fileSystem.changedWhileInFlight).toBe(0);
  });
});
