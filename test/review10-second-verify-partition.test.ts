/**
 * Review 10, second engineer, of 42e4285 (verify reports blocks that pass their
 * checksums but do not decode as the footer's format says). Its entry-level pass kept
 * one such case silent: an index partition that passes its checksum but does not
 * decode. #checkCounts left every CorruptionError from reading a partition to the
 * block checks (isRepairableReadError is true for every CorruptionError), but the
 * block checks only compare checksums, and scrub's own partition read drops a decode
 * error as one its block check reported. So verify said nothing, not even the counts,
 * while every read through that partition failed.
 *
 * The run here is a cold one (format 6: packed data blocks, deflate) with its footer's
 * version set to 5 and its checksum recomputed (test/support/relabelled-run.ts): every
 * block and checksum is sound, and the index partitions give block lengths format 5
 * does not allow.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RUN_FORMAT_VERSION } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { UNDECODABLE_NOTE } from '../src/run/run-scrub.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { RUNS_DIRECTORY } from './run-helpers.js';
import { writeRelabelledRun } from './support/relabelled-run.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('review10 second: verify of a run whose checked index partitions do not decode', () => {
  it('reports the partition, as a point read refuses it', async () => {
    const { fileSystem, descriptor: relabelled } = await writeRelabelledRun(hash);
    const opened = await RunReader.open(fileSystem, RUNS_DIRECTORY, relabelled, hash, new BlockCache(1024 * 1024), { repair: false });
    expect(opened.footer.formatVersion).toBe(RUN_FORMAT_VERSION);
    const read = await Promise.resolve().then(() => opened.pointVersions('key-000001')).then(() => undefined, (error: unknown) => error);
    expect(read).toBeInstanceOf(CorruptionError);
    expect(String(read)).toContain('index block: data blocks not contiguous');

    const { problems } = await opened.verify();
    // Reported by the scrub pass since gaps-scrub-partition (the entry-level pass runs only when it finds nothing).
    expect(problems).toEqual([{ offset: (read as CorruptionError).offset, reason: `index (stripe 0): index block: data blocks not contiguous (${UNDECODABLE_NOTE})` }]);
    await opened.close();
  });
});
