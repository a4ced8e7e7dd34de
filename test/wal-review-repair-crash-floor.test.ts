/**
 * A power loss or kill in the middle of a WAL repair never lets a later open hand out
 * the versions of the commits the repair was dropping.
 *
 * The store: 200 acknowledged puts over three WAL segments (64 KiB), no checkpoint, so
 * every commit lives only in the WAL. A bit of the first segment's header is flipped,
 * so repair drops the whole log. With nothing kept before the damage, the version
 * marker that keeps numbering above the dropped versions needs a segment of its own
 * (docs/FORMAT.md, "How recovery reads a segment"). The repairing open is cut after
 * each of its file-system operations, then the machine crashes in each mode. What
 * the crash leaves must be refused by a plain open (CorruptionError) or read as a
 * log that still knows the dropped versions; a repairing open after it must commit
 * above every version that was acknowledged.
 */
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore, type Store } from '../src/store/store.js';

const DIRECTORY = '/db';
const WAL = '/db/wal';
const OPTIONS = { segmentSizeBytes: 64 * 1024, checkpointOnClose: false } as const;
const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
const PUTS = 200;

/** A copy of `source`'s durable files on a fresh file system. */
async function copyDurable(source: FaultFileSystem, seed: number): Promise<FaultFileSystem> {
  const target = new FaultFileSystem(seed);
  const directories = new Set<string>();
  for (const path of source.listPaths()) {
    const content = source.durableContent(path);
    if (content === undefined) continue;
    let directory = '';
    for (const part of path.split('/').slice(1, -1)) {
      directory += `/${part}`;
      if (!directories.has(directory)) {
        await target.mkdir(directory);
        directories.add(directory);
      }
    }
    const handle = await target.open(path, 'createExclusive');
    await handle.write(content, 0);
    await handle.sync();
    await handle.close();
  }
  for (const directory of ['/', ...directories]) await target.syncDirectory(directory);
  return target;
}

function isCrash(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if ((cause as { code?: unknown }).code === 'ESIMULATEDCRASH') return true;
  }
  return false;
}

async function damagedStore(): Promise<{ fileSystem: FaultFileSystem; lastVersion: number }> {
  const fileSystem = new FaultFileSystem(7);
  const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
  let lastVersion = 0;
  for (let index = 0; index < PUTS; index++) lastVersion = (await store.put(`k${index}`, { index, pad: 'y'.repeat(600) })).version;
  await store.close();
  const segments = fileSystem.listPaths().filter((path) => path.startsWith(`${WAL}/wal-`));
  expect(segments.length).toBe(3);
  // The segment number in the first segment's header.
  fileSystem.flipBit(segments[0]!, 20, 1);
  return { fileSystem, lastVersion };
}

describe('a crash during a repair that drops the whole log', () => {
  it('an uninterrupted repair drops every commit, reports their versions and numbers above them', async () => {
    const { fileSystem, lastVersion } = await damagedStore();
    const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS, repair: true });
    expect(store.stats().recovery.repair).toMatchObject({ droppedVersions: { first: 1, last: lastVersion } });
    expect((await store.put('next', 1)).version).toBe(lastVersion + 1);
    await store.close();
  });

  for (const [modeIndex, mode] of MODES.entries()) {
    it(`${mode}: after a crash at any point of it, no open numbers a commit at or below a dropped version`, async () => {
      const { fileSystem: damaged, lastVersion } = await damagedStore();
      const problems: string[] = [];
      let completed = false;
      let crashes = 0;
      for (let operations = 0; !completed; operations++) {
        const fileSystem = await copyDurable(damaged, 100 + operations * 4 + modeIndex);
        fileSystem.crashAfterOperations(operations);
        try {
          const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS, repair: true });
          store[abandonStore]();
          completed = true;
          continue;
        } catch (error) {
          if (!isCrash(error)) throw error;
        }
        crashes++;
        const rebooted = fileSystem.crash(mode);
        const plain = await openStore(DIRECTORY, { fileSystem: rebooted, ...OPTIONS }).then(
          (store: Store) => {
            const version = store.version;
            store[abandonStore]();
            return version;
          },
          (error: unknown) => {
            if (!(error instanceof CorruptionError)) throw error;
            return undefined;
          },
        );
        if (plain !== undefined && plain < lastVersion) problems.push(`cut after ${operations}: a plain open read the log at version ${plain}`);
        const repaired = await openStore(DIRECTORY, { fileSystem: rebooted, ...OPTIONS, repair: true });
        const { version } = await repaired.put('next', 1);
        if (version <= lastVersion) problems.push(`cut after ${operations}: the next commit took version ${version}`);
        repaired[abandonStore]();
      }
      expect(crashes).toBeGreaterThan(40);
      expect(problems).toEqual([]);
    });
  }
});
