/**
 * Faults in the WAL writer's rotation paths (test/wal-rotation-workload.ts: rate-sized
 * cuts taking the prepared segment, a cut removing a larger prepared one, outrun and
 * outsized rotations, a checkpoint's, compact()'s release, close with a preparation in
 * flight). Each file-system call on the WAL directory, of each kind, fails once (EIO or
 * ENOSPC), at every position it takes in the workload:
 * - nothing acknowledged is lost and nothing invented at a power loss after it, and the
 *   log takes writes (new segment numbers) after recovery;
 * - ENOSPC is DiskFullError where the writer stays usable (a zero write, a creation in
 *   the foreground), and a background preparation's ENOSPC refuses no commit (it is
 *   retried at the rotation); EIO never becomes DiskFullError;
 * - an EIO on a sync or directory sync of a segment or of the directory is never lost:
 *   the workload fails (fail-stop, the commit path then fails the store), never goes on
 *   as if the sync had succeeded. Pool files are not segments: an error on one only drops
 *   it from the pool (segment-files.ts preparedPoolFile), so those are not counted.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { DiskFullError } from '../src/errors.js';
import { FaultFileSystem, type FaultOperation } from '../src/fs/fault-file-system.js';
import { isFileSystemError } from '../src/fs/file-system.js';
import { turnTaker } from './helpers.js';
import { checkRecovery, runWorkload } from './wal-rotation-workload.js';

const OPERATIONS: readonly FaultOperation[] = ['open', 'truncate', 'write', 'sync', 'datasync', 'syncDirectory', 'rename', 'unlink', 'readdir', 'read'];
const SEGMENT_OR_DIRECTORY = /^\/wal(\/wal-\d{10}\.log)?$/;

describe('one failed call at every point of the rotation workload', () => {
  for (const code of ['EIO', 'ENOSPC']) {
    it(`${code}: no acknowledged commit lost, the error typed and never lost`, async () => {
      const hash = await loadHash64();
      const failures: string[] = [];
      const takeTurn = turnTaker();
      let injected = 0;
      for (const operation of OPERATIONS) {
        for (let nth = 1; failures.length < 12; nth++) {
          const fileSystem = new FaultFileSystem(nth);
          let fault: ReturnType<FaultFileSystem['injectFault']> | undefined;
          const outcome = await runWorkload(fileSystem, hash, undefined, {
            arm: () => {
              fault = fileSystem.injectFault({ operation, error: code, path: /^\/wal/, nth });
            },
          });
          if (fault!.triggeredCount === 0) break;
          injected++;
          const at = `${operation} #${nth}`;
          const error = outcome.error;
          if (error instanceof DiskFullError && code !== 'ENOSPC') failures.push(`${at}: ${code} became DiskFullError`);
          if (error !== undefined && !(error instanceof DiskFullError) && !isFileSystemError(error, code) && !isFileSystemError(error, 'EEXIST')) {
            failures.push(`${at}: failed with ${String(error)}`);
          }
          for (const problem of await checkRecovery(fileSystem.crash('drop-unsynced'), hash, outcome)) failures.push(`${at}: ${problem}`);
          await takeTurn();
        }
      }
      expect(failures).toEqual([]);
      expect(injected).toBeGreaterThan(100);
    }, 600_000);
  }

  it('EIO on a sync, directory sync, write or truncate of a segment or the WAL directory: never lost, and final', async () => {
    const hash = await loadHash64();
    const failures: string[] = [];
    const takeTurn = turnTaker();
    let injected = 0;
    for (const operation of ['sync', 'datasync', 'syncDirectory', 'write', 'truncate'] as const) {
      for (let nth = 1; failures.length < 12; nth++) {
        const fileSystem = new FaultFileSystem(nth);
        let fault: ReturnType<FaultFileSystem['injectFault']> | undefined;
        const outcome = await runWorkload(fileSystem, hash, undefined, {
          arm: () => {
            fault = fileSystem.injectFault({ operation, error: 'EIO', path: SEGMENT_OR_DIRECTORY, nth });
          },
          releaseBeforeClose: true,
          probeAfterFailure: operation === 'sync' || operation === 'truncate' || operation === 'syncDirectory',
        });
        if (fault!.triggeredCount === 0) break;
        injected++;
        // Before: a preparation's failure was dropped when a cut, a checkpoint or compact() removed the segment unused.
        if (outcome.error === undefined && outcome.removalError === undefined) failures.push(`${operation} #${nth}: the EIO was lost, the workload went on`);
        // A segment's creation (truncate, sync, directory sync) failed the writer for good: never retried and trusted.
        // A record's own write or datasync failure is the commit path's to make final (it fails the store).
        const creationOnly = operation === 'sync' || operation === 'truncate' || (operation === 'syncDirectory' && outcome.error !== undefined);
        if (creationOnly && outcome.error !== undefined && outcome.writeAfterFailure !== 'refused') {
          failures.push(`${operation} #${nth}: a record was ${String(outcome.writeAfterFailure)} after ${String(outcome.error)}`);
        }
        await takeTurn();
      }
    }
    expect(failures).toEqual([]);
    expect(injected).toBeGreaterThan(50);
  }, 600_000);
});
