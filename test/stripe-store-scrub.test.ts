/**
 * store.scrub() over a real store directory: a damaged page of a run file is
 * reported with where, rebuilt and rewritten; every value then reads back exact;
 * bad options are refused.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { removeTemporaryDirectories } from './helpers.js';
import { storeWithWarmRun } from './store-with-warm-run.js';
import { ladybug } from './support/cli-runner.js'; // the built CLI (npm test builds first; so does test/cli.test.ts)

afterEach(() => removeTemporaryDirectories());

const key = (index: number) => `key-${String(index).padStart(6, '0')}`;
const value = (index: number) => ({ index, text: 'x'.repeat(index % 40) });


/** Every key written, and a warm run of the first 600 again (test/store-with-warm-run.ts). */
const storeWithRuns = () => storeWithWarmRun(3000, key, value, 600);

describe('store.scrub', () => {
  it('repairs a damaged run page, reports where, and the store reads exact', async () => {
    const { directory, runFile, original } = await storeWithRuns();
    const damaged = Buffer.from(original);
    damaged.fill(0x77, RUN_PAGE_BYTES, 2 * RUN_PAGE_BYTES);
    writeFileSync(runFile, damaged);

    const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    await expect(store.scrub({ bytesPerSecond: -1 })).rejects.toMatchObject({ code: 'LADYBUG_INVALID_OPTION' });
    const report = await store.scrub();
    expect(report.unrecoverable).toEqual([]);
    expect(report.repaired).toEqual([expect.objectContaining({ kind: 'data', logicalOffset: RUN_PAGE_BYTES, stripe: 0, outcome: 'repaired' })]);
    expect(readFileSync(runFile).equals(original)).toBe(true);
    for (let index = 0; index < 3000; index++) expect(await store.get(key(index))).toEqual(value(index));
    expect((await store.scrub()).repaired).toEqual([]);
    await store.close();
  });

  it('ladybug scrub: repairs with exit 0, then two bad pages in one stripe exit 1 with the blocks in --json; ladybug verify writes nothing', async () => {
    const { directory, runFile, original } = await storeWithRuns();
    const oneBad = Buffer.from(original);
    oneBad.fill(0x11, 0, RUN_PAGE_BYTES);
    writeFileSync(runFile, oneBad);
    const verified = await ladybug('verify', directory, '--json');
    expect(verified.code).toBe(1);
    expect(readFileSync(runFile).equals(oneBad)).toBe(true);
    const repaired = await ladybug('scrub', directory, '--json');
    expect(repaired.code).toBe(0);
    expect(JSON.parse(repaired.stdout)).toMatchObject({ repaired: [{ kind: 'data', logicalOffset: 0, stripe: 0 }], unrecoverable: [] });
    expect(readFileSync(runFile).equals(original)).toBe(true);

    const twoBad = Buffer.from(original);
    twoBad.fill(0x22, 0, 2 * RUN_PAGE_BYTES);
    writeFileSync(runFile, twoBad);
    const failed = await ladybug('scrub', directory, '--json');
    expect(failed.code).toBe(1);
    const report = JSON.parse(failed.stdout) as { unrecoverable: Array<{ kind: string; logicalOffset: number; stripe: number }> };
    expect(report.unrecoverable.map((finding) => [finding.kind, finding.logicalOffset, finding.stripe])).toEqual([['data', 0, 0], ['data', RUN_PAGE_BYTES, 0]]);
  });
});
