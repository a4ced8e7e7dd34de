/**
 * TopLevelIndex.decode: every field round-trips through encodeTopIndex, and each
 * structural check refuses a payload that breaks its invariant (run-top-index.ts's
 * header) with a CorruptionError naming it. A block's checksum catches damage on disk;
 * these checks catch a payload that was sealed wrong, and the decoder was rewritten
 * for speed in cold code (byte arithmetic, keys compared in place), so each one is
 * exercised here.
 */
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { RUN_BLOCK_HEADER_BYTES, RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_PACKED, RUN_PAGE_BYTES, RunCompression, type RunFooter } from '../src/run/run-format.js';
import { keyPrefix } from '../src/run/run-partitions.js';
import { encodeTopIndex, TopLevelIndex, type PartitionEntry } from '../src/run/run-top-index.js';

const PAGE = RUN_PAGE_BYTES;

/** Three partitions: data pages 0-2, index partitions after them, the top-level index, then the filter partitions. */
function layout(keys: readonly string[] = ['apple', 'banana', 'cherry\u00ff']): { entries: PartitionEntry[]; footer: RunFooter } {
  const count = keys.length;
  const indexStart = count * PAGE;
  const topOffset = indexStart + count * PAGE;
  const filterStart = topOffset + PAGE;
  const entries = keys.map((lastKey, partition) => ({
    lastKey,
    dataOffset: partition * PAGE,
    blockCount: partition + 1,
    keyCount: 10 * (partition + 1),
    indexOffset: indexStart + partition * PAGE,
    indexLength: PAGE,
    indexChecksum: 0xfedc_ba98_7654_3210n + BigInt(partition),
    filterOffset: filterStart + partition * PAGE,
    filterLength: PAGE,
    filterChecksum: 0x0123_4567_89ab_cdefn * BigInt(partition + 1),
  }));
  const footer: RunFooter = {
    formatVersion: RUN_FORMAT_VERSION,
    runId: 7,
    generation: 1,
    level: 0,
    indexOffset: topOffset,
    indexLength: PAGE,
    indexChecksum: 0n,
    filterOffset: filterStart,
    filterLength: count * PAGE,
    filterChecksum: 0n,
    entryCount: 60,
    keyCount: entries.reduce((sum, entry) => sum + entry.keyCount, 0),
    minVersion: 1,
    maxVersion: 60,
    dataBlockCount: entries.reduce((sum, entry) => sum + entry.blockCount, 0),
    smallestKey: 'a',
    largestKey: keys[count - 1]!,
    stripeDataPages: 16,
    compression: RunCompression.none,
  };
  return { entries, footer };
}

function payloadOf(entries: readonly PartitionEntry[]): Buffer {
  const { block, payloadBytes } = encodeTopIndex(entries);
  return block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes);
}

function decodeError(footer: RunFooter, payload: Buffer, count: number): CorruptionError {
  try {
    TopLevelIndex.decode('run.file', footer, payload, count);
  } catch (error) {
    expect(error).toBeInstanceOf(CorruptionError);
    return error as CorruptionError;
  }
  throw new Error('decode accepted a malformed top-level index');
}

describe('TopLevelIndex.decode', () => {
  it('returns every field the writer encoded', () => {
    const { entries, footer } = layout();
    const top = TopLevelIndex.decode('run.file', footer, payloadOf(entries), entries.length);
    expect(top.count).toBe(3);
    let firstBlock = 0;
    entries.forEach((entry, partition) => {
      expect(top.lastKey(partition)).toBe(entry.lastKey);
      expect(top.dataOffset(partition)).toBe(entry.dataOffset);
      expect(top.indexOffset(partition)).toBe(entry.indexOffset);
      expect(top.indexLength(partition)).toBe(entry.indexLength);
      expect(top.indexChecksum(partition)).toBe(entry.indexChecksum);
      expect(top.filterOffset(partition)).toBe(entry.filterOffset);
      expect(top.filterLength(partition)).toBe(entry.filterLength);
      expect(top.filterChecksum(partition)).toBe(entry.filterChecksum);
      expect(top.keyCount(partition)).toBe(entry.keyCount);
      expect(top.firstBlock(partition)).toBe(firstBlock);
      expect(top.blockCount(partition)).toBe(entry.blockCount);
      firstBlock += entry.blockCount;
    });
    expect(top.dataEnd(2)).toBe(entries[0]!.indexOffset);
    expect(top.firstPartitionAtOrAfter('banana')).toBe(1);
    expect(top.firstPartitionAfter('banana')).toBe(2);
    expect(top.firstPartitionAtOrAfter('banan')).toBe(1);
    expect(top.firstPartitionAtOrAfter('cherry\u00ff\u0000')).toBe(3);
    expect(top.partitionOfBlock(2)).toBe(1);
  });

  it("gives each last key's prefix as keyPrefix does, for keys shorter and longer than four bytes", () => {
    const keys = ['a', 'ab', 'ab\u0000', 'abc', 'abcd', 'abcde', '\u0080\u00ff', '\u00ff\u00ff\u00ff\u00ff\u00ff'];
    const { entries, footer } = layout(keys);
    const top = TopLevelIndex.decode('run.file', footer, payloadOf(entries), entries.length);
    expect([...top.lastKeyPrefixes()]).toEqual(keys.map((key) => keyPrefix(key)));
  });

  it('reads offsets past 4 GiB and checksums with the high bit set', () => {
    const { entries, footer } = layout();
    const shift = 2 ** 33;
    const far = entries.map((entry, partition) => ({
      ...entry,
      dataOffset: partition === 0 ? 0 : entry.dataOffset + shift,
      indexOffset: entry.indexOffset + shift,
      filterOffset: entry.filterOffset + shift,
      indexChecksum: 0xffff_ffff_ffff_fff0n + BigInt(partition),
    }));
    const farFooter = { ...footer, indexOffset: footer.indexOffset + shift, filterOffset: footer.filterOffset + shift };
    const top = TopLevelIndex.decode('run.file', farFooter, payloadOf(far), far.length);
    expect(top.dataOffset(1)).toBe(PAGE + shift);
    expect(top.indexOffset(2)).toBe(far[2]!.indexOffset);
    expect(top.filterOffset(1)).toBe(far[1]!.filterOffset);
    expect(top.indexChecksum(2)).toBe(0xffff_ffff_ffff_fff2n);
  });

  const cases: { name: string; reason: RegExp; change: (entries: PartitionEntry[], footer: RunFooter) => { entries?: PartitionEntry[]; footer?: RunFooter; payload?: (payload: Buffer) => Buffer; count?: number } }[] = [
    { name: 'equal last keys', reason: /not strictly increasing/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 1 ? { ...entry, lastKey: 'apple' } : entry)) }) },
    { name: 'a last key before the previous one', reason: /not strictly increasing/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 1 ? { ...entry, lastKey: 'apl' } : entry)) }) },
    { name: 'a last key that is a prefix of the previous one', reason: /not strictly increasing/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 1 ? { ...entry, lastKey: 'app' } : entry)) }) },
    { name: 'a key length past the payload', reason: /bad key length/, change: () => ({ payload: (payload) => { const copy = Buffer.from(payload); copy.writeUInt16LE(0x7fff, 0); return copy; } }) },
    { name: 'a zero key length', reason: /bad key length|payload length/, change: () => ({ payload: (payload) => { const copy = Buffer.from(payload); copy.writeUInt16LE(0, 0); return copy; } }) },
    { name: 'an empty partition', reason: /empty partition/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 2 ? { ...entry, keyCount: 0 } : entry)) }) },
    { name: 'data spans out of order', reason: /data spans out of order/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 2 ? { ...entry, dataOffset: PAGE } : entry)) }) },
    { name: 'a first partition not at offset 0', reason: /data spans out of order/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 0 ? { ...entry, dataOffset: PAGE / 2 } : entry)) }) },
    { name: 'unaligned data in an unpacked run', reason: /not whole pages/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 1 ? { ...entry, dataOffset: PAGE + 100 } : entry)) }) },
    { name: 'an index partition of part of a page', reason: /not whole pages/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 1 ? { ...entry, indexLength: PAGE - 1 } : entry)) }) },
    { name: 'index partitions with a gap', reason: /index partitions not contiguous/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 2 ? { ...entry, indexOffset: entry.indexOffset + PAGE } : entry)) }) },
    { name: 'filter partitions with a gap', reason: /filter partitions not contiguous/, change: (entries) => ({ entries: entries.map((entry, partition) => (partition === 1 ? { ...entry, filterOffset: entry.filterOffset + PAGE } : entry)) }) },
    { name: 'a partition count larger than the payload holds', reason: /payload|past the payload/, change: (entries) => ({ count: entries.length + 1 }) },
    { name: 'a partition count smaller than the payload holds', reason: /payload length disagrees/, change: (entries) => ({ count: entries.length - 1 }) },
    { name: 'no partitions', reason: /no partitions/, change: () => ({ count: 0 }) },
    { name: 'trailing bytes', reason: /payload length disagrees/, change: () => ({ payload: (payload) => Buffer.concat([payload, Buffer.alloc(3)]) }) },
    { name: 'block counts other than the footer says', reason: /counts disagree/, change: (_entries, footer) => ({ footer: { ...footer, dataBlockCount: footer.dataBlockCount + 1 } }) },
    { name: 'key counts other than the footer says', reason: /counts disagree/, change: (_entries, footer) => ({ footer: { ...footer, keyCount: footer.keyCount - 1 } }) },
    { name: 'a last key other than the footer\'s largest', reason: /largest key/, change: (_entries, footer) => ({ footer: { ...footer, largestKey: 'cherry' } }) },
    { name: 'index partitions that do not end at the top-level index', reason: /do not end where/, change: (_entries, footer) => ({ footer: { ...footer, indexOffset: footer.indexOffset + PAGE } }) },
    { name: 'a filter area other than the footer says', reason: /filter/, change: (_entries, footer) => ({ footer: { ...footer, filterLength: footer.filterLength + PAGE } }) },
  ];

  for (const testCase of cases) {
    it(`refuses ${testCase.name}`, () => {
      const { entries, footer } = layout();
      const changed = testCase.change(entries, footer);
      const payload = payloadOf(changed.entries ?? entries);
      const error = decodeError(changed.footer ?? footer, changed.payload?.(payload) ?? payload, changed.count ?? entries.length);
      expect(error.message).toMatch(testCase.reason);
      expect(error.message).toContain('top-level index');
      expect(error.file).toBe('run.file');
    });
  }

  it('accepts unaligned data offsets in a packed run', () => {
    const { entries, footer } = layout();
    const packed = entries.map((entry, partition) => (partition === 1 ? { ...entry, dataOffset: PAGE + 100 } : entry));
    const top = TopLevelIndex.decode('run.file', { ...footer, formatVersion: RUN_FORMAT_VERSION_PACKED, compression: RunCompression.deflate }, payloadOf(packed), packed.length);
    expect(top.packedData).toBe(true);
    expect(top.dataOffset(1)).toBe(PAGE + 100);
  });
});
