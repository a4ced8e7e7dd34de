/**
 * store.scrub() over a real store directory: a damaged page of a run file is
 * reported with where, rebuilt and rewritten; every value then reads back exact;
 * bad options are refused.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES, RunCompression } from '../src/run/run-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

/** docs/FORMAT.md, run footer: the compression code is the u32 at byte 52 of the last page. */
const FOOTER_COMPRESSION_OFFSET = 52;

const key = (index: number) => `key-${String(index).padStart(6, '0')}`;

/** The built CLI (npm test builds first; so does test/cli.test.ts). */
const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
async function ladybug(...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env, LADYBUG_DEBUG: '' } });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

async function storeWithRuns(): Promise<{ directory: string; runFile: string; original: Buffer }> {
  const directory = temporaryDirectory();
  const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
  for (let index = 0; index < 3000; index++) await store.put(key(index), { index, text: 'x'.repeat(index % 40) });
  await store.checkpoint();
  await store.close();
  // A warm (uncompressed) run: its data blocks are single pages, so a damaged page is a
  // damaged block at that offset (a cold run's compressed blocks span several pages).
  const runs = readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run'))
    .map((name) => join(directory, 'runs', name))
    .filter((path) => {
      const bytes = readFileSync(path);
      return bytes.readUInt32LE(bytes.length - RUN_PAGE_BYTES + FOOTER_COMPRESSION_OFFSET) === RunCompression.none;
    });
  expect(runs.length).toBeGreaterThan(0);
  const runFile = runs[0] as string;
  return { directory, runFile, original: readFileSync(runFile) };
}

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
    for (let index = 0; index < 3000; index++) expect(await store.get(key(index))).toEqual({ index, text: 'x'.repeat(index % 40) });
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
    const report = JSON.parse(failed.stdout) as { unrecoverable: Array<{ logicalOffset: number; stripe: number }> };
    expect(report.unrecoverable.map((finding) => [finding.logicalOffset, finding.stripe])).toEqual([[0, 0], [RUN_PAGE_BYTES, 0]]);
  });
});
