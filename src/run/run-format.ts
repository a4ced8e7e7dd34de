/**
 * The bytes of a run file (docs/FORMAT.md, "Run file"): constants, the block header,
 * the address-bound checksum and the footer page.
 *
 * A run file is a sequence of RUN_PAGE_BYTES pages. Its blocks are laid out in
 * logical pages (format 3, partitioned; src/run/run-top-index.ts):
 *   [data block]... [index partition]... [top-level index] [filter partition]...
 * or (format 2, still read: the flat path):
 *   [data block]... [index block] [filter block]
 * which are stored in stripes of K data pages plus one XOR parity page (the last
 * stripe padded with zero pages; src/stripe/stripe-layout.ts), then the footer page.
 * Offsets in the index, the footer and the checksums are logical offsets, except
 * the footer's own, which is its physical offset (the file's last page).
 * Every block starts at a page boundary and is a whole number of pages, except the
 * data blocks of a format-4 run (compressed, packed back to back; the page after the
 * last one is padded with zeros, so the index partitions start on a page). Every block
 * (footer included) starts with a u64 checksum of the rest of the block, bound to the
 * block's address (runId, byte offset, generation, block kind): a block copied to
 * another offset, another run, or left over from an older write of the same name
 * fails its check even though its bytes are self-consistent.
 *
 * Invariants: offsets and lengths are multiples of RUN_PAGE_BYTES (format 4: but for
 * its data blocks); a parent always
 * holds its children's checksums (manifest -> footer -> index, filter -> data blocks).
 */
import { Buffer } from 'node:buffer';
import { CorruptionError, UnsupportedFormatError } from '../errors.js';
import { KEY_BYTES_MAX, VERSION_MAX } from '../limits.js';
import { STRIPE_DATA_PAGES_MAX, STRIPE_DATA_PAGES_MIN } from '../stripe/parity.js';
import { assert } from '../util/assert.js';
import { readUint64, writeUint64, type Hash64 } from '../wal/wal-format.js';

/** Page size of a run file: every block is page-aligned and a whole number of pages. */
export const RUN_PAGE_BYTES = 4096;
/**
 * 5: partitioned index and filter under a top-level index, whose filter partitions
 * name their filter kind (the cache-line-blocked filter, docs/FORMAT.md "Filter
 * block"); 6: format 5 whose compressed data blocks are packed back to back (not
 * padded to pages). Read, never written: 3 and 4 (the same layouts, every filter of
 * kind 0, the header's probe count a u32) and 2 (striped with parity, optional block
 * compression, one flat index and filter block) (docs/FORMAT.md changelog). The
 * writer writes RUN_FORMAT_VERSION for uncompressed runs and RUN_FORMAT_VERSION_PACKED
 * for compressed ones (runFormatVersionFor). A new version and not only a new filter
 * kind: code from before the blocked filter refuses such a run at open ("unsupported
 * run format version") instead of calling its filter corrupt at the first read.
 */
export const RUN_FORMAT_VERSION = 5;
/** The last format with one flat index block and one filter block (read, never written). */
export const RUN_FORMAT_VERSION_FLAT = 2;
/** Format 5 with packed compressed data blocks: a data block is its header and payload, the next starts right after it. */
export const RUN_FORMAT_VERSION_PACKED = 6;
/** Format 5 before filter kinds: every filter is kind 0 (read, never written). */
export const RUN_FORMAT_VERSION_KIND_0 = 3;
/** Format 6 before filter kinds: every filter is kind 0 (read, never written). */
export const RUN_FORMAT_VERSION_PACKED_KIND_0 = 4;

/** The highest run format version this code reads; a whole footer of a higher one is a newer release's run (UnsupportedFormatError). */
const RUN_FORMAT_VERSION_NEWEST = Math.max(RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_PACKED);

/** The format version a run of `compression` is written with. */
export function runFormatVersionFor(compression: RunCompressionValue): number {
  return compression === RunCompression.none ? RUN_FORMAT_VERSION : RUN_FORMAT_VERSION_PACKED;
}

/** True for the partitioned formats (3 to 6): a top-level index over index and filter partitions. */
export function isPartitionedFormat(formatVersion: number): boolean {
  return formatVersion >= RUN_FORMAT_VERSION_KIND_0 && formatVersion <= RUN_FORMAT_VERSION_PACKED;
}

/** True when data blocks are packed (formats 4 and 6): their offsets and lengths are any byte count, not whole pages. */
export function hasPackedDataBlocks(footer: { formatVersion: number }): boolean {
  return footer.formatVersion === RUN_FORMAT_VERSION_PACKED || footer.formatVersion === RUN_FORMAT_VERSION_PACKED_KIND_0;
}

/** True when filter partitions may name a filter kind other than 0 (formats 5 and 6). */
export function hasFilterKinds(formatVersion: number): boolean {
  return formatVersion === RUN_FORMAT_VERSION || formatVersion === RUN_FORMAT_VERSION_PACKED;
}
/**
 * Target payload of an index partition: one page. A partition is cut before the
 * entry that would pass it, but only between two blocks that do not share a key
 * (a key never spans partitions), so a partition of a key with very many versions
 * can be larger (more pages).
 */
export const RUN_INDEX_PARTITION_TARGET_BYTES = 4096 - 16;
/** `LBUGRUN\0` */
export const RUN_FOOTER_MAGIC = Buffer.from('LBUGRUN\0', 'latin1');
/** Block header: u64 checksum, u32 payload length, u32 entry count. */
export const RUN_BLOCK_HEADER_BYTES = 16;
export const RUN_CHECKSUM_BYTES = 8;
/** Filter payload header: u32 bit count, u16 probe count, u16 filter kind (src/run/bloom-filter.ts FilterKind; docs/FORMAT.md, "Filter block"). */
export const RUN_FILTER_HEADER_BYTES = 8;
/** The writer hands the file system chunks of about this size (bounded memory). */
export const RUN_WRITE_CHUNK_BYTES = 1024 * 1024;
/** Entry kinds inside a data block. */
export const RUN_ENTRY_PUT = 1;
export const RUN_ENTRY_DELETE = 2;
/** Fixed part of an entry: u16 key length, u8 kind, u64 version (the key and a put's u32 length + value follow). */
export const RUN_ENTRY_FIXED_BYTES = 2 + 1 + 8;
export const RUN_ENTRY_VALUE_LENGTH_BYTES = 4;
/** Largest payload of one block (the u32 payload length and the u32 offsets in an index). */
export const RUN_BLOCK_BYTES_MAX = 2 ** 31;

/** Block kinds, mixed into each block's checksum so one kind cannot pass for another. */
export const BlockKind = { data: 1, index: 2, filter: 3, footer: 4, topIndex: 5 } as const;
export type BlockKindValue = (typeof BlockKind)[keyof typeof BlockKind];

/** Data block compression, stored in the footer (the cold tier writes compressed runs). */
export const RunCompression = { none: 0, gzip: 1, brotli: 2, deflate: 3 } as const;
export type RunCompressionName = keyof typeof RunCompression;
export type RunCompressionValue = (typeof RunCompression)[RunCompressionName];
export const RUN_COMPRESSION_NAMES: readonly RunCompressionName[] = ['none', 'gzip', 'brotli', 'deflate'];

// Footer page layout (offsets inside the last page).
const FOOTER_MAGIC = 8;
const FOOTER_VERSION = 16;
const FOOTER_GENERATION = 20;
const FOOTER_RUN_ID = 24;
const FOOTER_LEVEL = 32;
const FOOTER_STRIPE_DATA_PAGES = 36;
const FOOTER_INDEX_OFFSET = 40;
const FOOTER_INDEX_LENGTH = 48;
const FOOTER_COMPRESSION = 52;
const FOOTER_INDEX_CHECKSUM = 56;
const FOOTER_FILTER_OFFSET = 64;
const FOOTER_FILTER_LENGTH = 72;
const FOOTER_FILTER_CHECKSUM = 80;
const FOOTER_ENTRY_COUNT = 88;
const FOOTER_KEY_COUNT = 96;
const FOOTER_MIN_VERSION = 104;
const FOOTER_MAX_VERSION = 112;
const FOOTER_DATA_BLOCK_COUNT = 120;
const FOOTER_SMALLEST_KEY = 128;
const FOOTER_LARGEST_KEY = FOOTER_SMALLEST_KEY + 2 + KEY_BYTES_MAX;
const FOOTER_USED_BYTES = FOOTER_LARGEST_KEY + 2 + KEY_BYTES_MAX;

assert(FOOTER_USED_BYTES <= RUN_PAGE_BYTES, 'the footer fits one page');
assert(RUN_INDEX_PARTITION_TARGET_BYTES + RUN_BLOCK_HEADER_BYTES === RUN_PAGE_BYTES, 'an index partition of the target size is one page');
assert(RUN_WRITE_CHUNK_BYTES % RUN_PAGE_BYTES === 0, 'write chunks are whole pages');
assert(RUN_BLOCK_HEADER_BYTES + RUN_ENTRY_FIXED_BYTES + KEY_BYTES_MAX < RUN_PAGE_BYTES, 'a key fits one page');

export interface BlockAddress {
  runId: number;
  generation: number;
  offset: number;
  kind: BlockKindValue;
}

const addressScratch = Buffer.alloc(32);
const addressScratchView = new DataView(addressScratch.buffer, addressScratch.byteOffset, addressScratch.length);
/** A sealed block's checksum field, little-endian, before it is copied into the block. */
const checksumScratch = new Uint8Array(RUN_CHECKSUM_BYTES);
const checksumScratchView = new DataView(checksumScratch.buffer);

/**
 * The checksum of a block (the whole block, pages and padding included, header
 * checksum field excluded) bound to its address:
 * xxHash64( xxHash64(block[8..]) u64 | runId u64 | offset u64 | generation u32 | kind u32 ).
 */
export function blockChecksum(hash: Hash64, block: Uint8Array, address: BlockAddress): bigint {
  // A plain view (Buffer#subarray goes through the species lookup); the checksum is written
  // through a DataView: Buffer#writeBigUInt64LE splits it with BigInt `&` and `>>`, two heap
  // BigInts per write, and a flush of 4 KiB values seals a block per entry.
  const inner = hash(new Uint8Array(block.buffer, block.byteOffset + RUN_CHECKSUM_BYTES, block.length - RUN_CHECKSUM_BYTES));
  addressScratchView.setBigUint64(0, inner, true);
  writeUint64(addressScratch, address.runId, 8);
  writeUint64(addressScratch, address.offset, 16);
  addressScratch.writeUInt32LE(address.generation, 24);
  addressScratch.writeUInt32LE(address.kind, 28);
  return hash(addressScratch);
}

/** Pages needed for a block with `payloadBytes` of payload. */
export function blockPages(payloadBytes: number): number {
  return Math.max(1, Math.ceil((RUN_BLOCK_HEADER_BYTES + payloadBytes) / RUN_PAGE_BYTES));
}

/** Fills in the header (payload length, entry count, checksum) of a block laid out in `block`. */
export function sealBlock(hash: Hash64, block: Buffer, payloadBytes: number, entryCount: number, address: BlockAddress, packed = false): bigint {
  assert(packed ? block.length === RUN_BLOCK_HEADER_BYTES + payloadBytes : block.length % RUN_PAGE_BYTES === 0, 'a block is a whole number of pages (a packed one: exactly its header and payload)');
  assert(RUN_BLOCK_HEADER_BYTES + payloadBytes <= block.length, 'payload fits the block');
  block.writeUInt32LE(payloadBytes, 8);
  block.writeUInt32LE(entryCount, 12);
  const checksum = blockChecksum(hash, block, address);
  // The checksum field through a DataView (no BigInt split), then its 8 bytes copied.
  checksumScratchView.setBigUint64(0, checksum, true);
  block.set(checksumScratch, 0);
  return checksum;
}

/**
 * Checks a block read from `file` against the checksum its parent holds, and its
 * header; returns the payload length and entry count. Throws CorruptionError.
 */
export function checkBlock(
  hash: Hash64,
  file: string,
  block: Buffer,
  address: BlockAddress,
  expectedChecksum: bigint,
): { payloadBytes: number; entryCount: number } {
  const computed = blockChecksum(hash, block, address);
  if (computed !== expectedChecksum) {
    throw new CorruptionError(file, address.offset, `block checksum mismatch (kind ${address.kind})`);
  }
  if (block.readBigUInt64LE(0) !== computed) {
    throw new CorruptionError(file, address.offset, 'block header checksum differs from its parent');
  }
  const payloadBytes = block.readUInt32LE(8);
  const entryCount = block.readUInt32LE(12);
  if (RUN_BLOCK_HEADER_BYTES + payloadBytes > block.length) {
    throw new CorruptionError(file, address.offset, 'block payload length exceeds the block');
  }
  return { payloadBytes, entryCount };
}

export interface RunFooter {
  /** RUN_FORMAT_VERSION (3: index* fields name the top-level index, filter* the filter partitions' area, filterChecksum 0) or RUN_FORMAT_VERSION_FLAT. */
  formatVersion: number;
  runId: number;
  generation: number;
  level: number;
  indexOffset: number;
  indexLength: number;
  indexChecksum: bigint;
  filterOffset: number;
  filterLength: number;
  filterChecksum: bigint;
  entryCount: number;
  keyCount: number;
  minVersion: number;
  maxVersion: number;
  dataBlockCount: number;
  smallestKey: string;
  largestKey: string;
  /** K: data pages per stripe (each stripe adds one parity page). */
  stripeDataPages: number;
  compression: RunCompressionValue;
}

function writeKey(page: Buffer, key: string, offset: number): void {
  assert(key.length <= KEY_BYTES_MAX, 'footer key within KEY_BYTES_MAX');
  page.writeUInt16LE(key.length, offset);
  page.write(key, offset + 2, 'latin1');
}

/** Encodes the footer page at file offset `offset`; returns the page and its checksum (the descriptor's footerChecksum). */
export function encodeFooter(hash: Hash64, footer: RunFooter, offset: number): { page: Buffer; checksum: bigint } {
  assert(footer.formatVersion === runFormatVersionFor(footer.compression), 'the writer writes the current run format for its compression only');
  const page = footerFields(footer);
  const checksum = blockChecksum(hash, page, { runId: footer.runId, generation: footer.generation, offset, kind: BlockKind.footer });
  page.writeBigUInt64LE(checksum, 0);
  return { page, checksum };
}

/**
 * The footer page of `footer` without its checksum (bytes 0..7 zero): every field, zero
 * reserved bytes and key padding, for any format version. Scrub rebuilds a damaged footer
 * from the open reader's decoded copy with it, and writes it only if its checksum is the
 * manifest's (src/run/run-scrub.ts).
 */
export function footerFields(footer: RunFooter): Buffer {
  const page = Buffer.alloc(RUN_PAGE_BYTES);
  RUN_FOOTER_MAGIC.copy(page, FOOTER_MAGIC);
  page.writeUInt32LE(footer.formatVersion, FOOTER_VERSION);
  page.writeUInt32LE(footer.generation, FOOTER_GENERATION);
  writeUint64(page, footer.runId, FOOTER_RUN_ID);
  page.writeUInt32LE(footer.level, FOOTER_LEVEL);
  page.writeUInt32LE(footer.stripeDataPages, FOOTER_STRIPE_DATA_PAGES);
  page.writeUInt32LE(footer.compression, FOOTER_COMPRESSION);
  writeUint64(page, footer.indexOffset, FOOTER_INDEX_OFFSET);
  page.writeUInt32LE(footer.indexLength, FOOTER_INDEX_LENGTH);
  page.writeBigUInt64LE(footer.indexChecksum, FOOTER_INDEX_CHECKSUM);
  writeUint64(page, footer.filterOffset, FOOTER_FILTER_OFFSET);
  page.writeUInt32LE(footer.filterLength, FOOTER_FILTER_LENGTH);
  page.writeBigUInt64LE(footer.filterChecksum, FOOTER_FILTER_CHECKSUM);
  writeUint64(page, footer.entryCount, FOOTER_ENTRY_COUNT);
  writeUint64(page, footer.keyCount, FOOTER_KEY_COUNT);
  writeUint64(page, footer.minVersion, FOOTER_MIN_VERSION);
  writeUint64(page, footer.maxVersion, FOOTER_MAX_VERSION);
  page.writeUInt32LE(footer.dataBlockCount, FOOTER_DATA_BLOCK_COUNT);
  writeKey(page, footer.smallestKey, FOOTER_SMALLEST_KEY);
  writeKey(page, footer.largestKey, FOOTER_LARGEST_KEY);
  return page;
}

export interface ExpectedFooter {
  runId: number;
  generation: number;
  checksum: bigint;
  fileBytes: number;
}

/** Decodes and checks the footer page read from offset `offset` of `file`. Throws CorruptionError. */
export function decodeFooter(hash: Hash64, file: string, page: Buffer, offset: number, expected: ExpectedFooter): RunFooter {
  const corrupt = (reason: string) => new CorruptionError(file, offset, reason);
  const computed = blockChecksum(hash, page, { runId: expected.runId, generation: expected.generation, offset, kind: BlockKind.footer });
  if (!page.subarray(FOOTER_MAGIC, FOOTER_MAGIC + 8).equals(RUN_FOOTER_MAGIC)) throw corrupt('bad run footer magic');
  const formatVersion = page.readUInt32LE(FOOTER_VERSION);
  if (!isPartitionedFormat(formatVersion) && formatVersion !== RUN_FORMAT_VERSION_FLAT) {
    // A later version in a footer whose checksum is the manifest's: a newer release's run, not damage.
    if (formatVersion > RUN_FORMAT_VERSION_NEWEST && computed === expected.checksum && page.readBigUInt64LE(0) === computed) {
      throw new UnsupportedFormatError(file, offset, `run format version ${formatVersion}`, `run format versions ${RUN_FORMAT_VERSION_FLAT} to ${RUN_FORMAT_VERSION_NEWEST}`);
    }
    throw corrupt(`unsupported run format version ${formatVersion}`);
  }
  if (readUint64(page, FOOTER_RUN_ID) !== expected.runId) throw corrupt(`footer names run ${readUint64(page, FOOTER_RUN_ID)}, expected ${expected.runId}`);
  if (page.readUInt32LE(FOOTER_GENERATION) !== expected.generation) throw corrupt('footer generation differs from the manifest (an older file?)');
  if (computed !== expected.checksum || page.readBigUInt64LE(0) !== computed) throw corrupt('footer checksum mismatch');
  const footer: RunFooter = {
    formatVersion,
    runId: expected.runId,
    generation: expected.generation,
    level: page.readUInt32LE(FOOTER_LEVEL),
    indexOffset: readUint64(page, FOOTER_INDEX_OFFSET),
    indexLength: page.readUInt32LE(FOOTER_INDEX_LENGTH),
    indexChecksum: page.readBigUInt64LE(FOOTER_INDEX_CHECKSUM),
    filterOffset: readUint64(page, FOOTER_FILTER_OFFSET),
    filterLength: page.readUInt32LE(FOOTER_FILTER_LENGTH),
    filterChecksum: page.readBigUInt64LE(FOOTER_FILTER_CHECKSUM),
    entryCount: readUint64(page, FOOTER_ENTRY_COUNT),
    keyCount: readUint64(page, FOOTER_KEY_COUNT),
    minVersion: readUint64(page, FOOTER_MIN_VERSION),
    maxVersion: readUint64(page, FOOTER_MAX_VERSION),
    dataBlockCount: page.readUInt32LE(FOOTER_DATA_BLOCK_COUNT),
    smallestKey: readFooterKey(page, FOOTER_SMALLEST_KEY, corrupt),
    largestKey: readFooterKey(page, FOOTER_LARGEST_KEY, corrupt),
    stripeDataPages: page.readUInt32LE(FOOTER_STRIPE_DATA_PAGES),
    compression: readCompression(page.readUInt32LE(FOOTER_COMPRESSION), corrupt),
  };
  checkFooterLayout(footer, offset, expected.fileBytes, corrupt);
  return footer;
}

function readCompression(value: number, corrupt: (reason: string) => CorruptionError): RunCompressionValue {
  if (value !== RunCompression.none && value !== RunCompression.gzip && value !== RunCompression.brotli && value !== RunCompression.deflate) throw corrupt(`unknown compression ${value}`);
  return value;
}

function readFooterKey(page: Buffer, offset: number, corrupt: (reason: string) => CorruptionError): string {
  const length = page.readUInt16LE(offset);
  if (length > KEY_BYTES_MAX) throw corrupt('footer key length over KEY_BYTES_MAX');
  return page.toString('latin1', offset + 2, offset + 2 + length);
}

/** The checksum passed, so these only catch a writer bug; they keep reads inside the file. */
function checkFooterLayout(footer: RunFooter, footerOffset: number, fileBytes: number, corrupt: (reason: string) => CorruptionError): void {
  const logicalEnd = footer.filterOffset + footer.filterLength;
  const inFile = (start: number, length: number) =>
    start % RUN_PAGE_BYTES === 0 && length > 0 && length % RUN_PAGE_BYTES === 0 && start + length <= logicalEnd;
  if (footerOffset + RUN_PAGE_BYTES !== fileBytes) throw corrupt('footer is not the last page');
  if (footer.stripeDataPages < STRIPE_DATA_PAGES_MIN || footer.stripeDataPages > STRIPE_DATA_PAGES_MAX) throw corrupt(`bad stripe width ${footer.stripeDataPages}`);
  if (!inFile(footer.indexOffset, footer.indexLength)) throw corrupt('index block outside the file');
  if (isPartitionedFormat(footer.formatVersion) && footer.filterChecksum !== 0n) throw corrupt('format 3 footer with a filter checksum');
  if (hasPackedDataBlocks(footer) && footer.compression === RunCompression.none) throw corrupt('format 4 footer of an uncompressed run');
  if (!inFile(footer.filterOffset, footer.filterLength)) throw corrupt('filter block outside the file');
  if (footer.indexOffset + footer.indexLength !== footer.filterOffset) throw corrupt('filter does not follow the index');
  const stripes = Math.max(1, Math.ceil(logicalEnd / RUN_PAGE_BYTES / footer.stripeDataPages));
  if (stripes * (footer.stripeDataPages + 1) * RUN_PAGE_BYTES !== footerOffset) throw corrupt('striped area does not end at the footer');
  if (footer.minVersion > footer.maxVersion || footer.maxVersion > VERSION_MAX) throw corrupt('bad version range');
  if (footer.keyCount > footer.entryCount || footer.keyCount === 0) throw corrupt('bad entry or key count');
}

/** 16 lowercase hex digits, the form RunDescriptor.footerChecksum uses. */
export function checksumHex(checksum: bigint): string {
  return checksum.toString(16).padStart(16, '0');
}

export function parseChecksumHex(text: string): bigint {
  assert(/^[0-9a-f]{16}$/.test(text), `footerChecksum is 16 lowercase hex digits: ${text}`);
  return BigInt(`0x${text}`);
}

/** `<runId padded to 10 digits>.run` */
export function runFileName(runId: number): string {
  assert(Number.isSafeInteger(runId) && runId >= 0, `runId is a non-negative safe integer: ${runId}`);
  return `${String(runId).padStart(10, '0')}.run`;
}
