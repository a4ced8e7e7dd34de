/**
 * A scan passing over a key with 20,000 versions in one run (about 600 one-page
 * blocks): once the key's answer is known the scan's run cursor skips the rest of the
 * key through the run index, so it reads a few of the key's blocks, not all of them,
 * forward and reverse, with a limit, and for the keys before and after it; as of an old
 * version it seeks to the block just above it (retention unbounded). Counted as
 * bytes read from run files (a counting file system) and as the block cache's lookups
 * (hits + misses: every data block a cursor looked at, cached or not).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { MANY_VERSIONS as VERSIONS, manyVersionsValueOf as valueOf, openCountedManyVersionsStore, writeManyVersionsStore } from './support/many-versions.js';

afterEach(() => removeTemporaryDirectories());

const PAGE = 4096;
/**
 * A few blocks (one page each): far below the key's ~600 blocks. Measured: at most 2
 * pages per scan (the key's first block, the block after it); every block, ~2.3-2.7 MB,
 * before the cursor skipped the key.
 */
const FEW_BLOCKS_BYTES = 4 * PAGE;
/** Bytes read by a scan as of an old version of the key (its search reads a few blocks). */
const AS_OF_BYTES = 8 * PAGE;
/** Block lookups (cached or read) of a scan: measured 2-3 (657 before). */
const FEW_BLOCK_LOOKUPS = 4;

const NEWEST = valueOf(VERSIONS - 1);

describe('a scan over a key with 20,000 versions in one run', () => {
  it('reads a few of its blocks when it returns its newest value, forward, reverse and with a limit', async () => {
    const directory = temporaryDirectory();
    await writeManyVersionsStore(directory);

    const { store, counter } = await openCountedManyVersionsStore(directory);
    try {
      const bytes: Record<string, number> = {};
      const lookups: Record<string, number> = {};
      const counted = async (name: string, options: Parameters<typeof store.scan>[0], expected: Array<[string, unknown]>): Promise<void> => {
        const bytesBefore = counter.bytes;
        const statsBefore = store.stats().storage;
        const got: Array<[string, unknown]> = [];
        for await (const [key, value] of store.scan(options)) got.push([key as string, value]);
        expect(got, name).toEqual(expected);
        bytes[name] = counter.bytes - bytesBefore;
        const statsAfter = store.stats().storage;
        lookups[name] = statsAfter.blockCacheHits + statsAfter.blockCacheMisses - statsBefore.blockCacheHits - statsBefore.blockCacheMisses;
      };
      const all: Array<[string, unknown]> = [['j', 'before'], ['k', NEWEST], ['l', 'after']];
      await counted('forward', {}, all);
      await counted('reverse', { reverse: true }, all.slice().reverse());
      await counted('limit 1 from k', { gte: 'k', limit: 1 }, [['k', NEWEST]]);
      await counted('reverse limit 1 to k', { lte: 'k', reverse: true, limit: 1 }, [['k', NEWEST]]);
      await counted('reverse limit 2 from l', { reverse: true, limit: 2 }, [['l', 'after'], ['k', NEWEST]]);
      await counted('limit 2 from j', { limit: 2 }, [['j', 'before'], ['k', NEWEST]]);
      await counted('after k', { gt: 'k' }, [['l', 'after']]);
      await counted('before k', { lt: 'k', reverse: true }, [['j', 'before']]);
      const report = JSON.stringify({ bytes, lookups });
      console.log(`scans over the key: ${report}`);
      for (const name of Object.keys(bytes)) {
        expect(bytes[name], `bytes read by the scan "${name}" (${report})`).toBeLessThan(FEW_BLOCKS_BYTES);
        expect(lookups[name], `block lookups of the scan "${name}" (${report})`).toBeLessThanOrEqual(FEW_BLOCK_LOOKUPS);
      }
    } finally {
      await store.close();
    }
  }, 60_000);

  it('as of its oldest, a middle or its newest version reads a few blocks, forward and reverse', async () => {
    const directory = temporaryDirectory();
    const versions = await writeManyVersionsStore(directory);

    const { store, counter } = await openCountedManyVersionsStore(directory);
    try {
      const bytes: Record<string, number> = {};
      for (const index of [0, 1, 12_345, VERSIONS - 2, VERSIONS - 1]) {
        const asOf = versions[index]!;
        // 'j' and 'l' were written after every version of 'k': as of an older one, 'k' alone.
        const expected: Array<[string, unknown]> = [['k', valueOf(index)]];
        for (const reverse of [false, true]) {
          const before = counter.bytes;
          const got: Array<[string, unknown]> = [];
          for await (const [key, value] of store.scan({ asOf, reverse })) got.push([key as string, value]);
          expect(got, `asOf the ${index}th version, reverse ${reverse}`).toEqual(expected);
          bytes[`${index}${reverse ? ' reverse' : ''}`] = counter.bytes - before;
        }
      }
      expect(await store.get('k', { asOf: versions[0]! - 1 })).toBeUndefined();
      const below: unknown[] = [];
      for await (const entry of store.scan({ asOf: versions[0]! - 1 })) below.push(entry);
      expect(below).toEqual([]);
      // Each reads a few blocks: its cursor seeks to the block just above the version (measured at most 4 pages
      // as of the oldest and a middle version; ~2.3-2.7 MB, every block down to the answer, before).
      console.log(`bytes read by scans as of versions of the key: ${JSON.stringify(bytes)}`);
      for (const [name, read] of Object.entries(bytes)) expect(read, `bytes read by a scan as of the ${name} version (${JSON.stringify(bytes)})`).toBeLessThanOrEqual(AS_OF_BYTES);
    } finally {
      await store.close();
    }
  }, 60_000);
});
