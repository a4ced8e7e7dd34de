/**
 * A WAL segment that outside damage truncated below its header (0, 1, 63 bytes) or to
 * exactly its header: in the middle of the log (later segments holding records, or only
 * the empty one prepared ahead, as close() leaves it), at its end, and where the
 * manifest's WAL start points. Where the store can tell it from a creation a crash cut
 * short (src/wal/segment-evidence.ts: a later segment exists, or the short file holds
 * data, as the magic's first bytes), open and verify refuse it with CorruptionError
 * naming the file, and repair drops it (and what follows) saying so. Before, a short
 * last segment read as an unfinished creation: verify said ok and the open removed it
 * with every acknowledged commit in it, without an error; so did a short segment
 * followed only by the empty prepared one (both removed).
 *
 * What stays an unfinished creation (a real crash state, never refused): an empty or
 * all-zero last segment, or a header alone as the last segment.
 */
import { describe, expect, it } from 'vitest';
import { CorruptionError, ErrorCode } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { Store } from '../src/store/store.js';
import { verifyStore } from '../src/store/verify-store.js';
import { openOn, scanAll, segmentPath, settle, STORE_DIR, WAL_DIR } from './workload.js';

const HEADER_BYTES = 64;

interface Built {
  fileSystem: FaultFileSystem;
  /** Version of each key's one write. */
  written: Map<string, number>;
  /** The segments holding records, and the versions in each (read from the store's stats as writes go). */
  versionsBySegment: Map<number, number[]>;
}

async function put(store: Store, built: Built, key: string): Promise<void> {
  const { version } = await store.put(key, { key, pad: 'p'.repeat(600) });
  built.written.set(key, version);
  const segment = store.stats().walSegment;
  built.versionsBySegment.set(segment, [...(built.versionsBySegment.get(segment) ?? []), version]);
}

/** Writes one put at a time until segment `segments` holds records, then closes (no checkpoint). */
async function segmentsStore(segments: number, seed: number): Promise<Built> {
  const built: Built = { fileSystem: new FaultFileSystem(seed), written: new Map(), versionsBySegment: new Map() };
  const store = await openOn(built.fileSystem);
  for (let index = 0; !built.versionsBySegment.has(segments); index++) await put(store, built, `k${String(index).padStart(4, '0')}`);
  await store.close();
  return built;
}

/** A checkpoint moves the manifest's WAL start to a new segment; 5 puts go into it (not half of it: no next one is prepared); closed without a checkpoint. */
async function checkpointedStore(seed: number): Promise<Built & { start: number }> {
  const built: Built = { fileSystem: new FaultFileSystem(seed), written: new Map(), versionsBySegment: new Map() };
  const store = await openOn(built.fileSystem);
  for (let index = 0; index < 30; index++) await put(store, built, `a${index}`);
  await store.checkpoint();
  built.versionsBySegment.clear();
  for (let index = 0; index < 5; index++) await put(store, built, `b${index}`);
  await store.close();
  const start = (await verifyStore(STORE_DIR, { fileSystem: built.fileSystem })).manifest!.walStartSegment;
  expect([...built.versionsBySegment.keys()], 'the 5 puts went into the segment the manifest starts at').toEqual([start]);
  expect(built.fileSystem.listPaths().filter((path) => path.startsWith(`${WAL_DIR}/wal-`))).toEqual([segmentPath(start)]);
  return { ...built, start };
}

/** Truncates `path` to `sizeBytes` on disk, durably (outside damage). */
async function truncate(fileSystem: FaultFileSystem, path: string, sizeBytes: number): Promise<void> {
  const handle = await fileSystem.open(path, 'readWrite');
  await handle.truncate(sizeBytes);
  await handle.sync();
  await handle.close();
}

async function openRefused(fileSystem: FaultFileSystem): Promise<CorruptionError> {
  const error = await openOn(fileSystem).then(
    async (store) => {
      const version = store.version;
      await store.close();
      return new Error(`open succeeded at version ${version}`);
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CorruptionError);
  expect(error).toMatchObject({ code: ErrorCode.Corruption });
  return error as CorruptionError;
}

/** Open and verify refuse the damaged `path`; repair keeps exactly the versions below `keptBelow` and reports the drop. */
async function expectDamage(built: Built, path: string, sizeBytes: number, keptBelow: number, droppedSegments: string[]): Promise<void> {
  const { fileSystem } = built;
  const refused = await openRefused(fileSystem);
  expect(refused).toMatchObject({ file: path, offset: 0 });
  expect(refused.message).toMatch(/damaged after its creation/);

  const report = await verifyStore(STORE_DIR, { fileSystem });
  expect(report.ok).toBe(false);
  expect(report.unfinishedSegments).toEqual([]);
  expect(report.corruption).toMatchObject({ file: path, offset: 0 });
  expect(report.walRepairWouldDrop).toMatchObject({ file: path, offset: 0, droppedSegments });
  expect(report.walRepairWouldDrop!.reason).toMatch(/records it held, if any, are lost and cannot be counted/);
  expect(fileSystem.durableContent(path)?.length, 'verify changes nothing').toBe(sizeBytes);

  const repaired = await openOn(fileSystem, { repair: true });
  expect(repaired.stats().recovery.repair).toEqual(report.walRepairWouldDrop);
  const expected = new Map([...built.written].filter(([, version]) => version < keptBelow).map(([key]) => [key, { key, pad: 'p'.repeat(600) }]));
  expect(await scanAll(repaired)).toEqual(expected);
  await repaired.put('after-repair', 1);
  await repaired.close();
  const reopened = await openOn(fileSystem);
  expect(await reopened.get('after-repair')).toBe(1);
  await reopened.close();
}

const SHORT_SIZES = [0, 1, HEADER_BYTES - 1];

/** Puts until a segment after the one written into exists (prepared ahead, empty), then closes. */
async function preparedAheadStore(seed: number): Promise<Built & { last: number }> {
  const built: Built = { fileSystem: new FaultFileSystem(seed), written: new Map(), versionsBySegment: new Map() };
  const store = await openOn(built.fileSystem);
  const segments = (): string[] => built.fileSystem.listPaths().filter((path) => path.startsWith(`${WAL_DIR}/wal-`));
  for (let index = 0; index < 1000; index++) {
    await put(store, built, `k${String(index).padStart(4, '0')}`);
    await settle();
    if (store.stats().walSegment >= 2 && segments().includes(segmentPath(store.stats().walSegment + 1))) break;
  }
  const last = store.stats().walSegment;
  await store.close();
  expect(segments().at(-1), 'an empty segment prepared ahead follows the last one holding records').toBe(segmentPath(last + 1));
  return { ...built, last };
}

describe('a segment truncated below its header or to its header, where the store can tell it from a crash', () => {
  for (const sizeBytes of [1, HEADER_BYTES - 1]) {
    it(`the last segment, holding acknowledged commits, at ${sizeBytes} bytes (the magic's first bytes): refused, verify says so, repair drops it`, async () => {
      const built = await segmentsStore(3, 31);
      const lost = built.versionsBySegment.get(3)!;
      expect(lost.length).toBeGreaterThan(0);
      await truncate(built.fileSystem, segmentPath(3), sizeBytes);
      await expectDamage(built, segmentPath(3), sizeBytes, lost[0]!, [segmentPath(3)]);
    });

    it(`the segment the manifest's WAL start points into, the only one, at ${sizeBytes} bytes: refused`, async () => {
      const built = await checkpointedStore(33);
      const lost = built.versionsBySegment.get(built.start)!;
      await truncate(built.fileSystem, segmentPath(built.start), sizeBytes);
      await expectDamage(built, segmentPath(built.start), sizeBytes, lost[0]!, [segmentPath(built.start)]);
    });
  }

  for (const sizeBytes of [...SHORT_SIZES, HEADER_BYTES]) {
    it(`a middle segment at ${sizeBytes} bytes, later segments holding records: refused, repair drops it and the later ones`, async () => {
      const built = await segmentsStore(4, 32);
      const lost = built.versionsBySegment.get(2)!;
      await truncate(built.fileSystem, segmentPath(2), sizeBytes);
      const later = built.fileSystem.listPaths().filter((path) => path.startsWith(`${WAL_DIR}/wal-`) && path > segmentPath(2));
      expect(later.length).toBeGreaterThanOrEqual(2);
      await expectDamage(built, segmentPath(2), sizeBytes, lost[0]!, [segmentPath(2), ...later]);
    });

    it(`the last segment holding records at ${sizeBytes} bytes, the empty one prepared ahead after it: refused (was removed with it)`, async () => {
      const built = await preparedAheadStore(36);
      const lost = built.versionsBySegment.get(built.last)!;
      await truncate(built.fileSystem, segmentPath(built.last), sizeBytes);
      await expectDamage(built, segmentPath(built.last), sizeBytes, lost[0]!, [segmentPath(built.last), segmentPath(built.last + 1)]);
    });
  }
});

describe('what a crash can leave of a creation stays an unfinished creation', () => {
  for (const [label, bytes] of [['empty', new Uint8Array(0)], ['40 zero bytes', new Uint8Array(40)]] as const) {
    it(`a last segment ${label}: verify reports it unfinished, the open removes it and writes on`, async () => {
      const built = await segmentsStore(2, 43);
      const handle = await built.fileSystem.open(segmentPath(3), 'createExclusive');
      await handle.write(bytes, 0);
      await handle.sync();
      await handle.close();
      await built.fileSystem.syncDirectory(WAL_DIR);
      const report = await verifyStore(STORE_DIR, { fileSystem: built.fileSystem });
      expect(report).toMatchObject({ ok: true, unfinishedSegments: [segmentPath(3)] });
      const store = await openOn(built.fileSystem);
      expect(store.stats().recovery.removedSegments).toEqual([segmentPath(3)]);
      expect(store.version).toBe(Math.max(...built.written.values()));
      for (let index = 0; index < 60; index++) await put(store, built, `c${index}`);
      expect(store.stats().walSegment).toBeGreaterThanOrEqual(3);
      await store.close();
    });
  }

  it('a header alone as the last segment (a power loss that kept its sector, not the size): removed', async () => {
    const built = await preparedAheadStore(44);
    const next = segmentPath(built.last + 1);
    await truncate(built.fileSystem, next, HEADER_BYTES);
    const store = await openOn(built.fileSystem);
    expect(store.stats().recovery.removedSegments).toEqual([next]);
    expect(store.version).toBe(Math.max(...built.written.values()));
    await store.close();
  });
});
