/**
 * The prefix table of a run's top-level index search (src/run/run-partitions.ts):
 * keyPrefix preserves key order, and a point read's partition search through it finds
 * exactly the partition the last-key search finds, on runs whose partitions' last keys
 * tie on their first four bytes, are shorter than four bytes, or hold chars above 127.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { keyPrefix } from '../src/run/run-partitions.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { writeAndOpen } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const latin1Key = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 }).map((codes) => String.fromCharCode(...codes));

describe('partition search by last-key prefixes', () => {
  it('keyPrefix never orders two keys against their byte order', () => {
    fc.assert(
      fc.property(latin1Key, latin1Key, (left, right) => {
        const byBytes = Math.sign(Buffer.compare(Buffer.from(left, 'latin1'), Buffer.from(right, 'latin1')));
        const byPrefix = Math.sign(keyPrefix(left) - keyPrefix(right));
        expect(byPrefix === 0 || byPrefix === byBytes).toBe(true);
      }),
      { numRuns: 5_000, seed: 7 },
    );
    expect(keyPrefix('')).toBe(0);
    expect(keyPrefix('\u00ff\u00ff\u00ff\u00ff')).toBe(0xffffffff);
    expect(keyPrefix('ab')).toBe(0x61620000);
  });

  it('finds the partition the last-key search finds, ties and short keys included', async () => {
    // Keys sharing a 6-char prefix in three groups (ties on the prefix inside each), a few short ones, chars above 127.
    const keys = new Set<string>(['a', 'ab', 'abc', '\u00c0', '\u00ff\u00fe']);
    for (let index = 0; index < 1_500; index++) keys.add(`${['common', 'commoo', '\u00e9t\u00e9\u00e9t'][index % 3]}${String(index).padStart(5, '0')}${'v'.repeat(400)}`);
    const entries: RunEntry[] = [...keys].sort().map((key, index) => ({ key, version: index + 1, value: Buffer.alloc(30, index % 251) }));
    const { reader } = await writeAndOpen(hash, entries);
    const top = reader.topLevelIndex!;
    expect(top.count).toBeGreaterThan(10);
    const probes = [...keys, '', 'a\u0000', 'b', 'comm', 'common', 'commonz', 'commoo', '\u00e9', '\u00ff\u00ff\u00ff\u00ff\u00ff'];
    for (let partition = 0; partition < top.count; partition++) probes.push(top.lastKey(partition), `${top.lastKey(partition)}\u0000`, top.lastKey(partition).slice(0, -1));
    for (const key of probes) expect(reader.partitionAtOrAfter(key)).toBe(top.firstPartitionAtOrAfter(key));
    for (const entry of entries.filter((_, index) => index % 37 === 0)) expect((await reader.versions(entry.key)).length).toBe(1);
    await reader.close();
  });
});
