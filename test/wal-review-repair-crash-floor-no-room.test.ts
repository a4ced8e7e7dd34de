/**
 * A crash during a WAL repair whose version marker has no room where the kept log ends
 * (wal-review-repair-crash-floor covers the log with nothing kept).
 *
 * The log, written at the WAL level: segment 1 (16 KiB) filled to its last byte by 408
 * version-marker records (40 bytes each, versions 1-408), segments 2 and 3 with 100
 * each (409-608), and a bit of segment 2's header flipped. Repair keeps segment 1 and
 * drops 2 and 3; its marker (version 608) cannot follow segment 1's records, so it
 * opens segment 2 anew. Recovery is cut after each of its file-system operations, then
 * the machine crashes in each mode: a plain recovery must refuse (CorruptionError) or
 * end at 608 or above, and a repairing one must end at 608 or above, so numbering
 * resumes above every dropped version.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { createSegment } from '../src/wal/segment-files.js';
import { COMMIT_HEADER_BYTES, encodeRecord, recordTagOf, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { VERSION_MARKER_BYTES } from '../src/wal/wal-repair.js';

const WAL = '/wal';
const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
const SEGMENT_BYTES = 16 * 1024;
const LAYOUT: ReadonlyArray<readonly [number, number]> = [[1, (SEGMENT_BYTES - SEGMENT_HEADER_BYTES) / VERSION_MARKER_BYTES], [2, 100], [3, 100]];
const LAST_VERSION = LAYOUT.reduce((sum, [, records]) => sum + records, 0);

function isCrash(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if ((cause as { code?: unknown }).code === 'ESIMULATEDCRASH') return true;
  }
  return false;
}

async function damagedLog(seed: number): Promise<FaultFileSystem> {
  const hash = await loadHash64();
  const fileSystem = new FaultFileSystem(seed);
  await fileSystem.mkdir(WAL);
  await fileSystem.syncDirectory('/');
  let version = 0;
  for (const [segmentNumber, records] of LAYOUT) {
    const segment = await createSegment(fileSystem, WAL, segmentNumber, SEGMENT_BYTES, hash);
    const bytes = Buffer.alloc(records * VERSION_MARKER_BYTES);
    for (let index = 0; index < records; index++) {
      encodeRecord([{ version: ++version, operations: [], sizeBytes: COMMIT_HEADER_BYTES }], bytes, index * VERSION_MARKER_BYTES, hash, recordTagOf(2, segmentNumber));
    }
    await segment.handle.write(bytes, SEGMENT_HEADER_BYTES);
    await segment.handle.sync();
    await segment.handle.close();
  }
  // The segment number in segment 2's header.
  fileSystem.flipBit(`${WAL}/wal-0000000002.log`, 20, 0);
  return fileSystem;
}

describe('a crash during a repair whose marker needs a new segment after the kept ones', () => {
  it('uncut, repair keeps segment 1 and numbers above every dropped version', async () => {
    const hash = await loadHash64();
    const fileSystem = await damagedLog(1);
    const result = await recoverWal(fileSystem, WAL, hash, true, () => undefined);
    await result.resume?.handle.close();
    expect(result.repair).toMatchObject({ droppedVersions: { first: LAYOUT[0]![1] + 1, last: LAST_VERSION } });
    expect(result.lastVersion).toBe(LAST_VERSION);
    expect(result.resume).toMatchObject({ segmentNumber: 2, offset: SEGMENT_HEADER_BYTES + VERSION_MARKER_BYTES });
  });

  for (const [modeIndex, mode] of MODES.entries()) {
    it(`${mode}: after a crash at any point of it, recovery refuses or ends above every dropped version`, async () => {
      const hash = await loadHash64();
      const problems: string[] = [];
      let crashes = 0;
      for (let operations = 0; ; operations++) {
        const fileSystem = await damagedLog(operations * 4 + modeIndex + 1);
        fileSystem.crashAfterOperations(operations);
        try {
          const result = await recoverWal(fileSystem, WAL, hash, true, () => undefined);
          await result.resume?.handle.close();
          break;
        } catch (error) {
          if (!isCrash(error)) throw error;
        }
        crashes++;
        const rebooted = fileSystem.crash(mode);
        try {
          const plain = await recoverWal(rebooted, WAL, hash, false, () => undefined);
          await plain.resume?.handle.close();
          if (plain.lastVersion < LAST_VERSION) problems.push(`cut after ${operations}: a plain recovery ended at ${plain.lastVersion}`);
        } catch (error) {
          if (!(error instanceof CorruptionError)) throw error;
        }
        const repaired = await recoverWal(rebooted, WAL, hash, true, () => undefined);
        await repaired.resume?.handle.close();
        if (repaired.lastVersion < LAST_VERSION) problems.push(`cut after ${operations}: a repair ended at ${repaired.lastVersion}`);
      }
      expect(crashes).toBeGreaterThan(20);
      expect(problems).toEqual([]);
    });
  }
});
