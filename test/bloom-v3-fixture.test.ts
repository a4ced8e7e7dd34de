/**
 * Runs written before the cache-line-blocked filter keep answering exactly
 * (docs/FORMAT.md changelog, filter kind 1): test/fixtures/run-v3-bloom/ is a format-3
 * run of four filter partitions of the double-hashing kind (kind 0: u32 probe count 7
 * in the header), written by the writer of commit 8afb79e
 * (test/fixtures/make-run-v3-bloom-fixture.mjs). It opens with today's reader, answers
 * every key, version and absent key, verify finds nothing, and a run of the blocked
 * kind written today beside it answers as well.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FilterKind, RUN_BLOOM_PROBES } from '../src/run/bloom-filter.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';
import { RUN_BLOCK_HEADER_BYTES, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { StripeLayout } from '../src/stripe/stripe-layout.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelScan, modelVersions, plain, runOrder, RUNS_DIRECTORY, writeAndOpen } from './run-helpers.js';

const FIXTURE = 'test/fixtures/run-v3-bloom';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** The fixture's entries (as make-run-v3-bloom-fixture.mjs makes them): 800 keys of 255 chars, every 25th with 3 versions, the middle one a tombstone. */
function fixtureEntries(): RunEntry[] {
  const entries: RunEntry[] = [];
  for (let key = 0; key < 800; key++) {
    const versionCount = key % 25 === 0 ? 3 : 1;
    for (let version = versionCount; version >= 1; version--) {
      const value = version === 2 ? undefined : Buffer.alloc(24, (key * 7 + version) % 251);
      entries.push({ key: `bloom-v3-${String(key).padStart(5, '0')}-${'k'.repeat(240)}`, version: key * 10 + version, value });
    }
  }
  return entries;
}

async function openFixture(): Promise<{ reader: RunReader; file: Buffer }> {
  const descriptor = JSON.parse(readFileSync(`${FIXTURE}/descriptor.json`, 'utf8')) as RunDescriptor;
  const file = readFileSync(`${FIXTURE}/${descriptor.fileName}`);
  const fileSystem = await freshFileSystem();
  const handle = await fileSystem.open(`${RUNS_DIRECTORY}/${descriptor.fileName}`, 'createExclusive');
  await handle.write(file, 0);
  await handle.datasync();
  await handle.close();
  return { reader: await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024)), file };
}

describe('format-3 run with double-hashing filters (fixture)', () => {
  it('has kind-0 filter partitions, and answers every key, absent keys and cursors exactly', async () => {
    const { reader, file } = await openFixture();
    expect(reader.footer.formatVersion).toBe(3);
    const top = reader.topLevelIndex!;
    expect(top.count).toBeGreaterThan(1);
    const layout = new StripeLayout(reader.footer.stripeDataPages, RUN_PAGE_BYTES);
    for (let partition = 0; partition < top.count; partition++) {
      const header = layout.physicalOffset(top.filterOffset(partition)) + RUN_BLOCK_HEADER_BYTES;
      expect(file.readUInt32LE(header + 4)).toBe(RUN_BLOOM_PROBES); // u32 probe count: u16 probes 7, u16 kind 0
      expect(file.readUInt16LE(header + 6)).toBe(FilterKind.doubleHashing);
    }
    const sorted = runOrder(fixtureEntries());
    const keys = [...new Set(sorted.map((entry) => entry.key))];
    for (const key of keys) {
      expect(await reader.mayContain(key)).toBe(true);
      expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
    }
    let absentAllowed = 0;
    for (const key of keys) if (await reader.mayContain(`${key}x`)) absentAllowed += 1;
    expect(absentAllowed).toBeLessThan(40); // ~0.8% of 800 expected
    for (const key of keys.slice(0, 50)) expect(await reader.versions(`${key}x`)).toEqual([]);
    const range = { gte: keys[100]!, lt: keys[420]! };
    expect(await drain(await reader.cursor(range, false))).toEqual(modelScan(sorted, range, false));
    expect(await drain(await reader.cursor(range, true))).toEqual(modelScan(sorted, range, true));
    expect((await reader.verify()).problems).toEqual([]);
    await reader.close();
  });

  it('the same entries written today (kind 1 filters) answer the same', async () => {
    const { reader: old } = await openFixture();
    const { reader: fresh } = await writeAndOpen(hash, runOrder(fixtureEntries()));
    for (const key of [...new Set(fixtureEntries().map((entry) => entry.key))]) {
      expect((await fresh.versions(key)).map(plain)).toEqual((await old.versions(key)).map(plain));
    }
    expect((await fresh.verify()).problems).toEqual([]);
    await old.close();
    await fresh.close();
  });
});
