/**
 * Review of 3149ee1 and f8710e9 (synchronous block reads: FileHandle.readSync,
 * StripedRunFile.readBlockNow, KillableFileSystem): every fault the promise path
 * handles must give the same outcome through readSync. Each scenario is built twice
 * from scratch and read once through a file system with readSync and once through the
 * same file system with readSync hidden (the promise path, as before 3149ee1); the
 * outcomes are compared: the same entries (exact), or the same error (class, code,
 * file, offset), the same repair counters and the same file bytes afterwards (a
 * repair writes back). Read with a cache that has room (the block is cached) and with
 * a full one (the first miss goes through the read scratch, 1ea5db4).
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { FileSystem } from '../src/fs/file-system.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { KillableFileSystem } from '../src/fs/killable-file-system.js';
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


interface Scenario {
  name: string;
  /** Damages the written run (or arms a fault) before the read; may wrap the file system the reader uses. */
  damage(fileSystem: FaultFileSystem, file: string): Promise<{ wrap?: (inner: FileSystem) => FileSystem; afterOpen?: () => void | Promise<void> } | void>;
}

/** Overwrites `bytes.length` bytes at `offset` of `file` (current content, as a torn or stray write leaves it). */
async function overwrite(fileSystem: FaultFileSystem, file: string, offset: number, bytes: Uint8Array): Promise<void> {
  const handle = await fileSystem.open(file, 'readWrite');
  await handle.write(bytes, offset);
  await handle.close();
}

const scenarios: Scenario[] = [
  { name: 'no fault', damage: async () => undefined },
  { name: 'EIO on the first read', damage: async (fileSystem, file) => ({ afterOpen: () => void fileSystem.injectFault({ operation: 'read', error: 'EIO', path: file }) }) },
  { name: 'EIO on the second read (inside the repair)', damage: async (fileSystem, file) => ({ afterOpen: () => void fileSystem.injectFault({ operation: 'read', error: 'EIO', path: file, nth: 2 }) }) },
  { name: 'EIO on every read', damage: async (fileSystem, file) => ({ afterOpen: () => void fileSystem.injectFault({ operation: 'read', error: 'EIO', path: file, persistent: true }) }) },
  { name: 'ENOMEM on the first read (not repairable)', damage: async (fileSystem, file) => ({ afterOpen: () => void fileSystem.injectFault({ operation: 'read', error: 'ENOMEM', path: file }) }) },
  { name: 'one flipped bit in block 0', damage: async (fileSystem, file) => fileSystem.flipBit(file, 200, 3) },
  { name: 'flipped bits in two pages of stripe 0', damage: async (fileSystem, file) => (fileSystem.flipBit(file, 200, 3), fileSystem.flipBit(file, 4096 + 200, 5)) },
  { name: 'block 0 torn (its second half zeros)', damage: async (fileSystem, file) => overwrite(fileSystem, file, 2048, new Uint8Array(2048)) },
  { name: 'block 0 all zeros', damage: async (fileSystem, file) => overwrite(fileSystem, file, 0, new Uint8Array(4096)) },
  {
    name: 'file truncated after open (short read)',
    damage: async (fileSystem, file) => ({
      afterOpen: async () => {
        const handle = await fileSystem.open(file, 'readWrite');
        await handle.truncate(100);
        await handle.close();
      },
    }),
  },
  {
    name: 'read after the store was killed',
    damage: async () => {
      let killable: KillableFileSystem | undefined;
      return {
        wrap: (inner) => (killable = new KillableFileSystem(inner)),
        afterOpen: () => killable!.kill(),
      };
    },
  },
];

const FIRST_KEY = 'key-000000';

type Outcome = { entries: unknown } | { error: { name: string; code: unknown; file: unknown; offset: unknown } };

async function outcomeOf(read: () => unknown): Promise<Outcome> {
  try {
    const found = (await read()) as Awaited<ReturnType<RunReader['versions']>>;
    return { entries: found.map(plain) };
  } catch (error) {
    const typed = error as { name: string; code?: unknown; file?: unknown; offset?: unknown };
    return { error: { name: typed.name, code: typed.code, file: typed.file, offset: typed.offset } };
  }
}

/** Builds the scenario from scratch and reads FIRST_KEY twice through a reader with or without readSync. */
async function run(scenario: Scenario, synchronous: boolean, cacheBytes: number) {
  const entries = simpleEntries(200, 1, 50);
  const written = await writeAndOpen(hash, entries);
  await written.reader.close();
  const file = path(written.descriptor);
  const setup = (await scenario.damage(written.fileSystem, file)) ?? {};
  let fileSystem: FileSystem = written.fileSystem;
  if (setup.wrap !== undefined) fileSystem = setup.wrap(fileSystem);
  if (!synchronous) fileSystem = new NoReadSyncFileSystem(fileSystem);
  let reader: RunReader | undefined;
  const opened = await outcomeOf(async () => {
    reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, written.descriptor, hash, new BlockCache(cacheBytes));
    return [];
  });
  if (reader === undefined) return { opened, first: undefined, second: undefined, counters: undefined, bytes: undefined };
  await setup.afterOpen?.();
  const first = await outcomeOf(() => reader!.versionsSyncWhenCached(FIRST_KEY));
  const second = await outcomeOf(() => reader!.versionsSyncWhenCached(FIRST_KEY));
  const counters = { ...reader.repairCounters };
  await reader.close().catch(() => undefined);
  written.fileSystem.clearFaults();
  const bytes = Buffer.from(await written.fileSystem.readFile(file)).toString('hex');
  return { opened, first, second, counters, bytes, expected: entries.filter((entry) => entry.key === FIRST_KEY).map(plain) };
}

describe('readSync gives the promise path\'s outcome under every read fault', () => {
  for (const scenario of scenarios) {
    for (const cacheBytes of [1024 * 1024, 0]) {
      it(`${scenario.name} (cache ${cacheBytes === 0 ? 'full: scratch read' : 'with room'})`, async () => {
        const viaPromise = await run(scenario, false, cacheBytes);
        const viaSync = await run(scenario, true, cacheBytes);
        expect(viaSync).toEqual(viaPromise);
        if (process.env.REVIEW_IO_PRINT) console.log(scenario.name, cacheBytes, JSON.stringify([viaSync.opened, viaSync.first, viaSync.second, viaSync.counters]).slice(0, 400));
        // Never wrong data: an answer is the exact entries.
        for (const outcome of [viaSync.first, viaSync.second]) {
          if (outcome !== undefined && 'entries' in outcome) expect(outcome.entries).toEqual(viaSync.expected);
          if (outcome !== undefined && 'error' in outcome && /Corruption/.test(outcome.error.name)) {
            expect(outcome.error.file).toMatch(/^\/store\/runs\/.*\.run$/);
            expect(typeof outcome.error.offset).toBe('number');
          }
        }
      });
    }
  }
});
