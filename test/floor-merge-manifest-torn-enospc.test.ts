/**
 * A crash right after a manifest append that ENOSPC withdrew. On a real disk a write
 * that runs out of space may have written a prefix of the record before failing: copy a
 * then holds a torn tail past the manifest's end (the edit is withdrawn, DiskFullError;
 * the next append starts at the same offset, over those bytes, and may be shorter). The
 * fault file system writes nothing on a failed write, so a wrapper writes a prefix of the
 * record to copy a, then fails with ENOSPC. After a crash in every mode (unsynced data
 * lost, a random subset kept, the last write torn, everything kept), right after the
 * withdrawn edit or after the next edits, the store must open and read exactly what was
 * acknowledged, then take writes and open again.
 */
import { describe, expect, it } from 'vitest';
import { DiskFullError } from '../src/errors.js';
import { fileSystemError, type FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem, type CrashMode } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

// A copy's handle keeps the temporary name it was created under (renamed after): both match.
const COPY_A = /\/db\/manifest\/MANIFEST-\d+\.a(\.tmp)?$/;
const MODES: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

/** While armed, the next write to copy a writes the first `keep(length)` bytes of its record, then fails with ENOSPC. */
class TearingFileSystem extends ForwardingFileSystem<FaultFileSystem> {
  armed: ((length: number) => number) | undefined;
  tornBytes = -1;

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    if (!COPY_A.test(path)) return handle;
    return replaceMethods(handle, {
      write: async (data, position) => {
        const keep = this.armed;
        if (keep === undefined) return handle.write(data, position);
        this.armed = undefined;
        this.tornBytes = Math.min(data.length - 1, Math.max(1, keep(data.length)));
        await handle.write(data.subarray(0, this.tornBytes), position);
        throw fileSystemError('ENOSPC', 'write', path);
      },
    });
  }
}

type Workload = 'flush, crash' | 'flush, next edits, crash' | 'compaction, crash';

async function run(workload: Workload, mode: CrashMode, keep: (length: number) => number, seed: number): Promise<void> {
  const fileSystem = new TearingFileSystem(new FaultFileSystem(seed));
  const acknowledged = new Map<string, string | undefined>();
  const store = await openStore('/db', { fileSystem, maxVersionsPerKey: 2 });
  const put = async (key: string, value: string): Promise<void> => {
    await store.put(key, value);
    acknowledged.set(key, value);
  };
  for (let index = 0; index < 30; index++) await put(`k${String(index).padStart(2, '0')}`, `first-${index}`);
  await store.checkpoint();
  for (let index = 0; index < 30; index += 2) await put(`k${String(index).padStart(2, '0')}`, `second-${index}`);
  await store.delete('k05');
  acknowledged.set('k05', undefined);
  if (workload === 'compaction, crash') {
    await store.checkpoint();
    fileSystem.armed = keep;
    await expect(store.compact()).rejects.toBeInstanceOf(DiskFullError);
  } else {
    fileSystem.armed = keep;
    await expect(store.checkpoint()).rejects.toBeInstanceOf(DiskFullError);
  }
  expect(fileSystem.tornBytes, 'a prefix of the record was written').toBeGreaterThan(0);
  if (workload === 'flush, next edits, crash') {
    await store.checkpoint(); // the flush again: its edit over the torn bytes
    await put('k99', 'after');
    await store.checkpoint(); // one more (a shorter edit, past the first)
    await store.compact();
  }
  store[abandonStore]();
  const crashed = fileSystem.inner.crash(mode);
  if (mode === 'keep-all' && workload !== 'flush, next edits, crash') {
    // A process kill keeps the torn bytes: copy a is longer than copy b by them.
    const names = (await crashed.readdir('/db/manifest')).filter((name) => /^MANIFEST-\d+\.[ab]$/.test(name)).sort();
    const [a, b] = await Promise.all(names.map((name) => crashed.readFile(`/db/manifest/${name}`)));
    expect(names).toHaveLength(2);
    expect(a!.length - b!.length, 'the torn tail in copy a').toBe(fileSystem.tornBytes);
  }
  let reopened: Store = await openStore('/db', { fileSystem: crashed, maxVersionsPerKey: 2 });
  try {
    for (const [key, value] of acknowledged) expect(await reopened.get(key), `${key} after the crash`).toBe(value);
    await reopened.put('k98', 'reopened');
    await reopened.checkpoint();
    await reopened.close();
    reopened = await openStore('/db', { fileSystem: crashed, maxVersionsPerKey: 2 });
    for (const [key, value] of acknowledged) expect(await reopened.get(key), `${key} after a second open`).toBe(value);
    expect(await reopened.get('k98')).toBe('reopened');
  } finally {
    await reopened.close();
  }
}

describe('floor-merge: a crash right after a manifest append that ENOSPC withdrew, a torn record left in copy a', () => {
  const tears: Array<[string, (length: number) => number]> = [
    ['one byte', () => 1],
    ['half', (length) => Math.floor(length / 2)],
    ['all but one byte', (length) => length - 1],
  ];
  const workloads: Workload[] = ['flush, crash', 'flush, next edits, crash', 'compaction, crash'];
  let seed = 320;
  for (const workload of workloads) {
    for (const [tearName, keep] of tears) {
      const caseSeed = seed++;
      it(`${workload}; torn: ${tearName}; every crash mode: opens, reads exactly what was acknowledged`, async () => {
        for (const mode of MODES) await run(workload, mode, keep, caseSeed);
      });
    }
  }
});
