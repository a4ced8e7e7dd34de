/**
 * A snapshot taken before a compaction keeps the runs it replaced readable: their files
 * are unlinked, but their open descriptors keep the disk space until the snapshot is
 * released. stats() reports it: storage.compaction.replacedRunsHeld counts those runs and
 * replacedRunBytesHeld their bytes, while bytesOnDisk and lifetime.runBytes stay the live
 * run files (what runs/ lists). A released snapshot's read view lets go of its runs when
 * it is garbage-collected (read-view.ts): until then the space stays held, and counted.
 * Measured against the directory and against the process's own descriptors of deleted
 * files (/proc/self/fd, Linux).
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

function runFileBytes(directory: string): number {
  const runs = join(directory, 'runs');
  return readdirSync(runs).filter((name) => name.endsWith('.run')).reduce((total, name) => total + statSync(join(runs, name)).size, 0);
}

/** Bytes of this directory's run files that are deleted but still open in this process. */
function deletedOpenRunBytes(directory: string): number {
  let total = 0;
  const seen = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (!target.startsWith(join(directory, 'runs')) || !target.endsWith(' (deleted)') || seen.has(target)) continue;
    seen.add(target);
    total += statSync(`/proc/self/fd/${fd}`).size;
  }
  return total;
}

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe.runIf(process.platform === 'linux')('stats() and the runs a snapshot keeps after a compaction replaced them', () => {
  it('replacedRunBytesHeld is the space the unlinked files still take; bytesOnDisk the live run files', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    try {
      for (let round = 0; round < 3; round++) {
        await store.batch(Array.from({ length: 200 }, (_, index) => ({ type: 'put' as const, key: `key/${index}`, value: `${round}:${'v'.repeat(100)}` })));
        await store.checkpoint();
      }
      const before = store.stats().storage;
      const replacedBytes = runFileBytes(directory);
      expect(before.runBytes).toBe(replacedBytes);
      expect(before.compaction.replacedRunBytesHeld).toBe(0);

      let snapshot: Awaited<ReturnType<typeof store.snapshot>> | undefined = await store.snapshot();
      expect(await snapshot.get('key/7')).toBe(`2:${'v'.repeat(100)}`);
      const result = await store.compact();
      expect(result.outcome).toBe('compacted');

      const held = store.stats().storage;
      expect(held.compaction.bytesOnDisk).toBe(runFileBytes(directory));
      expect(held.runBytes).toBe(runFileBytes(directory));
      expect(held.compaction.replacedRunsHeld).toBe(result.runsIn);
      expect(deletedOpenRunBytes(directory)).toBe(replacedBytes);
      expect(held.compaction.replacedRunBytesHeld).toBe(deletedOpenRunBytes(directory));
      expect(await snapshot.get('key/7')).toBe(`2:${'v'.repeat(100)}`);

      await snapshot.release();
      snapshot = undefined;
      for (let wait = 0; wait < 50 && store.stats().storage.compaction.replacedRunsHeld > 0; wait++) {
        collectGarbage();
        await turns(2);
      }
      const released = store.stats().storage;
      expect(released.compaction.replacedRunsHeld).toBe(0);
      expect(released.compaction.replacedRunBytesHeld).toBe(0);
      expect(deletedOpenRunBytes(directory)).toBe(0);
    } finally {
      await store.close();
    }
  });
});
