/**
 * Review of 82c5ef0 (src/wal/segment-evidence.ts): a kill, then a power loss while the
 * store reopens. A SIGKILL (keep-all) during a segment's creation leaves the partial file
 * in the page cache, under a name no directory fsync made durable; the reopen removes it as
 * an unfinished creation (the last segment), resumes, and writes on through rotations that
 * create the same segment numbers again. A power loss at every call of that reopen and of
 * the 8 puts after it, in three modes (only durable state, the last write torn, a random
 * subset of sectors and entries), must leave a store that opens without CorruptionError
 * with every put acknowledged before the kill and after the reopen.
 *
 * The kill points are the first 6 (of the 60-put workload's calls) after which a reopen
 * removes an unfinished creation.
 */
import { expect, it } from 'vitest';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { StoreOptions } from '../src/store/options.js';
import { abandonStore, type Store } from '../src/store/store.js';
import { openOn, settle } from './workload.js';

const OPTIONS: StoreOptions = { segmentSizeBytes: 32 * 1024, maxValueBytes: 4096, memoryBudgetBytes: 256 * 1024, checkpointOnClose: false };
const MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset'];
const KILL_POINTS = 6;

/** Opens, puts (values 0.5-3 KiB), closes; stops at the crash. Records each acknowledged put's version. */
async function putAll(fileSystem: FaultFileSystem, prefix: string, count: number, acknowledged: Map<string, number>): Promise<void> {
  let store: Store | undefined;
  try {
    store = await openOn(fileSystem, OPTIONS);
    for (let index = 0; index < count; index++) {
      const key = `${prefix}${index}`;
      const { version } = await store.put(key, 'v'.repeat(500 + ((index * 379) % 2600)));
      acknowledged.set(key, version);
      if (index % 7 === 3) await settle();
    }
    await store.close();
  } catch {
    store?.[abandonStore](); // a dead process
  }
  await settle();
}

/** The page cache a kill after `killAfter` calls of the 60-put workload leaves (rebuilt each time: a crash consumes its instance). */
async function killedImage(killAfter: number, acknowledged: Map<string, number>): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(killAfter);
  fileSystem.crashAfterOperations(killAfter);
  await putAll(fileSystem, 'k', 60, acknowledged);
  return fileSystem.crash('keep-all');
}

it('a kill leaving an unfinished creation, then a power loss at every call of the reopen and the writes after it', async () => {
  const failures: string[] = [];
  let killPoints = 0;
  let powerLosses = 0;
  for (let killAfter = 0; killAfter < 1000 && killPoints < KILL_POINTS; killAfter++) {
    const killed = new Map<string, number>();
    const probe = await killedImage(killAfter, killed);
    const reopened = await openOn(probe, OPTIONS);
    const removed = reopened.stats().recovery.removedSegments.length;
    await reopened.close();
    if (removed === 0) continue;
    killPoints++;
    // The reopen and 8 puts of 3 KiB (rotations) without a power loss: how many calls to cut at.
    const counter = await killedImage(killAfter, new Map());
    await putAll(counter, 'm', 8, new Map());
    const calls = counter.operationCount; // a rebooted instance counts from 0
    for (const mode of MODES) {
      for (let powerAfter = 0; powerAfter <= calls; powerAfter++) {
        const acknowledged = new Map<string, number>();
        const image = await killedImage(killAfter, acknowledged);
        image.crashAfterOperations(powerAfter);
        await putAll(image, 'm', 8, acknowledged);
        const rebooted = image.crash(mode);
        powerLosses++;
        try {
          const store = await openOn(rebooted, OPTIONS);
          for (const [key, version] of acknowledged) {
            if (!(await store.history(key)).some((entry) => entry.version === version)) failures.push(`kill ${killAfter}, ${mode} after ${powerAfter}: ${key}@${version} lost`);
          }
          await store.close();
        } catch (error) {
          failures.push(`kill ${killAfter}, ${mode} after ${powerAfter}: ${String(error)}`);
        }
        if (failures.length > 10) break;
      }
    }
  }
  console.log(`${killPoints} kill points, ${powerLosses} power losses`);
  expect(killPoints).toBe(KILL_POINTS);
  expect(powerLosses).toBeGreaterThan(KILL_POINTS * MODES.length * 40);
  expect(failures).toEqual([]);
}, 1_200_000);
