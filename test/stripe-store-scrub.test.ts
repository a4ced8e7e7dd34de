/**
 * store.scrub() over a real store directory: a damaged page of a run file is
 * reported with where, rebuilt and rewritten; every value then reads back exact;
 * bad options are refused.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const key = (index: number) => `key-${String(index).padStart(6, '0')}`;

describe('store.scrub', () => {
  it('repairs a damaged run page, reports where, and the store reads exact', async () => {
    const directory = temporaryDirectory();
    let store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    for (let index = 0; index < 3000; index++) await store.put(key(index), { index, text: 'x'.repeat(index % 40) });
    await store.checkpoint();
    await store.close();
    const runs = readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run'));
    expect(runs.length).toBeGreaterThan(0);
    const runFile = join(directory, 'runs', runs[0] as string);
    const original = readFileSync(runFile);
    const damaged = Buffer.from(original);
    damaged.fill(0x77, RUN_PAGE_BYTES, 2 * RUN_PAGE_BYTES);
    writeFileSync(runFile, damaged);

    store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    await expect(store.scrub({ bytesPerSecond: -1 })).rejects.toMatchObject({ code: 'LADYBUG_INVALID_OPTION' });
    const report = await store.scrub();
    expect(report.unrecoverable).toEqual([]);
    expect(report.repaired).toEqual([expect.objectContaining({ kind: 'data', logicalOffset: RUN_PAGE_BYTES, stripe: 0, outcome: 'repaired' })]);
    expect(readFileSync(runFile).equals(original)).toBe(true);
    for (let index = 0; index < 3000; index++) expect(await store.get(key(index))).toEqual({ index, text: 'x'.repeat(index % 40) });
    expect((await store.scrub()).repaired).toEqual([]);
    await store.close();
  });
});
