/**
 * verify reports a run whose blocks all pass their checksums but do not decode as the
 * footer's format says. Found by the outside review of docs/FORMAT.md: a store written
 * between 85bf035 and 2f6433f (kind-1 filters in format 3/4 runs, which FORMAT.md says
 * readers refuse as corruption) failed its first point read with CorruptionError
 * ('filter kind 1 in a run of format 4') while `ladybug verify` said ok with no
 * problems: verify's entry-level pass (RunScrubber#checkCounts) took every
 * CorruptionError for one the block checks had already reported, and it runs only when
 * they reported none.
 *
 * The run here is today's (format 5, kind-1 filters) with its footer's version set to 3
 * and the footer's checksum, and the descriptor's copy of it, recomputed: every block
 * and checksum is sound, and the filter partitions hold a kind format 3 does not allow.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_KIND_0 } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { RUNS_DIRECTORY, simpleEntries, writeAndOpen } from './run-helpers.js';
import { relabelFooter } from './support/relabelled-run.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('verify of a run whose checked blocks do not decode', () => {
  it('reports the filter kind its footer\'s format does not allow, as a point read refuses it', async () => {
    const { fileSystem, descriptor, reader } = await writeAndOpen(hash, simpleEntries(2_000, 1, 40));
    expect(reader.footer.formatVersion).toBe(RUN_FORMAT_VERSION);
    expect((await reader.verify()).problems).toEqual([]);
    await reader.close();

    const relabelled = await relabelFooter(fileSystem, hash, descriptor, RUN_FORMAT_VERSION_KIND_0);

    const opened = await RunReader.open(fileSystem, RUNS_DIRECTORY, relabelled, hash, new BlockCache(1024 * 1024), { repair: false });
    expect(opened.footer.formatVersion).toBe(RUN_FORMAT_VERSION_KIND_0);
    const read = Promise.resolve().then(() => opened.pointVersions('key-000001')).then(() => undefined, (error: unknown) => error);
    expect(await read).toBeInstanceOf(CorruptionError);
    expect(String(await read)).toContain('filter kind 1 in a run of format 3');

    const { problems } = await opened.verify();
    expect(problems).toEqual([{ offset: expect.any(Number) as number, reason: 'filter kind 1 in a run of format 3' }]);
    expect(problems[0]!.offset).toBeGreaterThanOrEqual(opened.footer.filterOffset);
    await opened.close();
  });
});
