/**
 * The keys scrub names for a damaged run block (src/stripe/scrub-key-range.ts), on a
 * run of many partitions: a data block's range runs from the previous block's last key
 * (exclusive; its older versions may continue into the block within a partition)
 * through its own last key, the run's first block from the run's smallest key; an
 * index or filter partition's range is its partition's, from the top-level index; the
 * top-level index itself has no range (it is what names them), only the run's span.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { damagedKeyRange, type ScrubKeyRange } from '../src/stripe/scrub-key-range.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { runOrder, writeAndOpen } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString('latin1'));

/** Long keys (few blocks per partition), one key whose 2000 versions span many blocks. */
function entries(): RunEntry[] {
  const result: RunEntry[] = [];
  for (let key = 0; key < 2000; key++) {
    const name = `${String(key).padStart(5, '0')}-${'p'.repeat(180)}`;
    const versions = key === 700 ? 2000 : 1;
    for (let version = versions; version >= 1; version--) result.push({ key: name, version: key * 10_000 + version, value: Buffer.alloc(24, key % 251) });
  }
  return runOrder(result);
}

describe('damagedKeyRange', () => {
  it('names every block of a many-partition run by the keys it holds', async () => {
    const sorted = entries();
    const { reader } = await writeAndOpen(hash, sorted);
    const top = reader.topLevelIndex!;
    expect(top.count).toBeGreaterThan(3);
    const smallest = sorted[0]!.key;
    const largest = sorted[sorted.length - 1]!.key;
    let previousThrough: string | undefined;
    let spanning = 0;
    for (let number = 0; number < top.count; number++) {
      const { index } = await reader.partition(number, false);
      for (let local = 0; local < index.blockCount; local++) {
        const range = (await damagedKeyRange(reader, 'data', index.offset(local))) as Extract<ScrubKeyRange, { known: true }>;
        expect(range.known).toBe(true);
        expect(text(range.through)).toBe(index.lastKey(local));
        // Contiguous: each block starts after the previous block's last key; the first at the run's smallest key.
        expect(text(range.after)).toBe(previousThrough);
        expect(text(range.first)).toBe(previousThrough === undefined ? smallest : undefined);
        // Only inside a partition may a key's versions continue from the block before (a key never spans partitions).
        expect(range.mayHoldAfter).toBe(local > 0);
        if (range.after !== undefined && text(range.after) === text(range.through)) spanning++;
        previousThrough = text(range.through);
      }
      for (const offset of [top.indexOffset(number), top.filterOffset(number)]) {
        const range = (await damagedKeyRange(reader, offset === top.indexOffset(number) ? 'index' : 'filter', offset)) as Extract<ScrubKeyRange, { known: true }>;
        expect([range.known, text(range.after), text(range.through)]).toEqual([true, number === 0 ? undefined : top.lastKey(number - 1), top.lastKey(number)]);
      }
    }
    expect(previousThrough).toBe(largest);
    expect(spanning).toBeGreaterThan(0); // key 700's versions filled whole blocks
    expect(await damagedKeyRange(reader, 'parity', 0)).toBeUndefined();
    const topRange = await damagedKeyRange(reader, 'index', reader.footer.indexOffset);
    expect(topRange).toMatchObject({ known: false, reason: expect.stringMatching(/top-level index/) });
    expect(topRange?.known === false && [text(topRange.runFirst), text(topRange.runLast)]).toEqual([smallest, largest]);
    await reader.close();
  });
});
