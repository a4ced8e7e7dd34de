/**
 * Review (wal-review, 2026-12-04): repair of a WAL segment whose header's format-version
 * field was damaged (a flipped bit, or the header's sector lost to zeros).
 *
 * Repair drops the damaged segment and the ones after it, and first writes a version
 * marker carrying the highest version of every checksum-valid record it drops, so
 * versions never repeat (wal-repair.ts). It finds those records by the segment's use tag,
 * which for a damaged header it guessed from that same damaged field: any value but 2
 * read as format 1 (tag 0), so none of the segment's format-2 records was found. The
 * report said 1 record dropped and no versions though dozens of acknowledged commits
 * went, no marker was written, and the next put got a version a dropped commit had.
 */
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openOn, segmentPath } from './workload.js';

/** Bytes 8..11 of a segment header: its format version (docs/FORMAT.md). */
const FORMAT_VERSION_OFFSET = 8;

async function storeOnSegments(): Promise<{ fileSystem: FaultFileSystem; versions: number[]; segments: number }> {
  const fileSystem = new FaultFileSystem(41);
  const store = await openOn(fileSystem);
  const versions: number[] = [];
  for (let index = 0; index < 60; index++) versions.push((await store.put(`k${String(index).padStart(3, '0')}`, 'v'.repeat(900))).version);
  await store.close();
  let segments = 0;
  while (await fileSystem.exists(segmentPath(segments + 1))) segments++;
  return { fileSystem, versions, segments };
}

const DAMAGES = [
  ['a flipped bit (2 -> 3)', (fileSystem: FaultFileSystem, path: string) => fileSystem.flipBit(path, FORMAT_VERSION_OFFSET, 0)],
  ['zeros (2 -> 0)', (fileSystem: FaultFileSystem, path: string) => fileSystem.flipBit(path, FORMAT_VERSION_OFFSET, 1)],
] as const;

/** The last segment holding a record (close() may leave an empty one prepared after it). */
async function lastWithRecords(fileSystem: FaultFileSystem, segments: number): Promise<number> {
  for (let number = segments; number > 1; number--) {
    const image = await fileSystem.readFile(segmentPath(number));
    if (image.subarray(64).some((byte) => byte !== 0)) return number;
  }
  throw new Error('no segment after the first holds records');
}

describe('repair of a segment whose header\'s format version is damaged', () => {
  for (const [name, damage] of DAMAGES) {
    for (const where of ['a middle segment', 'the last segment holding records'] as const) {
      it(`${name}, ${where}: counts every dropped record and version, and the next put gets a version above them`, async () => {
        const { fileSystem, versions, segments } = await storeOnSegments();
        expect(segments).toBeGreaterThanOrEqual(4);
        const damaged = where === 'a middle segment' ? 2 : await lastWithRecords(fileSystem, segments);
        damage(fileSystem, segmentPath(damaged));
        await expect(openOn(fileSystem)).rejects.toBeInstanceOf(CorruptionError);

        const repaired = await openOn(fileSystem, { repair: true });
        const report = repaired.stats().recovery.repair!;
        expect(report.file).toBe(segmentPath(damaged));
        // Every record before the damaged segment is kept: one put each, in order.
        const firstDropped = report.droppedVersions?.first;
        expect(firstDropped, 'the versions dropped are reported').toBeDefined();
        const dropped = versions.filter((version) => version >= firstDropped!);
        expect(dropped.length).toBeGreaterThan(0);
        expect(report.droppedRecords).toBe(dropped.length);
        expect(report.droppedCommits).toBe(dropped.length);
        expect(report.droppedVersions).toEqual({ first: firstDropped, last: versions.at(-1) });
        const next = (await repaired.put('after-repair', 1)).version;
        expect(next, 'no version of a dropped commit is used again').toBeGreaterThan(versions.at(-1)!);
        await repaired.close();
      });
    }
  }
});
