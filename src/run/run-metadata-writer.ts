/**
 * The run writer's metadata tail (src/run/run-writer.ts): once the data blocks are
 * shipped and the output padded to a page, the index partitions, the top-level index
 * and the filter partitions, in that order (docs/FORMAT.md, "Run file", format 3).
 * The filter partitions' offsets follow from the top-level index's size, which
 * depends only on the partitions' last keys, so the top-level index is sealed with
 * their checksums before they are written; the filter blocks are held until then.
 *
 * Invariants asserted: at least one partition; the filter partitions hold every
 * distinct key of the run once; the top-level index has exactly the size its offsets
 * assumed; the filter partitions end the logical area.
 */
import type { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import type { StripedOutput } from '../stripe/striped-output.js';
import type { FilterPartitions } from './filter-partitions.js';
import { BlockKind, blockPages, RUN_PAGE_BYTES, sealBlock } from './run-format.js';
import { encodeTopIndex, topIndexPayloadBytes, type PartitionBuilder, type PartitionEntry } from './run-top-index.js';
import type { SealedBlock } from './run-writer.js';

/** What every sealed metadata block is checksummed with, and who is told of it. */
export interface BlockIdentity {
  runId: number;
  generation: number;
  hash: Hash64;
  onBlockSealed: ((block: SealedBlock) => void) | undefined;
}

/** Where the footer finds the top-level index and the filter partitions. */
export interface RunMetadataPlacement {
  topOffset: number;
  topLength: number;
  topChecksum: bigint;
  filterOffset: number;
  filterLength: number;
}

/**
 * Writes the index partitions, the top-level index and the filter partitions (in that
 * order; the filter partitions' offsets follow from the top-level index's size, which
 * depends only on the partitions' last keys, so the top-level index is sealed with
 * their checksums before they are written). `filters` hold one filter per partition
 * of `index`, over `keyCount` distinct keys in all. Returns what the footer names.
 */
export async function writeMetadata(
  output: StripedOutput,
  index: PartitionBuilder,
  filters: FilterPartitions,
  keyCount: number,
  identity: BlockIdentity,
): Promise<RunMetadataPlacement> {
  const { runId, generation, hash, onBlockSealed } = identity;
  const partitions = index.partitions;
  assert(partitions.length > 0, 'a run has at least one partition');
  const entries: PartitionEntry[] = [];
  for (const partition of partitions) {
    const { block, payloadBytes } = partition.index.block();
    const offset = output.offset;
    const checksum = sealBlock(hash, block, payloadBytes, partition.index.blockCount, { runId, generation, offset, kind: BlockKind.index });
    entries.push({
      lastKey: partition.lastKey,
      dataOffset: partition.dataOffset,
      blockCount: partition.index.blockCount,
      keyCount: partition.keyCount,
      indexOffset: offset,
      indexLength: block.length,
      indexChecksum: checksum,
      filterOffset: 0,
      filterLength: 0,
      filterChecksum: 0n,
    });
    onBlockSealed?.({ kind: 'index', offset, bytes: block, payloadBytes, entryCount: partition.index.blockCount });
    await output.append(block);
  }
  const topOffset = output.offset;
  const topLength = blockPages(topIndexPayloadBytes(entries.map((entry) => entry.lastKey))) * RUN_PAGE_BYTES;
  const filterOffset = topOffset + topLength;
  const filterBlocks: Buffer[] = [];
  let keyStart = 0;
  let offset = filterOffset;
  for (const [number, entry] of entries.entries()) {
    const { block, payloadBytes } = await filters.take(number, entry.keyCount);
    entry.filterOffset = offset;
    entry.filterLength = block.length;
    entry.filterChecksum = sealBlock(hash, block, payloadBytes, entry.keyCount, { runId, generation, offset, kind: BlockKind.filter });
    onBlockSealed?.({ kind: 'filter', offset, bytes: block, payloadBytes, entryCount: entry.keyCount });
    filterBlocks.push(block);
    keyStart += entry.keyCount;
    offset += block.length;
  }
  assert(keyStart === keyCount, 'the partitions hold every distinct key once');
  const { block: topBlock, payloadBytes: topPayloadBytes } = encodeTopIndex(entries);
  assert(topBlock.length === topLength, 'the top-level index has the size its offsets assumed');
  const topChecksum = sealBlock(hash, topBlock, topPayloadBytes, entries.length, { runId, generation, offset: topOffset, kind: BlockKind.topIndex });
  await output.append(topBlock);
  for (const filter of filterBlocks) await output.append(filter);
  assert(output.offset === offset, 'filter partitions end the logical area');
  return { topOffset, topLength, topChecksum, filterOffset, filterLength: offset - filterOffset };
}
