/**
 * What an open does with a crashed WAL directory, for the WAL-level crash sweeps: the
 * segments below the manifest's WAL start are removed (a removal a crash cut short), then
 * the log is recovered from that start; the versions it yields, in order, and its result.
 */
import type { FileSystem } from '../../src/fs/file-system.js';
import { removeSegmentsBelow } from '../../src/wal/segment-files.js';
import type { Hash64 } from '../../src/wal/wal-format.js';
import { recoverWal } from '../../src/wal/wal-recovery.js';

export async function recoveredVersions(fileSystem: FileSystem, walDirectory: string, hash: Hash64, walStart: number) {
  const versions: number[] = [];
  await removeSegmentsBelow(fileSystem, walDirectory, walStart);
  const result = await recoverWal(fileSystem, walDirectory, hash, false, (commits) => {
    for (const commit of commits) versions.push(commit.version);
  }, { expectedFirstSegment: walStart });
  return { versions, result };
}
