/**
 * A store written by the release before run format 4 (test/fixtures/store-cold-format3,
 * made by make-store-cold-v3-fixture.mjs at commit be4de54): its cold run is format 3
 * (brotli, 24 KiB blocks padded to pages). The current release opens it, reads every
 * key exact, compacts it into a format-4 run (deflate, packed blocks), and reads the
 * same after a reopen.
 */
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_FORMAT_VERSION_KIND_0, RUN_FORMAT_VERSION_PACKED, RUN_PAGE_BYTES, RunCompression } from '../src/run/run-format.js';
import { openStore, type Store } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

const FOOTER_VERSION_OFFSET = 16;
const FOOTER_COMPRESSION_OFFSET = 52;
const key = (index: number) => `user-${String(index).padStart(7, '0')}`;
const value = (index: number) => ({ id: index, name: `user number ${index}`, email: `user${index}@example.com`, tags: ['alpha', 'beta', 'gamma'], score: index % 100 });

/** What the fixture's writer left: deletes of every 13th key win over the overwrites of every 10th. */
function expected(index: number): unknown {
  if (index % 13 === 0) return undefined;
  if (index % 10 === 0) return { overwritten: index };
  return value(index);
}

function footers(directory: string): Array<{ version: number; compression: number }> {
  return readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run')).sort().map((name) => {
    const bytes = readFileSync(join(directory, 'runs', name));
    const footer = bytes.length - RUN_PAGE_BYTES;
    return { version: bytes.readUInt32LE(footer + FOOTER_VERSION_OFFSET), compression: bytes.readUInt32LE(footer + FOOTER_COMPRESSION_OFFSET) };
  });
}

async function expectAll(store: Store): Promise<void> {
  for (let index = 0; index < 3200; index++) expect(await store.get(key(index))).toEqual(expected(index));
  let count = 0;
  for await (const [name] of store.scan({ gte: 'user-', lt: 'user.' })) {
    expect(expected(Number(String(name).slice(5)))).toBeDefined();
    count++;
  }
  expect(count).toBe(3200 - Math.ceil(3200 / 13));
}

describe('a store with a format-3 cold run', () => {
  it('opens, reads exact, and compacts into a format-4 run that reads the same after a reopen', async () => {
    const directory = temporaryDirectory();
    cpSync(join(import.meta.dirname, 'fixtures', 'store-cold-format3'), directory, { recursive: true });
    expect(footers(directory)).toContainEqual({ version: RUN_FORMAT_VERSION_KIND_0, compression: RunCompression.brotli });

    let store = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024 });
    await expectAll(store);
    await store.compact();
    await expectAll(store);
    await store.close();
    expect(footers(directory)).toEqual([{ version: RUN_FORMAT_VERSION_PACKED, compression: RunCompression.deflate }]);

    store = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024 });
    await expectAll(store);
    const scrub = await store.scrub();
    expect(scrub.runs).toBe(1);
    expect([...scrub.repaired, ...scrub.unrecoverable, ...scrub.damaged]).toEqual([]);
    await store.close();
  }, 60_000);
});
