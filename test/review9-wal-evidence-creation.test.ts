/**
 * Review of 82c5ef0's premise (src/wal/segment-evidence.ts): what a crash during a
 * segment's creation can leave under its name is never read as damage. A new segment
 * (createSegment: create, truncate, zero fill, header, fsync, directory fsync) and one
 * made from a recycled file (takeRecycledSegment: header into the pool file, fsync,
 * rename, directory fsync) and one made as release 0.1 made it (zeros written from offset
 * 0, no truncate, then the header), each after a segment holding acknowledged records; a crash
 * after every call of the creation, in every mode (random-subset with several seeds),
 * with and without directory fsyncs running beside it (a flush's removal of covered
 * segments makes the new name durable while the file is still being made, so its
 * partial content survives under it even in the modes that keep only durable entries).
 *
 * Every image must: (1) never hold, under the new segment's name, a file the commit
 * calls damage (shorter than a header with a non-zero byte); (2) recover, from the
 * manifest's start, every acknowledged record of the segment before, without
 * CorruptionError; (3) leave the new segment either whole or removed.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { completedCreationEvidence } from '../src/wal/segment-evidence.js';
import { createSegment, removeSegmentsBelow, segmentFileName, takeRecycledSegment } from '../src/wal/segment-files.js';
import {
  COMMIT_HEADER_BYTES,
  decodeSegmentHeader,
  type EncodableOperation,
  encodeSegmentHeader,
  FORMAT_VERSION_UNTAGGED,
  type Hash64,
  OPERATION_PUT,
  operationsSizeBytes,
  SEGMENT_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { recoveredVersions } from './support/wal-recovered.js';

const WAL_DIR = '/wal';
const SIZE_BYTES = 64 * 1024;
const MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

function commitOf(version: number): { version: number; operations: EncodableOperation[]; sizeBytes: number } {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(700 + version * 37).fill(version) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

/** Segment 1 with records, covered (into the pool as recycled-1-65536); segment 2 with versions 4-6, acknowledged. */
async function setUp(fileSystem: FaultFileSystem, hash: Hash64): Promise<void> {
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  for (const [segmentNumber, firstVersion] of [[1, 1], [2, 4]] as const) {
    const created = await createSegment(fileSystem, WAL_DIR, segmentNumber, SIZE_BYTES, hash);
    const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SIZE_BYTES }, { ...created, offset: SEGMENT_HEADER_BYTES });
    for (let version = firstVersion; version < firstVersion + 3; version++) await writer.writeGroup([commitOf(version)]);
    await writer.close();
  }
  await removeSegmentsBelow(fileSystem, WAL_DIR, 2);
}

type Creation = 'new' | 'recycled' | 'release 0.1';

/**
 * Release 0.1's creation (ed97e0c, src/wal/segment-files.ts): zeros written over the whole
 * size from offset 0 (no truncate; 1 MiB writes), then the header (format 1), fsync,
 * directory fsync. A store it wrote and a crash cut short is opened by this code.
 */
async function createAsRelease01(fileSystem: FaultFileSystem, hash: Hash64): Promise<void> {
  const handle = await fileSystem.open(`${WAL_DIR}/${segmentFileName(3)}`, 'createExclusive');
  await handle.write(new Uint8Array(SIZE_BYTES), 0);
  await handle.write(encodeSegmentHeader({ formatVersion: FORMAT_VERSION_UNTAGGED, segmentNumber: 3, segmentSizeBytes: SIZE_BYTES }, hash), 0);
  await handle.sync();
  await fileSystem.syncDirectory(WAL_DIR);
  await handle.close();
}

async function create(fileSystem: FaultFileSystem, hash: Hash64, creation: Creation): Promise<void> {
  if (creation === 'release 0.1') return createAsRelease01(fileSystem, hash);
  if (creation === 'new') {
    const created = await createSegment(fileSystem, WAL_DIR, 3, SIZE_BYTES, hash);
    await created.handle.close();
    return;
  }
  const taken = await takeRecycledSegment(fileSystem, WAL_DIR, 3, SIZE_BYTES, hash);
  if (taken === undefined) throw new Error('no pool file taken');
  await taken.handle.close();
}

async function crashDuringCreation(hash: Hash64, creation: Creation, crashAfter: number | undefined, mode: CrashMode, seed: number, besideSyncs: boolean) {
  const fileSystem = new FaultFileSystem(seed);
  await setUp(fileSystem, hash);
  const before = fileSystem.operationCount;
  if (crashAfter !== undefined) fileSystem.crashAfterOperations(crashAfter);
  let done = false;
  // Directory fsyncs beside the creation, one between each of its calls (a flush's removals).
  const syncs = besideSyncs ? (async () => {
    while (!done) await fileSystem.syncDirectory(WAL_DIR);
  })().catch(() => undefined) : Promise.resolve();
  await create(fileSystem, hash, creation).catch((error: unknown) => {
    if (crashAfter === undefined) throw error;
  }).finally(() => {
    done = true;
  });
  await syncs;
  return { operations: fileSystem.operationCount - before, rebooted: crashAfter === undefined ? undefined : fileSystem.crash(mode) };
}

async function problemsOf(rebooted: FaultFileSystem, hash: Hash64): Promise<string[]> {
  const problems: string[] = [];
  const name = `${WAL_DIR}/${segmentFileName(3)}`;
  const present = (await rebooted.readdir(WAL_DIR)).includes(segmentFileName(3));
  if (present) {
    const image = Buffer.from(await rebooted.readFile(name));
    if (completedCreationEvidence(image, undefined) !== undefined) problems.push(`segment 3 left as ${image.length} bytes that read as damage`);
  }
  try {
    const { versions, result } = await recoveredVersions(rebooted, WAL_DIR, hash, 2);
    if (versions.join() !== '4,5,6') problems.push(`recovered versions ${versions.join()}, acknowledged 4,5,6`);
    const after = (await rebooted.readdir(WAL_DIR)).includes(segmentFileName(3));
    if (after) {
      const image = Buffer.from(await rebooted.readFile(name));
      const header = decodeSegmentHeader(image, hash);
      if (typeof header === 'string' || header.segmentSizeBytes !== image.length) problems.push('a partial segment 3 was kept');
      if (result.resume?.segmentNumber !== 3) problems.push(`writing resumes in ${result.resume?.segmentNumber}, not in the whole segment 3`);
    }
  } catch (error) {
    problems.push(`recovery failed: ${String(error)}`);
  }
  return problems;
}

describe('review 82c5ef0: a crash during a segment creation never leaves what segment-evidence.ts calls damage', () => {
  for (const creation of ['new', 'recycled', 'release 0.1'] as const) {
    for (const besideSyncs of [false, true]) {
      it(`${creation} segment${besideSyncs ? ', directory fsyncs beside it' : ''}: every crash point, every mode`, async () => {
        const hash = await loadHash64();
        const { operations } = await crashDuringCreation(hash, creation, undefined, 'keep-all', 1, besideSyncs);
        expect(operations).toBeGreaterThanOrEqual(creation === 'recycled' ? 7 : 5);
        const failures: string[] = [];
        let images = 0;
        for (const [modeIndex, mode] of MODES.entries()) {
          const seeds = mode === 'random-subset' ? 12 : 2;
          for (let crashAfter = 0; crashAfter <= operations; crashAfter++) {
            for (let seed = 0; seed < seeds; seed++) {
              const { rebooted } = await crashDuringCreation(hash, creation, crashAfter, mode, 1000 * modeIndex + 50 * crashAfter + seed, besideSyncs);
              images++;
              for (const problem of await problemsOf(rebooted!, hash)) failures.push(`${mode}, crash after ${crashAfter}, seed ${seed}: ${problem}`);
            }
          }
        }
        expect(images).toBeGreaterThan(100);
        expect(failures).toEqual([]);
      }, 300_000);
    }
  }
});
