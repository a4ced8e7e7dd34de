/**
 * `ladybug repair` and damaged run blocks (issue 7: "repair explains what it would
 * drop"). Before, repair looked only at the WAL and the reserved entry counts: a store
 * whose run held a damaged block was told "nothing to repair" with exit 0. Now repair
 * scrubs: a block parity rebuilds is rewritten and reported; a block it cannot rebuild
 * is named with why it is kept (never dropped: see src/cli/repair-report.ts) and the
 * exit status is 1.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Buffer } from 'node:buffer';
import { CorruptionError, openStore } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
const KEYS = 400;
const keyOf = (index: number) => `key-${String(index).padStart(5, '0')}`;

afterEach(() => removeTemporaryDirectories());

beforeAll(async () => {
  // tsc emits even when another engineer's file has a transient type error.
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: join(import.meta.dirname, '..') }).catch(() => undefined);
}, 120_000);

/** Binary keys whose bytes are not UTF-8 (a 0xff byte first): the CLI prints them as {"$bytes": "<hex>"}. */
const binaryKeyOf = (index: number) => new Uint8Array(Buffer.concat([Buffer.from([0xff]), Buffer.from(keyOf(index))]));

/** A store with one flushed run of several data blocks; returns the directory and the run file's path. */
async function storeWithOneRun(binaryKeys = false): Promise<{ directory: string; runFile: string }> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  for (let index = 0; index < KEYS; index++) await store.put(binaryKeys ? binaryKeyOf(index) : keyOf(index), { index, text: 'v'.repeat(150) });
  await store.close();
  const runs = readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run'));
  expect(runs).toHaveLength(1);
  const runFile = join(directory, 'runs', runs[0] as string);
  expect(readFileSync(runFile).length).toBeGreaterThan(4 * RUN_PAGE_BYTES);
  return { directory, runFile };
}

function flip(file: string, offsets: number[]): void {
  const bytes = readFileSync(file);
  for (const offset of offsets) bytes[offset] = (bytes[offset] as number) ^ 0x10;
  writeFileSync(file, bytes);
}

async function repair(directory: string): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [cli, 'repair', directory, '--json']);
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

describe('ladybug repair: run blocks', () => {
  it('a block parity rebuilds is rewritten and reported; the store then verifies clean and reads exact', async () => {
    const { directory, runFile } = await storeWithOneRun();
    flip(runFile, [100]);
    expect((await verifyStore(directory)).ok).toBe(false);
    const { code, stdout } = await repair(directory);
    const report = JSON.parse(stdout) as { scrub: { repaired: unknown[] }; unrecoverable: string[] };
    expect(code).toBe(0);
    expect(report.scrub.repaired).toHaveLength(1);
    expect(report.unrecoverable).toEqual([]);
    expect((await verifyStore(directory)).ok).toBe(true);
    const store = await openStore(directory);
    for (let index = 0; index < KEYS; index += 37) expect(await store.get(keyOf(index))).toEqual({ index, text: 'v'.repeat(150) });
    await store.close();
  }, 60_000);

  it('blocks beyond parity: named with why they are kept, exit 1, nothing dropped', async () => {
    const { directory, runFile } = await storeWithOneRun();
    const before = readFileSync(runFile);
    // One flip in each of the first two data pages of stripe 0: no rebuild passes either block's check.
    flip(runFile, [100, RUN_PAGE_BYTES + 100]);
    const damaged = readFileSync(runFile);
    expect(damaged.equals(before)).toBe(false);
    const { code, stdout } = await repair(directory);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { unrecoverable: string[] };
    expect(report.unrecoverable.length).toBeGreaterThanOrEqual(1);
    for (const line of report.unrecoverable) {
      expect(line).toContain(runFile);
      expect(line).toMatch(/not dropped/);
    }
    // Nothing dropped: the run file still holds every byte it held, damage included.
    expect(readFileSync(runFile).equals(damaged)).toBe(true);
    const text = await run(process.execPath, [cli, 'repair', directory]).catch((error: { stdout: string }) => error);
    expect(text.stdout.split('\n')[0]).toMatch(/^repair: .*UNRECOVERABLE DAMAGE in [1-9]\d* places/);
  }, 60_000);

  /** A key as repair prints it (JSON: a string, or {"$bytes": hex}), as its index among the store's keys. */
  function keyIndex(form: string, binaryKeys: boolean): number {
    const parsed = JSON.parse(form) as string | { $bytes: string };
    const text = typeof parsed === 'string' ? parsed : Buffer.from(parsed.$bytes, 'hex').subarray(1).toString();
    expect(typeof parsed === 'string').toBe(!binaryKeys);
    expect(text).toMatch(/^key-\d{5}$/);
    return Number(text.slice(4));
  }

  for (const binaryKeys of [false, true]) {
    it(`each unrecoverable block is named with the keys it holds, printed as the CLI prints keys (${binaryKeys ? 'binary' : 'UTF-8'} keys)`, async () => {
      const { directory, runFile } = await storeWithOneRun(binaryKeys);
      flip(runFile, [100, RUN_PAGE_BYTES + 100]);
      const { code, stdout } = await repair(directory);
      expect(code).toBe(1);
      const lines = (JSON.parse(stdout) as { unrecoverable: string[] }).unrecoverable;
      expect(lines.length).toBeGreaterThanOrEqual(1);
      const ranges = lines.map((line) => {
        const found = /it holds keys (?:from (\S+) \(the run's first key\)|after (\S+)) through (\S+?)(?:;| \()/.exec(line);
        expect(found, line).not.toBeNull();
        const [, first, after, through] = found!;
        // The run's first block starts at its first key; a later one after the previous block's last key.
        const low = first === undefined ? keyIndex(after!, binaryKeys) + 1 : keyIndex(first, binaryKeys);
        return { low, high: keyIndex(through!, binaryKeys) };
      });
      // Every key named fails with CorruptionError; the keys just outside the ranges read exact.
      const store = await openStore(directory);
      const read = (index: number) => store.get(binaryKeys ? binaryKeyOf(index) : keyOf(index));
      const inside = (index: number) => ranges.some((range) => range.low <= index && index <= range.high);
      for (const { low, high } of ranges) {
        expect(low).toBeLessThanOrEqual(high);
        for (let index = low; index <= high; index++) await expect(read(index)).rejects.toBeInstanceOf(CorruptionError);
        for (const outside of [low - 1, high + 1]) {
          if (outside < 0 || outside >= KEYS || inside(outside)) continue;
          expect(await read(outside)).toEqual({ index: outside, text: 'v'.repeat(150) });
        }
      }
      expect(ranges.some((range) => range.low === 0)).toBe(true);
      await store.close();
    }, 60_000);
  }
});
