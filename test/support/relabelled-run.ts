/**
 * A run whose index partitions pass their checksums but do not decode: a cold run
 * (format 6: packed data blocks, deflate) with its footer's version set to 5 (the same
 * format with whole-page data blocks) and the footer's checksum, and the descriptor's
 * copy of it, recomputed. Every block and checksum is sound, and the index partitions
 * give block lengths format 5 does not allow, so every read through them fails with
 * 'index block: data blocks not contiguous'. Used by review10-second-verify-partition
 * (verify) and gaps-scrub-partition (scrub).
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import { joinPath } from '../../src/fs/file-system.js';
import type { FaultFileSystem } from '../../src/fs/fault-file-system.js';
import { BlockCache } from '../../src/run/block-cache.js';
import type { RunDescriptor } from '../../src/run/run-descriptor.js';
import { blockChecksum, BlockKind, checksumHex, RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_PACKED, RUN_PAGE_BYTES } from '../../src/run/run-format.js';
import { RunReader } from '../../src/run/run-reader.js';
import { writeRun } from '../../src/run/run-writer.js';
import type { Hash64 } from '../../src/wal/wal-format.js';
import { freshFileSystem, RUNS_DIRECTORY, simpleEntries } from '../run-helpers.js';

const FOOTER_VERSION_OFFSET = 16;

export interface RelabelledRun {
  fileSystem: FaultFileSystem;
  /** The descriptor with the relabelled footer's checksum: open the run through this one. */
  descriptor: RunDescriptor;
}

/** Writes a sound cold run of `entryCount` entries (checked: verify finds nothing), then relabels its footer format 5. */
export async function writeRelabelledRun(hash: Hash64, entryCount = 3_000): Promise<RelabelledRun> {
  const fileSystem = await freshFileSystem();
  const written = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 7, level: 3, hash, entries: simpleEntries(entryCount, 1, 40), compression: 'deflate' });
  const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, written, hash, new BlockCache(1024 * 1024), { repair: false });
  expect(reader.footer.formatVersion).toBe(RUN_FORMAT_VERSION_PACKED);
  expect((await reader.verify()).problems).toEqual([]);
  await reader.close();

  return { fileSystem, descriptor: await relabelFooter(fileSystem, hash, written, RUN_FORMAT_VERSION) };
}

/** Sets the run's footer format version to `formatVersion` with its checksum recomputed; returns the descriptor with that checksum. */
export async function relabelFooter(fileSystem: FaultFileSystem, hash: Hash64, descriptor: RunDescriptor, formatVersion: number): Promise<RunDescriptor> {
  const path = joinPath(RUNS_DIRECTORY, descriptor.fileName);
  const footerOffset = descriptor.fileBytes - RUN_PAGE_BYTES;
  const handle = await fileSystem.open(path, 'readWrite');
  const page = Buffer.alloc(RUN_PAGE_BYTES);
  await handle.read(page, 0, RUN_PAGE_BYTES, footerOffset);
  page.writeUInt32LE(formatVersion, FOOTER_VERSION_OFFSET);
  const checksum = blockChecksum(hash, page, { runId: descriptor.runId, generation: descriptor.generation, offset: footerOffset, kind: BlockKind.footer });
  page.writeBigUInt64LE(checksum, 0);
  await handle.write(page, footerOffset);
  await handle.close();
  return { ...descriptor, footerChecksum: checksumHex(checksum) };
}
