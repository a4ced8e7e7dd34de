/**
 * verify checks kind-1 (cache-line-blocked) filters as it did kind 0: every distinct
 * key of the run must pass its partition's filter. The writer here builds a filter
 * that leaves out one key (filterAddHalvesRange wrapped to skip the first key it is given,
 * so the blocks and checksums are all sound) and verify must name that key.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FilterKind } from '../src/run/bloom-filter.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { simpleEntries, writeAndOpen } from './run-helpers.js';

const skipping = vi.hoisted(() => ({ nextKey: false, kinds: new Set<number>() }));

vi.mock('../src/run/bloom-filter.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/run/bloom-filter.js')>();
  return {
    ...original,
    filterAddHalvesRange: (kind: 0 | 1, bits: Uint8Array, probes: number, halves: Uint32Array, from: number, to: number): void => {
      skipping.kinds.add(kind);
      if (skipping.nextKey && from < to) {
        skipping.nextKey = false;
        original.filterAddHalvesRange(kind, bits, probes, halves, from + 1, to);
        return;
      }
      original.filterAddHalvesRange(kind, bits, probes, halves, from, to);
    },
  };
});

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('verify and the blocked filter', () => {
  it('finds nothing on a sound run, and names a key its kind-1 filter misses', async () => {
    const entries = simpleEntries(3_000, 1, 40);
    const sound = await writeAndOpen(hash, entries);
    expect((await sound.reader.verify()).problems).toEqual([]);
    await sound.reader.close();

    skipping.nextKey = true;
    const { reader } = await writeAndOpen(hash, entries, { runId: 2 });
    expect(skipping.nextKey).toBe(false);
    expect(skipping.kinds).toEqual(new Set([FilterKind.cacheLineBlocked]));
    expect(await reader.mayContain('key-000000')).toBe(false);
    const { problems } = await reader.verify();
    expect(problems).toEqual([{ offset: reader.footer.filterOffset, reason: 'filter misses key "key-000000"' }]);
    await reader.close();
  });
});
