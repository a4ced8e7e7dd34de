/**
 * FaultFileSystem copies a write's bytes when the write is made, whatever the caller
 * does with its buffer afterwards: on a real file system the kernel has the bytes once
 * write() returns, so a caller may reuse its buffer then, before any fsync.
 *
 * The pending write a later datasync makes durable (and a crash image replays) held
 * `data.slice()`, and Buffer#slice is a view, not a copy (Uint8Array#slice copies).
 * StripedOutput writes each full chunk of a run with a Buffer view of its chunk, then
 * fills the same chunk with the next stripes before the run's datasync: the durable
 * content of a run longer than one write chunk had the last chunk's stripes where
 * the first chunk's were written, while reads before the crash (the current content,
 * copied at the write) saw the right bytes. After a crash such an installed run
 * failed its checksums in stripe 0 (review3-value-slab-lifetime, about one run in
 * eight whenever a merge's level-1 output passed 1 MiB before the crash).
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RUN_WRITE_CHUNK_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { RUNS_DIRECTORY, simpleEntries } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** A file system with RUNS_DIRECTORY durable down from the root (so a crash image keeps what is synced under it). */
async function durableRunsDirectory(seed = 1): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  await fileSystem.mkdir(RUNS_DIRECTORY);
  for (let directory = RUNS_DIRECTORY; directory !== '/'; directory = directory.slice(0, directory.lastIndexOf('/')) || '/') {
    await fileSystem.syncDirectory(directory.slice(0, directory.lastIndexOf('/')) || '/');
  }
  return fileSystem;
}

describe('FaultFileSystem: a write owns its bytes from the call on', () => {
  // A Buffer (whose slice() is a view) and a plain Uint8Array, each overwritten after the write resolves.
  for (const kind of ['Buffer', 'Uint8Array'] as const) {
    const make = (length: number, fill: number): Uint8Array => (kind === 'Buffer' ? Buffer.alloc(length, fill) : new Uint8Array(length).fill(fill));

    /** Writes two pages from one buffer, overwriting it after each write, then datasyncs; the file's durable bytes are `expected`. */
    const writeReusingBuffer = async (fileSystem: FaultFileSystem, path: string): Promise<void> => {
      const handle = await fileSystem.open(path, 'createExclusive');
      const buffer = make(4096, 0x11);
      await handle.write(buffer, 0);
      buffer.fill(0x22); // reused for the next write, as StripedOutput reuses its chunk
      await handle.write(buffer, 4096);
      buffer.fill(0x33);
      await handle.datasync();
      await handle.close();
      await fileSystem.syncDirectory(RUNS_DIRECTORY);
    };
    const expected = Buffer.concat([Buffer.alloc(4096, 0x11), Buffer.alloc(4096, 0x22)]);

    for (const mode of ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'] as CrashMode[]) {
      it(`${kind}, ${mode}: the caller's buffer overwritten before the datasync; what the crash keeps is what was written`, async () => {
        const fileSystem = await durableRunsDirectory();
        const path = `${RUNS_DIRECTORY}/file`;
        await writeReusingBuffer(fileSystem, path);
        expect(Buffer.from(await fileSystem.readFile(path)).equals(expected)).toBe(true);
        expect(Buffer.from(fileSystem.durableContent(path) ?? []).equals(expected)).toBe(true);
        const rebooted = fileSystem.crash(mode);
        expect(Buffer.from(await rebooted.readFile(path)).equals(expected)).toBe(true);
      });
    }

    it(`${kind}: unsynced writes a crash keeps (torn-last-write keeps every one but the last) are the bytes written`, async () => {
      const fileSystem = await durableRunsDirectory();
      const path = `${RUNS_DIRECTORY}/file`;
      const handle = await fileSystem.open(path, 'createExclusive');
      await handle.datasync();
      await fileSystem.syncDirectory(RUNS_DIRECTORY);
      const buffer = make(1024, 0x44);
      await handle.write(buffer, 0);
      buffer.fill(0x55);
      await handle.write(make(512, 0x66), 1024); // the last write, the one torn
      const rebooted = fileSystem.crash('torn-last-write');
      const kept = Buffer.from(await rebooted.readFile(path));
      expect(kept.length).toBeGreaterThanOrEqual(1024);
      expect(kept.subarray(0, 1024).equals(Buffer.alloc(1024, 0x44))).toBe(true);
    });
  }
});

describe('writeRun: a run longer than one write chunk, then a crash', () => {
  for (const mode of ['drop-unsynced', 'random-subset', 'torn-last-write'] as CrashMode[]) {
    it(`${mode}: the installed run is byte for byte what was written and every block checks`, async () => {
      const fileSystem = await durableRunsDirectory(7);
      // About 1.5 MiB of stripes: StripedOutput writes its chunk, then fills it again with the next stripes.
      const entries = simpleEntries(3000, 1, 400);
      const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 4, generation: 99, level: 1, hash, entries });
      expect(descriptor.fileBytes).toBeGreaterThan(RUN_WRITE_CHUNK_BYTES + RUN_WRITE_CHUNK_BYTES / 4);
      const path = `${RUNS_DIRECTORY}/${descriptor.fileName}`;
      const written = Buffer.from(await fileSystem.readFile(path));
      const rebooted = fileSystem.crash(mode);
      const kept = Buffer.from(await rebooted.readFile(path));
      expect(kept.length).toBe(written.length);
      const firstDifference = kept.findIndex((byte, index) => byte !== written[index]);
      expect(firstDifference, 'first byte of the run that differs after the crash').toBe(-1);
      const reader = await RunReader.open(rebooted, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0), { repair: false });
      expect((await reader.verify()).problems).toEqual([]);
      await reader.close();
    });
  }
});
