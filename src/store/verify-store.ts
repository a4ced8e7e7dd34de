/**
 * verifyStore: checks every checksum of a closed store without changing a byte.
 *
 * Takes the directory lock (so no writer is mid-append), then runs the recovery
 * code over a read-only view of the file system: each segment header and record is
 * checked exactly as an open would check it, and every value is decoded once. The report says what an open would do
 * (zero a torn tail, remove an unfinished segment) and names any corruption with its
 * file and offset. Later issues add the block and parity checks here.
 */
import { resolve as resolvePath } from 'node:path';
import { CorruptionError } from '../errors.js';
import { loadHash64 } from '../codec/checksum.js';
import { storedFromEncoded } from '../codec/values.js';
import { OPERATION_PUT } from '../wal/wal-format.js';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import { readOnlyView } from '../fs/read-only-view.js';
import { listSegments } from '../wal/segment-files.js';
import { recoverWal, type TornTail } from '../wal/wal-recovery.js';
import { DirectoryLock } from './directory-lock.js';
import { WAL_DIRECTORY } from './open-store.js';

export interface VerifyReport {
  directory: string;
  ok: boolean;
  segments: number;
  records: number;
  commits: number;
  operations: number;
  lastVersion: number;
  /** A torn tail an open would zero (normal after a crash, not corruption). */
  tornTail: TornTail | undefined;
  /** Unfinished segments an open would remove (normal after a crash). */
  unfinishedSegments: string[];
  corruption: { file: string; offset: number; reason: string } | undefined;
}

export interface VerifyOptions {
  fileSystem?: FileSystem;
  /** Called with (segments read so far, total segments). */
  onProgress?: (done: number, total: number) => void;
}

export async function verifyStore(directory: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const absolute = resolvePath(directory);
  const fileSystem = options.fileSystem ?? new NodeFileSystem();
  const walDir = joinPath(absolute, WAL_DIRECTORY);
  const lock = await DirectoryLock.acquire(fileSystem, absolute);
  try {
    const total = (await listSegments(fileSystem, walDir)).length;
    let done = 0;
    const view = readOnlyView(fileSystem, () => options.onProgress?.(++done, total));
    const report: VerifyReport = {
      directory: absolute, ok: true, segments: total, records: 0, commits: 0, operations: 0, lastVersion: 0,
      tornTail: undefined, unfinishedSegments: [], corruption: undefined,
    };
    try {
      const result = await recoverWal(view, walDir, await loadHash64(), false, (commits) => {
        for (const commit of commits) {
          for (const operation of commit.operations) {
            if (operation.type === OPERATION_PUT) storedFromEncoded(operation.value);
            report.operations++;
          }
        }
      });
      await result.resume?.handle.close();
      Object.assign(report, {
        records: result.records, commits: result.commits, lastVersion: result.lastVersion,
        tornTail: result.tornTail, unfinishedSegments: result.removedSegments,
      });
    } catch (error) {
      if (!(error instanceof CorruptionError)) throw error;
      report.ok = false;
      report.corruption = { file: error.file, offset: error.offset, reason: error.message };
    }
    return report;
  } finally {
    await lock.release();
  }
}
