/**
 * Fault review of the WAL writer's recent rotation changes (aea0180: a seal's cut sizes
 * its segment by the write rate and takes the segment prepared ahead, which a rate-sized
 * segment prepares at once; 1bb19ce: an outrun segment's next begun at the rotation),
 * at the writer's level, as the commit path and a flush drive it: cuts (cutAtNextRecord,
 * rotateAtCut) into rate-sized segments that take a prepared one ready or still being
 * made, a cut that removes a larger prepared one (back to the pool or unlinked), an
 * outsized commit after an outrun segment, a checkpoint's small rotation, compact()'s
 * release of the spare segments, and a close with a preparation in flight. After each
 * cut or checkpoint the WAL start is recorded (a flush's manifest edit) and the segments
 * below it are removed (renamed into the recycled pool or unlinked) WHILE the next
 * records and preparations run, as a flush does beside the commit path.
 *
 * A crash after every file-system operation, in every mode: recovery from the recorded
 * start opens without error, replays every acknowledged commit after the last cut
 * covered, in order, nothing that was never written (a prepared segment is never read
 * as data, nor its earlier use's records), leaves no segment past the one it resumes in,
 * and the writer resumed there takes records that need new segments (their numbers are
 * free), which a second recovery reads.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { turnTaker } from './helpers.js';
import { checkRecovery, CRASH_MODES, runWorkload } from './wal-rotation-workload.js';

describe('crash sweep: rate-sized cuts, prepared segments, outrun and outsized rotations, removals beside the writes', () => {
  it('the uncrashed workload takes every path it names, and recovers exactly', async () => {
    const hash = await loadHash64();
    const fileSystem = new FaultFileSystem(1);
    const outcome = await runWorkload(fileSystem, hash, undefined);
    expect(outcome.error).toBeUndefined();
    expect(outcome.removalError).toBeUndefined();
    expect(outcome.cutsTakingPrepared, 'cuts that took the segment prepared ahead').toBeGreaterThanOrEqual(2);
    expect(outcome.segmentsRecycled, 'segments made from the recycled pool').toBeGreaterThanOrEqual(1);
    expect(outcome.released, 'files compact() released').toBeGreaterThanOrEqual(1);
    expect(fileSystem.operationCount).toBeGreaterThan(200);
    expect(await checkRecovery(fileSystem.crash('drop-unsynced'), hash, outcome)).toEqual([]);
  });

  for (const [index, mode] of CRASH_MODES.entries()) {
    it(`${mode}: a crash after every operation recovers every acknowledged commit, nothing invented, and writes on`, async () => {
      const hash = await loadHash64();
      const counter = new FaultFileSystem(1);
      await runWorkload(counter, hash, undefined);
      const operations = counter.operationCount;
      const failures: string[] = [];
      const takeTurn = turnTaker();
      for (let crashAfter = 0; crashAfter <= operations + 5 && failures.length < 10; crashAfter++) {
        const fileSystem = new FaultFileSystem(7100 * (index + 1) + crashAfter);
        const outcome = await runWorkload(fileSystem, hash, crashAfter);
        for (const problem of await checkRecovery(fileSystem.crash(mode), hash, outcome)) failures.push(`crash after ${crashAfter}: ${problem}`);
        await takeTurn();
      }
      expect(failures).toEqual([]);
    }, 600_000);
  }
});
