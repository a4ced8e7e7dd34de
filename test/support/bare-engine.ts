/**
 * A StorageEngine on its own, without a store handle or a commit pipeline, over a new
 * store directory `/store` (WAL in `/store/wal`) of `fileSystem`: the tests that drive
 * memtables, flushes and installs themselves apply versions to it directly. A 64 MiB
 * budget, every version retained, no checkpoint by WAL size.
 */
import { loadHash64 } from '../../src/codec/checksum.js';
import { openStorage } from '../../src/engine/open-engine.js';
import { StorageEngine } from '../../src/engine/storage-engine.js';
import type { FileSystem } from '../../src/fs/file-system.js';

export const BARE_STORE = '/store';
export const BARE_WAL = '/store/wal';

export async function openBareEngine(fileSystem: FileSystem): Promise<StorageEngine> {
  await fileSystem.mkdir(BARE_STORE);
  await fileSystem.mkdir(BARE_WAL);
  await fileSystem.syncDirectory('/');
  await fileSystem.syncDirectory(BARE_STORE);
  const hash = await loadHash64();
  const storage = await openStorage(fileSystem, BARE_STORE, BARE_WAL, hash);
  return new StorageEngine({
    fileSystem, runsDirectory: storage.runsDirectory, walDirectory: BARE_WAL, hash, manifest: storage.manifest,
    memoryBudgetBytes: 64 * 1024 * 1024, maxVersionsPerKey: Number.MAX_SAFE_INTEGER,
    walCheckpointBytes: Number.MAX_SAFE_INTEGER, currentWalSegment: () => 1, walBytesWritten: () => 0,
  });
}
