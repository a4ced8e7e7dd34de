/**
 * src/run/: round trips of run files against a plain sorted-array model.
 *
 * Random keys (binary bytes 0x00/0xff included), many versions per key spanning
 * blocks, tombstones, values larger than a page, single-entry runs; point lookups
 * (absent keys go through the bloom filter), as-of lookups, cursors forward and
 * reverse with every combination of bounds; the writer's order assertions.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { AssertionFailedError } from '../src/errors.js';
import type { KeyRange } from '../src/memory/memory-index.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { writeRun } from '../src/run/run-writer.js';
import { STRIPE_DATA_PAGES_DEFAULT } from '../src/stripe/parity.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import {
  drain,
  freshFileSystem,
  modelAsOf,
  modelScan,
  modelVersions,
  plain,
  RUNS_DIRECTORY,
  runOrder,
  simpleEntries,
  writeAndOpen,
} from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const keyCharacter = fc.constantFrom('\x00', '\x01', 'a', 'b', 'm', '\x7f', '\x80', '\xfe', '\xff');
const keyArbitrary = fc.oneof(
  { weight: 8, arbitrary: fc.array(keyCharacter, { minLength: 1, maxLength: 4 }).map((chars) => chars.join('')) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 1024 }).map((length) => 'k'.repeat(length - 1) + 'z') },
);
const valueArbitrary = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 10, arbitrary: fc.uint8Array({ maxLength: 120 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4000, max: 13000 }).map((length) => new Uint8Array(length).fill(length % 256)) },
);
const entriesArbitrary = fc
  .array(fc.record({ key: keyArbitrary, versions: fc.uniqueArray(fc.integer({ min: 0, max: 2 ** 53 - 1 }), { minLength: 1, maxLength: 40 }), value: valueArbitrary }), {
    minLength: 1,
    maxLength: 60,
  })
  .map((groups) => {
    const byKey = new Map<string, RunEntry[]>();
    for (const group of groups) {
      const list = byKey.get(group.key) ?? [];
      const seen = new Set(list.map((entry) => entry.version));
      for (const version of group.versions) if (!seen.has(version)) list.push({ key: group.key, version, value: group.value });
      byKey.set(group.key, list);
    }
    return runOrder([...byKey.values()].flat());
  });

const boundKeys = fc.option(keyArbitrary, { nil: undefined });
const rangeArbitrary = fc.record({ gt: boundKeys, gte: boundKeys, lt: boundKeys, lte: boundKeys }).map((range) => {
  const result: KeyRange = {};
  for (const [name, key] of Object.entries(range)) if (key !== undefined) result[name as keyof KeyRange] = key;
  return result;
});

describe('run file round trip', () => {
  it('matches the sorted-array model for lookups, as-of reads and cursors', async () => {
    await fc.assert(
      fc.asyncProperty(entriesArbitrary, fc.array(keyArbitrary, { maxLength: 10 }), fc.array(rangeArbitrary, { minLength: 1, maxLength: 6 }), async (sorted, probes, ranges) => {
        const { reader, descriptor } = await writeAndOpen(hash, sorted, { cacheBytes: 64 * 1024 });
        expect(descriptor.entryCount).toBe(sorted.length);
        expect(descriptor.fileBytes % RUN_PAGE_BYTES).toBe(0);
        const keys = [...new Set(sorted.map((entry) => entry.key))];
        for (const key of [...keys, ...probes]) {
          expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
          for (const entry of sorted.filter((candidate) => candidate.key === key).slice(0, 5)) {
            for (const version of [entry.version, entry.version + 1, Math.max(0, entry.version - 1)]) {
              const found = await reader.entryAsOf(key, version);
              expect(found === undefined ? undefined : plain(found)).toEqual(modelAsOf(sorted, key, version));
            }
          }
          expect((await reader.mayContain(key)) || !keys.includes(key)).toBe(true);
        }
        for (const range of [{}, ...ranges]) {
          for (const reverse of [false, true]) {
            expect(await drain(await reader.cursor(range, reverse))).toEqual(modelScan(sorted, range, reverse));
          }
        }
        expect((await reader.verify()).problems).toEqual([]);
        await reader.close();
      }),
      { numRuns: 60 },
    );
  });

  it('every combination of bounds on a multi-block run, forward and reverse', async () => {
    const sorted = simpleEntries(400, 3, 30);
    const { reader } = await writeAndOpen(hash, sorted, { cacheBytes: 16 * 1024 });
    expect(reader.blockCount).toBeGreaterThan(10);
    const candidates = ['a', 'key-000000', 'key-000137', 'key-000137x', 'key-000250', 'key-000399', 'zzz'];
    for (let mask = 0; mask < 16; mask++) {
      for (const low of candidates) {
        for (const high of candidates) {
          const range: KeyRange = {};
          if (mask & 1) range.gt = low;
          if (mask & 2) range.gte = low;
          if (mask & 4) range.lt = high;
          if (mask & 8) range.lte = high;
          for (const reverse of [false, true]) {
            expect(await drain(await reader.cursor(range, reverse))).toEqual(modelScan(sorted, range, reverse));
          }
        }
      }
    }
  });

  it('a key whose versions span many blocks: versions, as-of and reverse order', async () => {
    const entries: RunEntry[] = [{ key: 'a', version: 1, value: new Uint8Array([1]) }];
    for (let version = 900; version >= 1; version--) entries.push({ key: 'hot', version, value: version % 7 === 0 ? undefined : Buffer.alloc(40, version % 256) });
    entries.push({ key: 'z', version: 5, value: undefined });
    const sorted = runOrder(entries);
    const { reader } = await writeAndOpen(hash, sorted, { cacheBytes: 0 });
    expect(reader.blockCount).toBeGreaterThan(5);
    expect((await reader.versions('hot')).map(plain)).toEqual(modelVersions(sorted, 'hot'));
    for (const version of [900, 899, 700, 350, 7, 1, 0]) {
      const found = await reader.entryAsOf('hot', version);
      expect(found === undefined ? undefined : plain(found)).toEqual(modelAsOf(sorted, 'hot', version));
    }
    for (const reverse of [false, true]) {
      expect(await drain(await reader.cursor({}, reverse))).toEqual(modelScan(sorted, {}, reverse));
      expect(await drain(await reader.cursor({ gt: 'a', lt: 'z' }, reverse))).toEqual(modelScan(sorted, { gt: 'a', lt: 'z' }, reverse));
    }
  });

  it('values larger than a page get blocks of several pages', async () => {
    const sorted = runOrder([
      { key: 'big', version: 3, value: Buffer.alloc(20_000, 7) },
      { key: 'big', version: 2, value: Buffer.alloc(5000, 8) },
      { key: 'small', version: 1, value: Buffer.from('x') },
    ]);
    const { reader, descriptor } = await writeAndOpen(hash, sorted);
    // 20,000 B value: a 5-page block; 5,000 B value: a 2-page block that 'small' also fits; index, filter, footer.
    expect(reader.blockCount).toBe(2);
    // 9 logical pages (7 data, index, filter) in whole stripes of K + 1 parity pages, then the footer.
    const stripes = Math.ceil(9 / STRIPE_DATA_PAGES_DEFAULT);
    expect(descriptor.fileBytes).toBe((stripes * (STRIPE_DATA_PAGES_DEFAULT + 1) + 1) * RUN_PAGE_BYTES);
    expect((await reader.versions('big')).map(plain)).toEqual(modelVersions(sorted, 'big'));
    expect(await drain(await reader.cursor({}, true))).toEqual(modelScan(sorted, {}, true));
  });

  it('a run of one tombstone', async () => {
    const sorted: RunEntry[] = [{ key: '\x00', version: 0, value: undefined }];
    const { reader, descriptor } = await writeAndOpen(hash, sorted);
    expect(descriptor).toMatchObject({ entryCount: 1, keyCount: 1, minVersion: 0, maxVersion: 0, smallestKey: '\x00', largestKey: '\x00', fileName: '0000000001.run' });
    expect(descriptor.footerChecksum).toMatch(/^[0-9a-f]{16}$/);
    expect((await reader.versions('\x00')).map(plain)).toEqual([{ key: '\x00', version: 0, value: null }]);
    expect(await reader.versions('\x01')).toEqual([]);
    expect(await drain(await reader.cursor({ gt: '\x00' }, false))).toEqual([]);
  });

  it('accepts an async iterable', async () => {
    const sorted = simpleEntries(50);
    async function* generate() {
      for (const entry of sorted) yield entry;
    }
    const fileSystem = await freshFileSystem();
    const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 7, generation: 1, level: 2, hash, entries: generate() });
    expect(descriptor).toMatchObject({ runId: 7, level: 2, entryCount: sorted.length, keyCount: 50 });
    expect(fileSystem.listPaths()).toEqual(['/store/runs/0000000007.run']);
  });

  it('refuses entries out of order, duplicates and an empty run, leaving no file', async () => {
    const cases: RunEntry[][] = [
      [{ key: 'b', version: 1, value: undefined }, { key: 'a', version: 2, value: undefined }],
      [{ key: 'a', version: 1, value: undefined }, { key: 'a', version: 2, value: undefined }],
      [{ key: 'a', version: 1, value: undefined }, { key: 'a', version: 1, value: undefined }],
      [],
    ];
    for (const entries of cases) {
      const fileSystem = await freshFileSystem();
      await expect(writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 1, level: 0, hash, entries })).rejects.toBeInstanceOf(AssertionFailedError);
      expect(fileSystem.listPaths()).toEqual([]);
    }
  });
});
