/**
 * A repair that drops every commit the WAL held after the manifest's position leaves a
 * memtable that holds only the repair's version marker: a version, no key. Its flush
 * (at close, at a checkpoint, or the open after) must record the version in the manifest
 * without writing a run, not fail: a run with no entry is not a run
 * (run-writer.ts asserts one entry at least).
 */
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';

const DIRECTORY = '/db';
const FIRST_SEGMENT = '/db/wal/wal-0000000001.log';

async function damagedStore(withRuns: boolean): Promise<{ fileSystem: FaultFileSystem; lastVersion: number; kept: Map<string, string> }> {
  const fileSystem = new FaultFileSystem(11);
  const kept = new Map<string, string>();
  if (withRuns) {
    const first = await openStore(DIRECTORY, { fileSystem });
    for (let index = 0; index < 50; index++) {
      await first.put(`run-${index}`, `v${index}`);
      kept.set(`run-${index}`, `v${index}`);
    }
    await first.close();
  }
  const store = await openStore(DIRECTORY, { fileSystem, checkpointOnClose: false, segmentSizeBytes: 64 * 1024 });
  let lastVersion = 0;
  for (let index = 0; index < 100; index++) lastVersion = (await store.put(`wal-${index}`, 'x'.repeat(200))).version;
  await store.close();
  return { fileSystem, lastVersion, kept };
}

async function firstLiveSegment(fileSystem: FaultFileSystem): Promise<string> {
  const names = (await fileSystem.readdir('/db/wal')).filter((name) => /^wal-\d+\.log$/.test(name)).sort();
  expect(names.length).toBeGreaterThan(0);
  return `/db/wal/${names[0]}`;
}

describe('a repair that keeps no commit of the WAL', () => {
  for (const withRuns of [false, true]) {
    it(`${withRuns ? 'over runs' : 'with no run'}: close, checkpoint and the next open work, and versions stay above the dropped ones`, async () => {
      const { fileSystem, lastVersion, kept } = await damagedStore(withRuns);
      const segment = withRuns ? await firstLiveSegment(fileSystem) : FIRST_SEGMENT;
      fileSystem.flipBit(segment, 8, 0);
      await expect(openStore(DIRECTORY, { fileSystem })).rejects.toBeInstanceOf(CorruptionError);

      const repaired = await openStore(DIRECTORY, { fileSystem, repair: true });
      expect(repaired.stats().recovery.repair?.droppedCommits).toBe(100);
      await repaired.checkpoint();
      await repaired.close();

      const reopened = await openStore(DIRECTORY, { fileSystem });
      for (const [key, value] of kept) expect(await reopened.get(key)).toBe(value);
      expect(await reopened.get('wal-0')).toBeUndefined();
      const next = (await reopened.put('after', 1)).version;
      expect(next).toBeGreaterThan(lastVersion);
      await reopened.close();

      const again = await openStore(DIRECTORY, { fileSystem });
      expect(await again.get('after')).toBe(1);
      await again.close();
    });
  }
});
