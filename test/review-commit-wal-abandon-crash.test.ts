/**
 * Review of 585cfbb (a seal's cut, or a checkpoint's rotation, abandons the large next
 * segment still zero-filling) and 32883ca (the zero fill through writeOffThread):
 * a crash sweep at the WAL writer's level over every file-system operation of a
 * workload that abandons preparations mid-fill (two cuts and a checkpoint rotation),
 * in every crash mode. After each crash: recovery opens without error, replays every
 * acknowledged commit and nothing that was never written, leaves no partial segment
 * behind, and the writer resumed from it takes a record that a second recovery reads.
 * Also: the abandoned preparation's number is taken by the small segment only after
 * the partial file is gone (never two files, never an unlink of the live segment).
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { WAL_ZERO_FILL_STEP_BYTES } from '../src/limits.js';
import type { FileHandle, FileSystem } from '../src/fs/file-system.js';
import { createSegment, listSegments, segmentFileName } from '../src/wal/segment-files.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type Hash64, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const KIBIBYTE = 1024;
const WAL_DIR = '/wal';
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill(version & 0xff) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

/** segment-files.ts's zero-fill chunk (zeroFillRange): writes of this size to a segment are zero-fill chunks. */
const ZERO_FILL_CHUNK_BYTES = WAL_ZERO_FILL_STEP_BYTES;

/** Counts zero-fill chunks written per file name (the first preparation of each name only). */
class ChunkCountingFileSystem extends ForwardingFileSystem {
  readonly chunks = new Map<string, number>();

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    const name = path.slice(path.lastIndexOf('/') + 1);
    const first = !this.chunks.has(name);
    if (first) this.chunks.set(name, 0);
    const count = (data: Uint8Array): void => {
      if (first && data.length === ZERO_FILL_CHUNK_BYTES) this.chunks.set(name, this.chunks.get(name)! + 1);
    };
    return replaceMethods(handle, {
      write: (data, position) => {
        count(data);
        return handle.write(data, position);
      },
    });
  }
}

interface Outcome {
  acknowledged: number[];
  attempted: number[];
  abandonedWhileFilling: number;
}

/**
 * Segment 1 (1 MiB) is created before the crash point counts. Then: a record past its
 * half (segment 2, 2 MiB = 8 zero-fill chunks, starts preparing), one more record, a
 * cut (abandons it mid-fill), records into the small segment 2 up to past its half
 * (segment 3 prepares), a cut, records, a checkpoint rotation, a record.
 */
async function runWorkload(fileSystem: FileSystem, hash: Hash64, crashAfter: number | undefined, faults?: FaultFileSystem): Promise<Outcome> {
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, 1024 * KIBIBYTE, hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: 8 * 1024 * KIBIBYTE }, { ...first, offset: SEGMENT_HEADER_BYTES });
  if (crashAfter !== undefined) faults!.crashAfterOperations(crashAfter);
  const outcome: Outcome = { acknowledged: [], attempted: [], abandonedWhileFilling: 0 };
  let version = 0;
  const write = async (valueBytes: number): Promise<void> => {
    version++;
    outcome.attempted.push(version);
    const result = await writer.writeGroup([commitOf(version, valueBytes)]);
    expect(result.commitCount).toBe(1);
    outcome.acknowledged.push(version);
  };
  const cut = async (): Promise<void> => {
    const segmentsBefore = (await listSegments(fileSystem, WAL_DIR)).length;
    writer.cutAtNextRecord();
    await writer.rotateAtCut();
    if (segmentsBefore > writer.segmentNumber - 1) outcome.abandonedWhileFilling++;
  };
  try {
    await write(600 * KIBIBYTE);
    await write(100);
    await cut();
    for (let index = 0; index < 4; index++) await write(100);
    await write(30 * KIBIBYTE);
    await cut();
    await write(100);
    await write(40 * KIBIBYTE);
    expect(await writer.rotateForCheckpoint()).toBe(true);
    await write(100);
    await writer.close();
  } catch (error) {
    if (crashAfter === undefined) throw error;
  }
  return outcome;
}

async function recoveredVersions(fileSystem: FaultFileSystem, hash: Hash64) {
  const versions: number[] = [];
  const result = await recoverWal(fileSystem, WAL_DIR, hash, false, (commits) => {
    for (const commit of commits) versions.push(commit.version);
  });
  return { versions, result };
}

async function crashAndCheck(hash: Hash64, crashAfter: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  const outcome = await runWorkload(fileSystem, hash, crashAfter, fileSystem);
  // Let a background preparation still running run into the crash.
  for (let turn = 0; turn < 40; turn++) await new Promise((resolve) => setImmediate(resolve));
  const rebooted = fileSystem.crash(mode);
  const problems: string[] = [];
  let recovered;
  try {
    recovered = await recoveredVersions(rebooted, hash);
  } catch (error) {
    return [`recovery failed: ${String(error)}`];
  }
  const { versions, result } = recovered;
  for (const version of outcome.acknowledged) if (!versions.includes(version)) problems.push(`acknowledged version ${version} lost`);
  for (const version of versions) if (!outcome.attempted.includes(version)) problems.push(`version ${version} recovered, never written`);
  if (!versions.every((version, index) => index === 0 || version > versions[index - 1]!)) problems.push(`versions out of order: ${versions.join(',')}`);
  if (result.resume === undefined) return [...problems, 'no segment to resume in'];
  // Every segment left is a valid one (recovery removed partial creations).
  const segments = await listSegments(rebooted, WAL_DIR);
  if (segments.at(-1) !== result.resume.segmentNumber) problems.push(`segments ${segments.join(',')} beyond the resumed ${result.resume.segmentNumber}`);
  // The resumed writer takes a record, and a second recovery reads it.
  const writer = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: 8 * 1024 * KIBIBYTE }, result.resume);
  const nextVersion = result.lastVersion + 1;
  try {
    await writer.writeGroup([commitOf(nextVersion, 100)]);
    await writer.close();
    const again = await recoveredVersions(rebooted, hash);
    if (again.versions.at(-1) !== nextVersion) problems.push(`the record written after recovery was not recovered (${again.versions.join(',')})`);
  } catch (error) {
    problems.push(`writing after recovery failed: ${String(error)}`);
  }
  return problems;
}

describe('review of 585cfbb: crash at any point of a cut that abandons a preparation mid-fill', () => {
  it('the uncrashed workload abandons preparations mid-fill and recovers every record', async () => {
    const hash = await loadHash64();
    const faults = new FaultFileSystem(1);
    const fileSystem = new ChunkCountingFileSystem(faults);
    const outcome = await runWorkload(fileSystem, hash, undefined);
    expect(outcome.acknowledged).toEqual(outcome.attempted);
    expect(outcome.abandonedWhileFilling).toBeGreaterThanOrEqual(1);
    // Segment 2's first preparation (2 MiB, 8 chunks) was abandoned part way: the sweep crosses an abandon mid-fill.
    const firstPreparation = fileSystem.chunks.get(segmentFileName(2)) ?? 0;
    expect(firstPreparation).toBeGreaterThan(0);
    expect(firstPreparation).toBeLessThan(8);
    const { versions } = await recoveredVersions(faults.crash('keep-all'), hash);
    expect(versions).toEqual(outcome.attempted);
  });

  it('every crash point in every mode recovers exactly the acknowledged commits (or some written ones) and resumes', async () => {
    const hash = await loadHash64();
    const counting = new FaultFileSystem(1);
    await runWorkload(counting, hash, 1_000_000, counting);
    for (let turn = 0; turn < 40; turn++) await new Promise((resolve) => setImmediate(resolve));
    const operations = counting.operationCount;
    expect(operations).toBeGreaterThan(20);
    const failures: string[] = [];
    for (let crashAfter = 0; crashAfter <= operations; crashAfter++) {
      for (const [modeIndex, mode] of CRASH_MODES.entries()) {
        for (const problem of await crashAndCheck(hash, crashAfter, mode, 7919 * crashAfter + modeIndex)) failures.push(`k=${crashAfter} ${mode}: ${problem}`);
      }
      if (failures.length > 8) break;
    }
    expect(failures).toEqual([]);
  }, 240_000);

  it('a fault in any call on segments 2-3 (open, write, sync, syncDirectory, unlink; EIO or ENOSPC) then a crash loses no acknowledged commit', async () => {
    const hash = await loadHash64();
    const failures: string[] = [];
    const faults: Array<{ operation: 'open' | 'write' | 'sync' | 'datasync' | 'syncDirectory' | 'unlink'; path?: RegExp }> = [
      { operation: 'open', path: /wal-000000000[23]\.log$/ },
      { operation: 'write', path: /wal-000000000[23]\.log$/ },
      { operation: 'sync', path: /wal-000000000[23]\.log$/ },
      { operation: 'datasync', path: /wal-000000000[23]\.log$/ },
      { operation: 'unlink', path: /wal-000000000[23]\.log$/ },
      { operation: 'syncDirectory' },
    ];
    let injected = 0;
    for (const fault of faults) {
      for (const error of ['EIO', 'ENOSPC']) {
        for (let nth = 1; nth <= 12; nth++) {
          const fileSystem = new FaultFileSystem(nth);
          // Armed once segment 1 exists: runWorkload's setup is not the subject.
          const armed = { done: false };
          const arming = new Proxy(fileSystem, {
            get(target, property, receiver) {
              if (property === 'crashAfterOperations') {
                return () => {
                  armed.done = true;
                  target.injectFault({ operation: fault.operation, error, ...(fault.path === undefined ? {} : { path: fault.path }), nth });
                };
              }
              const value: unknown = Reflect.get(target, property, receiver);
              return typeof value === 'function' ? value.bind(target) : value;
            },
          });
          const outcome = await runWorkload(fileSystem, hash, 0, arming);
          expect(armed.done).toBe(true);
          for (let turn = 0; turn < 40; turn++) await new Promise((resolve) => setImmediate(resolve));
          if (outcome.acknowledged.length < outcome.attempted.length) injected++;
          const rebooted = fileSystem.crash('drop-unsynced');
          try {
            const { versions } = await recoveredVersions(rebooted, hash);
            for (const version of outcome.acknowledged) if (!versions.includes(version)) failures.push(`${fault.operation} ${error} #${nth}: acknowledged ${version} lost`);
            for (const version of versions) if (!outcome.attempted.includes(version)) failures.push(`${fault.operation} ${error} #${nth}: ${version} never written`);
          } catch (recoveryError) {
            failures.push(`${fault.operation} ${error} #${nth}: recovery failed: ${String(recoveryError)}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    // Some faults did stop the workload (the sweep reached the paths it names).
    expect(injected).toBeGreaterThan(0);
  }, 120_000);
});
