/**
 * Review of the top-level index decode written for cold code (3627446, e7bc48f,
 * e7c5663: fields read with byte arithmetic, last keys compared and copied in place,
 * checksums kept as u32 halves, last-key prefixes read from the bytes). A block
 * checksum stops damage on disk before the decode, so these payloads stand for one
 * sealed wrong: each is flipped at every bit of every byte, truncated at every length,
 * extended, and decoded with a wrong partition count. The decoder must
 *
 * - accept exactly what the decoder before the rewrite (written out below as the
 *   reference, with Buffer methods, strings and BigInts) accepts, with the same
 *   fields (offsets past 2^32, checksums with the high bit set, keys with bytes 0x00
 *   and 0xff), and the prefixes keyPrefix gives each last key;
 * - refuse the rest with CorruptionError at the top-level index's offset, never
 *   another error (a RangeError, an assertion).
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { KEY_BYTES_MAX } from '../src/limits.js';
import { RUN_BLOCK_HEADER_BYTES, RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_PACKED, RUN_PAGE_BYTES, RunCompression, type RunFooter } from '../src/run/run-format.js';
import { keyPrefix } from '../src/run/run-partitions.js';
import { encodeTopIndex, type PartitionEntry, TOP_INDEX_ENTRY_FIXED_BYTES, TopLevelIndex } from '../src/run/run-top-index.js';

const PAGE = RUN_PAGE_BYTES;
const FILE = 'runs/0000000042.run';

/** Partitions with these last keys; data spans `dataStride` apart (past 2^32 when large); packed: unaligned data offsets. */
function layout(keys: readonly string[], dataStride: number, packed: boolean): { entries: PartitionEntry[]; footer: RunFooter } {
  const count = keys.length;
  const indexStart = count * dataStride + (packed ? PAGE : 0);
  const indexLengths = keys.map((_, partition) => PAGE * (1 + (partition % 2)));
  const indexEnd = indexStart + indexLengths.reduce((sum, length) => sum + length, 0);
  const filterStart = indexEnd + 2 * PAGE;
  let indexOffset = indexStart;
  let filterOffset = filterStart;
  const entries = keys.map((lastKey, partition) => {
    const entry: PartitionEntry = {
      lastKey,
      dataOffset: partition * dataStride + (packed && partition > 0 ? 37 * partition : 0),
      blockCount: 3 + partition,
      keyCount: 0x8000_0000 + partition,
      indexOffset,
      indexLength: indexLengths[partition]!,
      indexChecksum: 0xfedc_ba98_7654_3210n ^ BigInt(partition),
      filterOffset,
      filterLength: PAGE * (partition + 1),
      filterChecksum: 0x8123_4567_89ab_cdefn + BigInt(partition),
    };
    indexOffset += entry.indexLength;
    filterOffset += entry.filterLength;
    return entry;
  });
  const footer: RunFooter = {
    formatVersion: packed ? RUN_FORMAT_VERSION_PACKED : RUN_FORMAT_VERSION,
    runId: 42,
    generation: 2,
    level: 1,
    indexOffset: indexEnd,
    indexLength: 2 * PAGE,
    indexChecksum: 0n,
    filterOffset: filterStart,
    filterLength: filterOffset - filterStart,
    filterChecksum: 0n,
    entryCount: 1000,
    keyCount: entries.reduce((sum, entry) => sum + entry.keyCount, 0),
    minVersion: 1,
    maxVersion: 1000,
    dataBlockCount: entries.reduce((sum, entry) => sum + entry.blockCount, 0),
    smallestKey: '\u0001',
    largestKey: keys[count - 1]!,
    stripeDataPages: 16,
    compression: packed ? RunCompression.deflate : RunCompression.none,
  };
  return { entries, footer };
}

function payloadOf(entries: readonly PartitionEntry[]): Buffer {
  const { block, payloadBytes } = encodeTopIndex(entries);
  return Buffer.from(block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes));
}

/** The decoder before 3627446 (Buffer methods, a string per key, BigInt checksums), as a verdict: its entries or its reason. */
function referenceDecode(footer: RunFooter, payload: Buffer, count: number): PartitionEntry[] | string {
  const packed = footer.formatVersion === RUN_FORMAT_VERSION_PACKED;
  if (count === 0) return 'no partitions';
  const entries: PartitionEntry[] = [];
  let position = 0;
  let blocks = 0;
  let keys = 0;
  let previousKey: string | undefined;
  let expectedFilterOffset = footer.filterOffset;
  const pageAligned = (value: number): boolean => value % PAGE === 0;
  for (let partition = 0; partition < count; partition++) {
    if (position + TOP_INDEX_ENTRY_FIXED_BYTES > payload.length) return 'entry past the payload';
    const keyLength = payload.readUInt16LE(position);
    if (keyLength === 0 || keyLength > KEY_BYTES_MAX || position + TOP_INDEX_ENTRY_FIXED_BYTES + keyLength > payload.length) return 'bad key length';
    const key = payload.toString('latin1', position + 2, position + 2 + keyLength);
    if (previousKey !== undefined && key <= previousKey) return 'last keys not strictly increasing';
    position += 2 + keyLength;
    const u64 = (at: number): number => payload.readUInt32LE(at) + payload.readUInt32LE(at + 4) * 2 ** 32;
    const entry: PartitionEntry = {
      lastKey: key,
      dataOffset: u64(position),
      blockCount: payload.readUInt32LE(position + 8),
      keyCount: payload.readUInt32LE(position + 12),
      indexOffset: u64(position + 16),
      indexLength: payload.readUInt32LE(position + 24),
      indexChecksum: payload.readBigUInt64LE(position + 28),
      filterOffset: u64(position + 36),
      filterLength: payload.readUInt32LE(position + 44),
      filterChecksum: payload.readBigUInt64LE(position + 48),
    };
    position += TOP_INDEX_ENTRY_FIXED_BYTES - 2;
    const previous = entries[partition - 1];
    if (entry.blockCount === 0 || entry.keyCount === 0) return 'empty partition';
    if (previous === undefined ? entry.dataOffset !== 0 : entry.dataOffset <= previous.dataOffset) return 'data spans out of order';
    if ((!packed && !pageAligned(entry.dataOffset)) || !pageAligned(entry.indexOffset) || !pageAligned(entry.indexLength) || entry.indexLength === 0) return 'index partition not whole pages';
    if (previous !== undefined && entry.indexOffset !== previous.indexOffset + previous.indexLength) return 'index partitions not contiguous';
    if (entry.filterOffset !== expectedFilterOffset || !pageAligned(entry.filterLength) || entry.filterLength === 0) return 'filter partitions not contiguous';
    expectedFilterOffset += entry.filterLength;
    blocks += entry.blockCount;
    keys += entry.keyCount;
    previousKey = key;
    entries.push(entry);
  }
  if (position !== payload.length) return 'payload length disagrees with the partition count';
  const last = entries[count - 1]!;
  if (last.dataOffset >= entries[0]!.indexOffset) return 'data spans reach the index partitions';
  if (last.indexOffset + last.indexLength !== footer.indexOffset) return 'index partitions do not end where the top-level index starts';
  if (footer.indexOffset + footer.indexLength !== footer.filterOffset || expectedFilterOffset !== footer.filterOffset + footer.filterLength) return 'filter area disagrees with the footer';
  if (blocks !== footer.dataBlockCount || keys !== footer.keyCount) return 'block or key counts disagree with the footer';
  if (previousKey !== footer.largestKey) return 'last partition does not end with the largest key';
  return entries;
}

/** What the decoder under review gives: the entries read back through every accessor, or the error. */
function decoded(footer: RunFooter, payload: Buffer, count: number): { entries: PartitionEntry[]; top: TopLevelIndex } | { error: unknown } {
  let top: TopLevelIndex;
  try {
    top = TopLevelIndex.decode(FILE, footer, payload, count);
  } catch (error) {
    return { error };
  }
  const entries: PartitionEntry[] = [];
  let firstBlock = 0;
  for (let partition = 0; partition < top.count; partition++) {
    expect(top.firstBlock(partition)).toBe(firstBlock);
    firstBlock += top.blockCount(partition);
    entries.push({
      lastKey: top.lastKey(partition),
      dataOffset: top.dataOffset(partition),
      blockCount: top.blockCount(partition),
      keyCount: top.keyCount(partition),
      indexOffset: top.indexOffset(partition),
      indexLength: top.indexLength(partition),
      indexChecksum: top.indexChecksum(partition),
      filterOffset: top.filterOffset(partition),
      filterLength: top.filterLength(partition),
      filterChecksum: top.filterChecksum(partition),
    });
  }
  return { entries, top };
}

/** Decoder and reference agree on `payload`: the same entries (re-encoding to the payload itself), or both refuse, the decoder with CorruptionError. */
function expectAgreement(footer: RunFooter, payload: Buffer, count: number, where: string): 'accepted' | 'refused' {
  const reference = referenceDecode(footer, payload, count);
  const outcome = decoded(footer, payload, count);
  if (typeof reference === 'string') {
    if (!('error' in outcome)) throw new Error(`${where}: accepted what the reference refuses (${reference})`);
    const error = outcome.error;
    if (!(error instanceof CorruptionError)) throw new Error(`${where}: refused with ${String(error)}, not CorruptionError`);
    expect(error.file).toBe(FILE);
    expect(error.offset).toBe(footer.indexOffset);
    return 'refused';
  }
  if ('error' in outcome) throw new Error(`${where}: refused what the reference accepts: ${String(outcome.error)}`);
  expect(outcome.entries, where).toEqual(reference);
  expect(payloadOf(outcome.entries).equals(payload), where).toBe(true);
  const prefixes = outcome.top.lastKeyPrefixes();
  expect([...prefixes], where).toEqual(outcome.entries.map((entry) => keyPrefix(entry.lastKey)));
  for (let partition = 0; partition < count; partition++) {
    const key = outcome.entries[partition]!.lastKey;
    expect(outcome.top.firstPartitionAtOrAfter(key), where).toBe(partition);
    expect(outcome.top.compareLastKey(key, partition), where).toBe(0);
  }
  return 'accepted';
}

const KEY_SETS: Record<string, readonly string[]> = {
  'short and long keys': ['\u0001', 'ab\u0000c', 'ab\u0000d\u00ff\u00ff', 'k'.repeat(40), 'z'.repeat(KEY_BYTES_MAX)],
  'keys sharing prefixes of 1-4 bytes': ['aaaa', 'aaaa\u0000', 'aaab', 'aab', 'ab', 'b\u00ff\u00ff\u00ff\u00ff'],
};

describe('TopLevelIndex.decode against the decoder before the rewrite', () => {
  for (const [name, keys] of Object.entries(KEY_SETS)) {
    for (const [stride, packed] of [[PAGE, false], [2 ** 33 + PAGE, false], [5 * PAGE, true]] as const) {
      const label = `${name}, data ${stride} bytes a partition${packed ? ', packed' : ''}`;
      it(`${label}: every bit of every byte flipped`, () => {
        const { entries, footer } = layout(keys, stride, packed);
        const payload = payloadOf(entries);
        expect(expectAgreement(footer, payload, entries.length, 'intact')).toBe('accepted');
        let accepted = 0;
        for (let byte = 0; byte < payload.length; byte++) {
          // Bytes deep inside a long key: a sample of bits (the key compare is the same for each).
          const bits = byte > 200 && payload.length - byte > 200 && byte % 13 !== 0 ? [0] : [0, 1, 2, 3, 4, 5, 6, 7];
          for (const bit of bits) {
            payload[byte]! ^= 1 << bit;
            if (expectAgreement(footer, payload, entries.length, `byte ${byte}, bit ${bit}`) === 'accepted') accepted++;
            payload[byte]! ^= 1 << bit;
          }
        }
        // Flips of checksums and of non-last keys that stay in order are accepted (the block's checksum guards them on disk).
        expect(accepted).toBeGreaterThan(100);
      });

      it(`${label}: truncated at every length, extended, and with a wrong partition count`, () => {
        const { entries, footer } = layout(keys, stride, packed);
        const payload = payloadOf(entries);
        for (let length = 0; length < payload.length; length++) {
          expect(expectAgreement(footer, payload.subarray(0, length), entries.length, `truncated to ${length}`)).toBe('refused');
        }
        for (const extra of [1, 2, 7, TOP_INDEX_ENTRY_FIXED_BYTES, TOP_INDEX_ENTRY_FIXED_BYTES + 1]) {
          const longer = Buffer.concat([payload, Buffer.alloc(extra, 0x41)]);
          expect(expectAgreement(footer, longer, entries.length, `extended by ${extra}`)).toBe('refused');
        }
        for (const count of [0, 1, entries.length - 1, entries.length + 1, 2 * entries.length, 0xffff]) {
          expect(expectAgreement(footer, payload, count, `count ${count}`)).toBe('refused');
        }
      });
    }
  }
});

describe('TopLevelIndex.decode given a partition count its payload cannot hold', () => {
  it('refuses counts up to the u32 a block header holds with CorruptionError, before allocating per partition', () => {
    // The count is the index block's entry count (a u32): a block sealed with a wrong one reached
    // the typed arrays sized by it first (RangeError for 2^32 - 1; gigabytes for 2^28).
    const { entries, footer } = layout(KEY_SETS['short and long keys']!, PAGE, false);
    const payload = payloadOf(entries);
    for (const count of [2 ** 20, 2 ** 28, 2 ** 31, 2 ** 32 - 1]) {
      expect(referenceDecode(footer, payload, count)).toBe('entry past the payload');
      const outcome = decoded(footer, payload, count);
      expect('error' in outcome && outcome.error, `count ${count}`).toBeInstanceOf(CorruptionError);
    }
  });
});
