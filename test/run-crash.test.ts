/**
 * src/run/run-writer.ts under crashes and I/O faults.
 *
 * A crash at every file-system operation of writeRun, in every crash mode, leaves
 * under the final name either nothing or the complete file (byte-identical to a clean
 * write), never a partial one, and the complete file whenever writeRun had resolved
 * (the runs directory and its ancestors are durable before the write, so every mode
 * checks this: test/run-helpers.ts); ENOSPC becomes DiskFullError and a failed
 * datasync an IoError, and neither leaves a file behind.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { DiskFullError, IoError } from '../src/errors.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RUN_WRITE_CHUNK_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { turnTaker } from './helpers.js';
import { freshFileSystem, RUNS_DIRECTORY, simpleEntries } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

// Large enough to need several write chunks.
const entries = simpleEntries(3000, 1, 400);
const FINAL_PATH = `${RUNS_DIRECTORY}/0000000004.run`;
const write = (fileSystem: FaultFileSystem) => writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 4, generation: 99, level: 0, hash, entries });

describe('writeRun under crashes', () => {
  it('leaves nothing or the complete file under the final name after a crash at any operation', async () => {
    const clean = await freshFileSystem();
    const operationsBefore = clean.operationCount;
    const descriptor = await write(clean);
    expect(descriptor.fileBytes).toBeGreaterThan(RUN_WRITE_CHUNK_BYTES);
    const operationCount = clean.operationCount - operationsBefore;
    const complete = await clean.readFile(FINAL_PATH);
    const modes: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
    const completeSeen = new Map<CrashMode, number>(modes.map((mode) => [mode, 0]));
    const turn = turnTaker();
    for (let allowed = 0; allowed <= operationCount; allowed++) {
      for (const mode of modes) {
        const fileSystem = await freshFileSystem();
        fileSystem.crashAfterOperations(allowed);
        const done = await write(fileSystem).then(
          () => true,
          () => false,
        );
        expect(done).toBe(allowed === operationCount);
        const rebooted = fileSystem.crash(mode);
        const present = await rebooted.exists(FINAL_PATH);
        // A resolved writeRun promises a durable file under the final name, whatever the mode.
        if (done) expect(present, `${mode}: the run is missing after writeRun resolved`).toBe(true);
        if (present) {
          const kept = Buffer.from(await rebooted.readFile(FINAL_PATH));
          expect(kept.equals(Buffer.from(complete)), `${mode}, crash after ${allowed} operations: the run differs from a clean write`).toBe(true);
          const reader = await RunReader.open(rebooted, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0));
          expect((await reader.verify()).problems).toEqual([]);
          await reader.close();
          completeSeen.set(mode, completeSeen.get(mode)! + 1);
        }
        await turn();
      }
    }
    // Every mode reached the byte check (at least once writeRun had resolved).
    for (const mode of modes) expect(completeSeen.get(mode), mode).toBeGreaterThan(0);
  });

  it('turns ENOSPC into DiskFullError and removes the temporary file', async () => {
    for (const nth of [1, 2]) {
      const fileSystem = await freshFileSystem();
      fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', nth });
      await expect(write(fileSystem)).rejects.toBeInstanceOf(DiskFullError);
      expect(fileSystem.listPaths()).toEqual([]);
    }
  });

  it('a failed datasync is an IoError, never retried, and leaves no file', async () => {
    const fileSystem = await freshFileSystem();
    fileSystem.injectFault({ operation: 'datasync', error: 'EIO' });
    await expect(write(fileSystem)).rejects.toBeInstanceOf(IoError);
    expect(fileSystem.listPaths()).toEqual([]);
  });

  it('a failed directory sync after the rename removes the final name', async () => {
    const fileSystem = await freshFileSystem();
    fileSystem.injectFault({ operation: 'syncDirectory', error: 'EIO' });
    await expect(write(fileSystem)).rejects.toBeInstanceOf(IoError);
    expect(fileSystem.listPaths()).toEqual([]);
  });

  it('replaces a leftover temporary file of the same run id', async () => {
    const fileSystem = await freshFileSystem();
    const handle = await fileSystem.open(`${FINAL_PATH}.tmp`, 'createExclusive');
    await handle.write(new Uint8Array(10), 0);
    await handle.close();
    const descriptor = await write(fileSystem);
    expect(fileSystem.listPaths()).toEqual([FINAL_PATH]);
    expect(descriptor.entryCount).toBe(entries.length);
  });
});
