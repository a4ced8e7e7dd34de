/**
 * A store directory for the scrub tests that damage pages of a run file: the same
 * runs at every build, in a shape no background merge changes, with one warm run
 * whose first pages are data blocks.
 *
 * Why: written with a small budget, the keys flush every ~50 keys and background
 * compaction merges the flushes into warm and cold runs in whatever shape its timing
 * leaves at close. Which runs exist then varies (and the order readdir lists them):
 * a warm run may be a single flush with one data page, whose page 1 is its index
 * partition, and a reopen may merge a run before the scrub reads it. Here compact()
 * merges everything written into one run, then the first `warmKeys` keys are written
 * again (same values) in one memtable and flushed: a tier-0 run, uncompressed (its data
 * blocks are single pages, so a damaged page is a damaged block at that offset), of
 * several data pages. Two runs of different tiers: the policy has no merge to do, so
 * the store opens in this shape every time.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES, RunCompression } from '../src/run/run-format.js';
import { temporaryDirectory } from './helpers.js';

/** docs/FORMAT.md, run footer (the last page): compression code (u32) and data block count (u32). */
const FOOTER_COMPRESSION_OFFSET = 52;
const FOOTER_DATA_BLOCKS_OFFSET = 120;

export interface WarmRunStore {
  directory: string;
  /** The warm run's file: its logical pages 0 and 1 (physical pages 0 and 1, stripe 0) are data blocks. */
  runFile: string;
  /** Its bytes as written. */
  original: Buffer;
}

export async function storeWithWarmRun(
  keys: number, key: (index: number) => string, value: (index: number) => unknown, warmKeys: number,
): Promise<WarmRunStore> {
  const directory = temporaryDirectory();
  const loaded = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
  for (let index = 0; index < keys; index++) await loaded.put(key(index), value(index));
  await loaded.checkpoint();
  await loaded.compact();
  await loaded.close();
  // The default budget holds warmKeys keys in one memtable: one flush, one tier-0 run.
  const rewritten = await openStore(directory);
  for (let index = 0; index < warmKeys; index++) await rewritten.put(key(index), value(index));
  await rewritten.checkpoint();
  await rewritten.close();

  const runs = readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run')).sort();
  expect(runs).toHaveLength(2);
  const runFile = join(directory, 'runs', runs[1] as string); // the newer (names are zero-padded run ids)
  const original = readFileSync(runFile);
  const footer = original.length - RUN_PAGE_BYTES;
  expect(original.readUInt32LE(footer + FOOTER_COMPRESSION_OFFSET)).toBe(RunCompression.none);
  // Every data block of an uncompressed run is one page or more, from logical offset 0:
  // with two or more, pages 0 and 1 are data (K >= 2, so both in stripe 0).
  expect(original.readUInt32LE(footer + FOOTER_DATA_BLOCKS_OFFSET)).toBeGreaterThanOrEqual(2);
  return { directory, runFile, original };
}
