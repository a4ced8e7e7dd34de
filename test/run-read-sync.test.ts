/**
 * Synchronous block reads (FileHandle.readSync, StripedRunFile.readBlockNow): a point
 * read that misses the block cache answers without a promise when the file system
 * reads synchronously, falls back to the promise path where it does not, and keeps
 * every check: a flipped bit is caught (and repaired from parity, or thrown without
 * repair), and an injected read fault applies to readSync as it does to read.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { FileHandle, FileSystem } from '../src/fs/file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { RunReader } from '../src/run/run-reader.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { plain, RUNS_DIRECTORY, simpleEntries, writeAndOpen } from './run-helpers.js';
import { NoReadSyncFileSystem } from './support/file-system-wrappers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const path = (descriptor: RunDescriptor) => `${RUNS_DIRECTORY}/${descriptor.fileName}`;


/** A key stored in data block 0 and one entry of it. */
const FIRST_KEY = 'key-000000';

describe('synchronous block reads', () => {
  it('answers a cache miss without a promise when the file reads synchronously, exact entries', async () => {
    const entries = simpleEntries(300, 2, 50);
    const { reader, cache } = await writeAndOpen(hash, entries, { cacheBytes: 0 });
    expect(reader.blockCount).toBeGreaterThan(2);
    for (const key of [...new Set(entries.map((entry) => entry.key))]) {
      const found = reader.versionsSyncWhenCached(key);
      expect(found).toBeInstanceOf(Array); // a cache of 0 bytes: every read comes from the file
      expect((found as Awaited<typeof found>).map(plain)).toEqual(entries.filter((entry) => entry.key === key).map(plain));
    }
    expect(cache.stats().hits).toBe(0);
    await reader.close();
  });

  it('falls back to the promise path on a file system without readSync', async () => {
    const entries = simpleEntries(200, 1, 50);
    const { fileSystem, descriptor, reader } = await writeAndOpen(hash, entries);
    await reader.close();
    const plainFileSystem = new NoReadSyncFileSystem(fileSystem);
    const reopened = await RunReader.open(plainFileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0));
    const found = reopened.versionsSyncWhenCached(FIRST_KEY);
    expect(found).toBeInstanceOf(Promise);
    expect((await found).map(plain)).toEqual(entries.filter((entry) => entry.key === FIRST_KEY).map(plain));
    await reopened.close();
  });

  it('catches a flipped bit on the synchronous path: repaired from parity, or a CorruptionError without repair', async () => {
    const entries = simpleEntries(200, 1, 50);
    const expected = entries.filter((entry) => entry.key === FIRST_KEY).map(plain);
    const { fileSystem, descriptor, reader } = await writeAndOpen(hash, entries);
    await reader.close();
    fileSystem.flipBit(path(descriptor), 200, 3); // inside data block 0's entries

    const detecting = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0), { repair: false });
    expect(() => detecting.versionsSyncWhenCached(FIRST_KEY)).toThrow(expect.objectContaining({ code: 'LADYBUG_CORRUPTION', file: path(descriptor) }));
    await detecting.close();

    const repairing = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024));
    const found = repairing.versionsSyncWhenCached(FIRST_KEY);
    expect(found).toBeInstanceOf(Promise); // a repair continues asynchronously
    expect((await found).map(plain)).toEqual(expected);
    expect(repairing.repairCounters.repairedBlocks).toBe(1);
    await repairing.close();
  });

  it('an injected read fault fails readSync as it fails read, and the reader recovers the block exactly', async () => {
    const entries = simpleEntries(200, 1, 50);
    const expected = entries.filter((entry) => entry.key === FIRST_KEY).map(plain);
    const { fileSystem, descriptor, reader } = await writeAndOpen(hash, entries);
    await reader.close();

    const handle = await fileSystem.open(path(descriptor), 'read');
    expect(handle.readSync).toBeDefined();
    const fault = fileSystem.injectFault({ operation: 'read', error: 'EIO', path: path(descriptor) });
    expect(() => handle.readSync!(Buffer.alloc(16), 0, 16, 0)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(fault.triggeredCount).toBe(1);
    expect(handle.readSync!(Buffer.alloc(16), 0, 16, 0)).toBe(16);
    await handle.close();

    const repairing = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0));
    const readFault = fileSystem.injectFault({ operation: 'read', error: 'EIO', path: path(descriptor) });
    const found = repairing.versionsSyncWhenCached(FIRST_KEY);
    expect(readFault.triggeredCount).toBe(1); // the synchronous read met the fault
    expect((await found).map(plain)).toEqual(expected);
    expect(repairing.repairCounters.transientReadErrors + repairing.repairCounters.repairedBlocks).toBe(1);
    await repairing.close();
  });
});

/** Counts, per file name, the reads each handle made through read() and through readSync(). */
function spyingFileSystem(inner: FileSystem): { fileSystem: FileSystem; reads: { async: number; sync: number }; reset(): void } {
  const reads = { async: 0, sync: 0 };
  const fileSystem = new Proxy(inner, {
    get(target, property, receiver) {
      if (property !== 'open') {
        const member = Reflect.get(target, property, receiver) as unknown;
        return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
      }
      return async (filePath: string, mode: Parameters<FileSystem['open']>[1]): Promise<FileHandle> => {
        const handle = await target.open(filePath, mode);
        if (!filePath.includes('/runs/')) return handle;
        return new Proxy(handle, {
          get(handleTarget, handleProperty) {
            const member = Reflect.get(handleTarget, handleProperty) as unknown;
            if (typeof member !== 'function') return member;
            const bound = (member as (...args: unknown[]) => unknown).bind(handleTarget);
            if (handleProperty === 'read') return (...args: unknown[]) => ((reads.async += 1), bound(...args));
            if (handleProperty === 'readSync') return (...args: unknown[]) => ((reads.sync += 1), bound(...args));
            return bound;
          },
        });
      };
    },
  });
  return { fileSystem, reads, reset: () => ((reads.async = 0), (reads.sync = 0)) };
}

describe('synchronous block reads through a store', () => {
  it('a get that misses the block cache reads its block with readSync through the store\'s file-system wrapper', async () => {
    const { FaultFileSystem } = await import('../src/fs/fault-file-system.js');
    const { openStore } = await import('../src/index.js');
    const spy = spyingFileSystem(new FaultFileSystem());
    const options = { fileSystem: spy.fileSystem, memoryBudgetBytes: 256 * 1024 };
    // 2,000 values of 1 KiB: several times what the block cache of this budget holds.
    const valueOf = (key: string) => `${key} `.repeat(170);
    const keys = Array.from({ length: 2000 }, (_, index) => `key-${String(index).padStart(5, '0')}`);
    const writing = await openStore('/store', options);
    for (let start = 0; start < keys.length; start += 200) {
      await writing.batch(keys.slice(start, start + 200).map((key) => ({ type: 'put' as const, key, value: valueOf(key) })));
    }
    await writing.close(); // checkpoints: every key is in a run
    const store = await openStore('/store', options);
    // The first pass opens every run (footer, index and filter: asynchronous reads).
    for (const key of keys) expect(await store.get(key)).toBe(valueOf(key));
    spy.reset();
    // The second, in reverse, meets blocks the small cache no longer holds.
    for (const key of [...keys].reverse()) expect(await store.get(key)).toBe(valueOf(key));
    expect(spy.reads.sync).toBeGreaterThan(0);
    expect(spy.reads.async).toBe(0);
    await store.close();
  });
});

describe('KillableFileSystem.readSync', () => {
  it('is present exactly when the inner handle has it, and fails once the file system is killed', async () => {
    const { FaultFileSystem } = await import('../src/fs/fault-file-system.js');
    const { KillableFileSystem, KILLED_CODE } = await import('../src/fs/killable-file-system.js');
    const inner = new FaultFileSystem();
    const file = await inner.open('/file', 'createExclusive');
    await file.write(Buffer.from('abcdef'), 0);
    const killable = new KillableFileSystem(inner);
    const handle = await killable.open('/file', 'read');
    const bytes = Buffer.alloc(3);
    expect(handle.readSync!(bytes, 0, 3, 2)).toBe(3);
    expect(bytes.toString()).toBe('cde');
    expect((await new KillableFileSystem(new NoReadSyncFileSystem(inner)).open('/file', 'read')).readSync).toBeUndefined();
    killable.kill();
    expect(() => handle.readSync!(bytes, 0, 3, 0)).toThrow(expect.objectContaining({ code: KILLED_CODE }));
  });
});

describe('block cache admission once full', () => {
  it('caches every block while there is room; once full, a block on its second miss, and uncached reads return exact, independent values', async () => {
    const entries = simpleEntries(600, 2, 200);
    const blockBytes = 4096;
    // Room for about three blocks.
    const { reader, cache } = await writeAndOpen(hash, entries, { cacheBytes: 3 * (blockBytes + 2048) });
    const keys = [...new Set(entries.map((entry) => entry.key))];
    const expected = (key: string) => entries.filter((entry) => entry.key === key).map(plain);
    const read = async (key: string) => (await reader.versionsSyncWhenCached(key)).map(plain);
    // Far apart keys: distinct blocks.
    const spread = [0, 100, 200, 300, 400, 500].map((index) => keys[index]!);
    const held: Array<{ key: string; found: Awaited<ReturnType<RunReader['versions']>> }> = [];
    for (const key of spread) {
      const found = await reader.versionsSyncWhenCached(key);
      held.push({ key, found });
      expect(found.map(plain)).toEqual(expected(key));
    }
    const blocksWhenFull = cache.blocks;
    expect(blocksWhenFull).toBeGreaterThan(0);
    expect(blocksWhenFull).toBeLessThan(spread.length); // the later blocks were read without being cached
    // Values read through the scratch buffer stay exact after later reads reused it.
    for (const { key, found } of held) expect(found.map(plain)).toEqual(expected(key));
    // A second miss of an uncached block admits it.
    const last = spread.at(-1)!;
    const hitsBefore = cache.hits;
    expect(await read(last)).toEqual(expected(last));
    expect(cache.hits).toBe(hitsBefore);
    expect(await read(last)).toEqual(expected(last));
    expect(cache.hits).toBe(hitsBefore + 1);
    await reader.close();
  });
});
