/**
 * What RunReader.open reads before any data block (docs/FORMAT.md, "Run file"): the
 * footer page, then (format 2) the index block and the filter block or (format 3)
 * the top-level index, each checked against its parent (the descriptor's footer
 * checksum, then the footer's checksums), and the footer's agreement with the
 * manifest's descriptor; and the decoding of a format-3 run's index and filter
 * partitions (checked against the top-level index) when a read needs them.
 *
 * Invariants: nothing is returned before its checksum matched; a disagreement is a
 * CorruptionError naming the file and the block's offset.
 */
import type { Buffer } from 'node:buffer';
import { asTypedError, CorruptionError } from '../errors.js';
import type { FileHandle } from '../fs/file-system.js';
import type { StripeLayout } from '../stripe/stripe-layout.js';
import { BLOCKED_BLOOM_BLOCK_BITS, FilterKind, RUN_BLOOM_PROBES_MAX, type FilterKindValue } from './bloom-filter.js';
import type { RunDescriptor } from './run-descriptor.js';
import type { BlockRef, StripedRunFile } from './run-file.js';
import type { CheckedBlock } from './run-file.js';
import { BlockKind, hasFilterKinds, RUN_BLOCK_HEADER_BYTES, RUN_FILTER_HEADER_BYTES, isPartitionedFormat, RUN_PAGE_BYTES, type RunFooter } from './run-format.js';
import { RunIndex } from './run-index.js';
import { TopLevelIndex } from './run-top-index.js';

/** A decoded bloom filter (a format-2 filter block or a format-3 filter partition) of the kind its header names. */
export interface RunFilter {
  readonly bits: Uint8Array;
  readonly probes: number;
  readonly kind: FilterKindValue;
}

/** Heap cost of a cached filter partition beyond its bits (the object, the typed array). */
export const FILTER_PARTITION_OVERHEAD_BYTES = 240;

export function checkDescriptorAgrees(path: string, footerOffset: number, footer: RunFooter, descriptor: RunDescriptor): void {
  const agrees =
    footer.level === descriptor.level &&
    footer.entryCount === descriptor.entryCount &&
    footer.keyCount === descriptor.keyCount &&
    footer.minVersion === descriptor.minVersion &&
    footer.maxVersion === descriptor.maxVersion &&
    footer.smallestKey === descriptor.smallestKey &&
    footer.largestKey === descriptor.largestKey;
  if (!agrees) throw new CorruptionError(path, footerOffset, 'footer disagrees with the manifest descriptor');
}

export async function readPage(handle: FileHandle, path: string, page: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < page.length) {
    let count: number;
    try {
      count = await handle.read(page, done, page.length - done, position + done);
    } catch (error) {
      throw asTypedError(error, `reading ${path} at offset ${position + done}`);
    }
    if (count === 0) throw new CorruptionError(path, position + done, `short read: ${page.length - done} bytes missing`);
    done += count;
  }
}

/** Format 2: the index and the filter block, as the footer describes them; format 3: the top-level index. */
export function metadataBlocks(footer: RunFooter): BlockRef[] {
  if (isPartitionedFormat(footer.formatVersion)) {
    return [{ logicalOffset: footer.indexOffset, lengthBytes: footer.indexLength, kind: BlockKind.topIndex, checksum: footer.indexChecksum }];
  }
  return [
    { logicalOffset: footer.indexOffset, lengthBytes: footer.indexLength, kind: BlockKind.index, checksum: footer.indexChecksum },
    { logicalOffset: footer.filterOffset, lengthBytes: footer.filterLength, kind: BlockKind.filter, checksum: footer.filterChecksum },
  ];
}

export function overlapsStripe(layout: StripeLayout, block: BlockRef, stripe: number): boolean {
  const stripeStart = stripe * layout.stripeDataPages * RUN_PAGE_BYTES;
  const stripeEnd = stripeStart + layout.stripeDataPages * RUN_PAGE_BYTES;
  return block.logicalOffset < stripeEnd && block.logicalOffset + block.lengthBytes > stripeStart;
}

export async function readIndex(file: StripedRunFile, footer: RunFooter, repair: boolean): Promise<RunIndex> {
  const path = file.path;
  const { bytes: block, payloadBytes, entryCount } = await file.readBlock(metadataBlocks(footer)[0] as BlockRef, repair);
  if (entryCount !== footer.dataBlockCount) throw new CorruptionError(path, footer.indexOffset, 'index block count differs from the footer');
  const payload = block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes);
  return RunIndex.decode(path, footer.indexOffset, payload, entryCount, 0, footer.indexOffset);
}

export async function readFilter(file: StripedRunFile, footer: RunFooter, repair: boolean): Promise<RunFilter> {
  return decodeFilter(file.path, footer.filterOffset, await file.readBlock(metadataBlocks(footer)[1] as BlockRef, repair), footer.keyCount, footer.formatVersion);
}

/**
 * Decodes a checked filter block or partition holding `keyCount` distinct keys (the
 * bits are copied out). Its payload header: u32 bit count, u16 probe count, u16
 * filter kind (docs/FORMAT.md, "Filter block"; kind 0 in every run written before
 * the blocked filter, whose u32 probe count was at most 32, so its high half was 0).
 * Only formats 5 and 6 (hasFilterKinds) may name a kind other than 0.
 */
export function decodeFilter(path: string, offset: number, checked: CheckedBlock, keyCount: number, formatVersion: number): RunFilter {
  const { bytes: block, payloadBytes, entryCount } = checked;
  const bitCount = block.readUInt32LE(RUN_BLOCK_HEADER_BYTES);
  const probes = block.readUInt16LE(RUN_BLOCK_HEADER_BYTES + 4);
  const kind = block.readUInt16LE(RUN_BLOCK_HEADER_BYTES + 6);
  if (kind !== FilterKind.doubleHashing && kind !== FilterKind.cacheLineBlocked) throw new CorruptionError(path, offset, `unknown filter kind ${kind}`);
  if (kind !== FilterKind.doubleHashing && !hasFilterKinds(formatVersion)) throw new CorruptionError(path, offset, `filter kind ${kind} in a run of format ${formatVersion}`);
  const wholeUnits = kind === FilterKind.cacheLineBlocked ? bitCount % BLOCKED_BLOOM_BLOCK_BITS === 0 : bitCount % 8 === 0;
  if (entryCount !== keyCount || bitCount === 0 || !wholeUnits || payloadBytes !== RUN_FILTER_HEADER_BYTES + bitCount / 8 || probes === 0 || probes > RUN_BLOOM_PROBES_MAX) {
    throw new CorruptionError(path, offset, 'filter block header disagrees with its parent');
  }
  const bits = new Uint8Array(bitCount / 8);
  bits.set(block.subarray(RUN_BLOCK_HEADER_BYTES + RUN_FILTER_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes));
  return { bits, probes, kind };
}

/** Format 3: reads and decodes the top-level index the footer names. */
export async function readTopIndex(file: StripedRunFile, footer: RunFooter, repair: boolean): Promise<TopLevelIndex> {
  const { bytes: block, payloadBytes, entryCount } = await file.readBlock(metadataBlocks(footer)[0] as BlockRef, repair);
  return TopLevelIndex.decode(file.path, footer, block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes), entryCount);
}

/** Format 3: index partition `partition` as its top-level entry describes it. */
export function indexPartitionRef(top: TopLevelIndex, partition: number): BlockRef {
  return { logicalOffset: top.indexOffset(partition), lengthBytes: top.indexLength(partition), kind: BlockKind.index, checksum: top.indexChecksum(partition) };
}

/** Format 3: filter partition `partition` as its top-level entry describes it. */
export function filterPartitionRef(top: TopLevelIndex, partition: number): BlockRef {
  return { logicalOffset: top.filterOffset(partition), lengthBytes: top.filterLength(partition), kind: BlockKind.filter, checksum: top.filterChecksum(partition) };
}

/** Format 3: every index and filter partition (in file order: the index partitions, then the filter partitions). */
export function partitionBlocks(top: TopLevelIndex): BlockRef[] {
  const blocks: BlockRef[] = [];
  for (let partition = 0; partition < top.count; partition++) blocks.push(indexPartitionRef(top, partition));
  for (let partition = 0; partition < top.count; partition++) blocks.push(filterPartitionRef(top, partition));
  return blocks;
}

/** Decodes a checked index partition and checks it against its top-level entry. */
export function decodeIndexPartition(path: string, top: TopLevelIndex, partition: number, checked: CheckedBlock): RunIndex {
  const offset = top.indexOffset(partition);
  if (checked.entryCount !== top.blockCount(partition)) throw new CorruptionError(path, offset, 'index partition block count differs from the top-level index');
  const payload = checked.bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + checked.payloadBytes);
  const index = RunIndex.decode(path, offset, payload, checked.entryCount, top.dataOffset(partition), top.dataEnd(partition), top.packedData);
  if (index.compareLastKey(top.lastKey(partition), index.blockCount - 1) !== 0) throw new CorruptionError(path, offset, 'index partition last key differs from the top-level index');
  return index;
}
