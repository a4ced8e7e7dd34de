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
 * version set to 5 (the same format with whole-page data blocks) and the footer's
 * checksum, and the descriptor's copy of it, recomputed: every block and checksum is
 * sound, and the index partitions give block lengths format 5 does not allow.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { joinPath } from '../src/fs/file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import { blockChecksum, BlockKind, checksumHex, RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_PACKED, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { freshFileSystem, RUNS_DIRECTORY, simpleEntries } from './run-helpers.js';

const FOOTER_VERSION_OFFSET = 16;

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('review10 second: verify of a run whose checked index partitions do not decode', () => {
  it('reports the partition, as a point read refuses it', async () => {
    const fileSystem = await freshFileSystem();
    const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 7, level: 3, hash, entries: simpleEntries(3_000, 1, 40), compression: 'deflate' });
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), { repair: false });
    expect(reader.footer.formatVersion).toBe(RUN_FORMAT_VERSION_PACKED);
    expect((await reader.verify()).problems).toEqual([]);
    await reader.close();

    const path = joinPath(RUNS_DIRECTORY, descriptor.fileName);
    const footerOffset = descriptor.fileBytes - RUN_PAGE_BYTES;
    const handle = await fileSystem.open(path, 'readWrite');
    const page = Buffer.alloc(RUN_PAGE_BYTES);
    await handle.read(page, 0, RUN_PAGE_BYTES, footerOffset);
    page.writeUInt32LE(RUN_FORMAT_VERSION, FOOTER_VERSION_OFFSET);
    const checksum = blockChecksum(hash, page, { runId: descriptor.runId, generation: descriptor.generation, offset: footerOffset, kind: BlockKind.footer });
    page.writeBigUInt64LE(checksum, 0);
    await handle.write(page, footerOffset);
    await handle.close();
    const relabelled = { ...descriptor, footerChecksum: checksumHex(checksum) };

    const opened = await RunReader.open(fileSystem, RUNS_DIRECTORY, relabelled, hash, new BlockCache(1024 * 1024), { repair: false });
    expect(opened.footer.formatVersion).toBe(RUN_FORMAT_VERSION);
    const read = await Promise.resolve().then(() => opened.pointVersions('key-000001')).then(() => undefined, (error: unknown) => error);
    expect(read).toBeInstanceOf(CorruptionError);
    expect(String(read)).toContain('index block: data blocks not contiguous');

    const { problems } = await opened.verify();
    expect(problems).toEqual([{ offset: (read as CorruptionError).offset, reason: 'index block: data blocks not contiguous' }]);
    await opened.close();
  });
});
