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
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { joinPath } from '../src/fs/file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import { blockChecksum, BlockKind, checksumHex, RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_KIND_0, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { RUNS_DIRECTORY, simpleEntries, writeAndOpen } from './run-helpers.js';

const FOOTER_VERSION_OFFSET = 16;

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

    const path = joinPath(RUNS_DIRECTORY, descriptor.fileName);
    const footerOffset = descriptor.fileBytes - RUN_PAGE_BYTES;
    const handle = await fileSystem.open(path, 'readWrite');
    const page = Buffer.alloc(RUN_PAGE_BYTES);
    await handle.read(page, 0, RUN_PAGE_BYTES, footerOffset);
    page.writeUInt32LE(RUN_FORMAT_VERSION_KIND_0, FOOTER_VERSION_OFFSET);
    const checksum = blockChecksum(hash, page, { runId: descriptor.runId, generation: descriptor.generation, offset: footerOffset, kind: BlockKind.footer });
    page.writeBigUInt64LE(checksum, 0);
    await handle.write(page, footerOffset);
    await handle.close();
    const relabelled = { ...descriptor, footerChecksum: checksumHex(checksum) };

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
