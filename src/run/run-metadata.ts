/**
 * What RunReader.open reads before any data block (docs/FORMAT.md, "Run file"): the
 * footer page, the index block and the filter block, each checked against its
 * parent (the descriptor's footer checksum, then the footer's index and filter
 * checksums), and the footer's agreement with the manifest's descriptor.
 *
 * Invariants: nothing is returned before its checksum matched; a disagreement is a
 * CorruptionError naming the file and the block's offset.
 */
import type { Buffer } from 'node:buffer';
import { asTypedError, CorruptionError } from '../errors.js';
import type { FileHandle } from '../fs/file-system.js';
import type { StripeLayout } from '../stripe/stripe-layout.js';
import type { RunDescriptor } from './run-descriptor.js';
import type { BlockRef, StripedRunFile } from './run-file.js';
import { BlockKind, RUN_BLOCK_HEADER_BYTES, RUN_FILTER_HEADER_BYTES, RUN_PAGE_BYTES, type RunFooter } from './run-format.js';
import { RunIndex } from './run-index.js';

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

/** The index and the filter block, as the footer describes them. */
export function metadataBlocks(footer: RunFooter): BlockRef[] {
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
  return RunIndex.decode(path, footer.indexOffset, payload, entryCount, footer.indexOffset);
}

export async function readFilter(file: StripedRunFile, footer: RunFooter, repair: boolean): Promise<{ bits: Uint8Array; probes: number }> {
  const path = file.path;
  const { bytes: block, payloadBytes, entryCount } = await file.readBlock(metadataBlocks(footer)[1] as BlockRef, repair);
  const bitCount = block.readUInt32LE(RUN_BLOCK_HEADER_BYTES);
  const probes = block.readUInt32LE(RUN_BLOCK_HEADER_BYTES + 4);
  if (entryCount !== footer.keyCount || bitCount === 0 || bitCount % 8 !== 0 || payloadBytes !== RUN_FILTER_HEADER_BYTES + bitCount / 8 || probes === 0 || probes > 32) {
    throw new CorruptionError(path, footer.filterOffset, 'filter block header disagrees with the footer');
  }
  const bits = new Uint8Array(bitCount / 8);
  bits.set(block.subarray(RUN_BLOCK_HEADER_BYTES + RUN_FILTER_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes));
  return { bits, probes };
}
