/**
 * Review of the rebuild of a block that spans two stripes (src/stripe/stripe-repair.ts).
 * Two silently damaged pages, one in each stripe, is also one bad page per stripe: every
 * choice of one rebuilt page per stripe is tried (a packed block across a boundary has 4,
 * a 9-page block at most 25), where only single-page rebuilds were (before: CorruptionError;
 * docs/FORMAT.md said so). A bad range of two pages across a stripe boundary does this.
 *
 * The first case:
 * one unreadable page (EIO) in one stripe and one silently damaged page (a flipped byte
 * inside the block) in the other is one bad page per stripe, which parity rebuilds: the
 * unreadable page from its stripe, the damaged one from the other. docs/FORMAT.md names
 * only two silent pages in two stripes as beyond the rebuild. rebuildBlock gave up as soon
 * as the rebuilt unreadable page did not make the block pass ("1 unreadable page(s) in the
 * stripe"), so every read of the block's keys was a CorruptionError. Tried for every block
 * that crosses a stripe boundary and every such pair of its pages, in a flushed run of
 * 34 KB values (9-page blocks, format 5) and a packed cold run (format 6, blocks that start
 * in one stripe and end in the next); every read must be exact, and the silent page is
 * written back as it was written.
 */
import { Buffer } from 'node:buffer';
import { strict as assert } from 'node:assert';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelScan, RUNS_DIRECTORY } from './run-helpers.js';
import { BadSectorFileSystem, overwriteDurably, runPath } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const K = 8;
const physical = (logicalOffset: number) => {
  const page = Math.floor(logicalOffset / RUN_PAGE_BYTES);
  return (Math.floor(page / K) * (K + 1) + (page % K)) * RUN_PAGE_BYTES + (logicalOffset % RUN_PAGE_BYTES);
};
const stripeOf = (logicalOffset: number) => Math.floor(logicalOffset / (K * RUN_PAGE_BYTES));

const RUNS: Record<string, { entries: RunEntry[]; compression: 'none' | 'deflate' }> = {
  'flushed run (format 5), 9-page blocks': {
    entries: Array.from({ length: 6 }, (_, index) => ({ key: `big-${index}`, version: index + 1, value: Buffer.alloc(34_000, index + 1) })),
    compression: 'none',
  },
  'packed cold run (format 6)': {
    entries: Array.from({ length: 4000 }, (_, index) => ({
      key: `user-${String(index).padStart(8, '0')}`, version: index + 1,
      value: Buffer.from(JSON.stringify({ id: index, score: (index * 7919) % 100003, tag: ((index * 2654435761) >>> 0).toString(36) })),
    })),
    compression: 'deflate',
  },
};

describe('a block across two stripes: one silently damaged page in one, one unreadable or silently damaged page in the other', () => {
  for (const [name, { entries, compression }] of Object.entries(RUNS)) for (const both of ['unreadable', 'silent'] as const) {
    it(`${name}, the other page ${both}: every read exact, the damaged page written back`, async () => {
      const fileSystem = await freshFileSystem();
      const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 3, level: 3, hash, entries, stripeDataPages: K, compression });
      const path = runPath(descriptor);
      const original = Buffer.from(await fileSystem.readFile(path));
      const probe = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0));
      const crossing: Array<{ offset: number; length: number }> = [];
      for (let number = 0; number < probe.partitionCount; number++) {
        const { index } = await probe.partition(number);
        for (let local = 0; local < index.blockCount; local++) {
          const offset = index.offset(local);
          const length = index.lengthBytes(local);
          if (stripeOf(offset) !== stripeOf(offset + length - 1)) crossing.push({ offset, length });
        }
      }
      await probe.close();
      expect(crossing.length).toBeGreaterThan(1);
      const failures: string[] = [];
      let pairs = 0;
      for (const block of crossing) {
        const pages: number[] = [];
        for (let page = Math.floor(block.offset / RUN_PAGE_BYTES); page * RUN_PAGE_BYTES < block.offset + block.length; page++) pages.push(page);
        for (const unreadable of pages) {
          for (const silent of pages) {
            if (stripeOf(unreadable * RUN_PAGE_BYTES) === stripeOf(silent * RUN_PAGE_BYTES)) continue;
            pairs++;
            // A byte of the block inside the silent page, flipped; the other page unreadable, or
            // silently damaged too (a byte of the block in it flipped).
            const at = Math.max(block.offset, silent * RUN_PAGE_BYTES) + 5;
            await overwriteDurably(fileSystem, path, Buffer.of(original[physical(at)]! ^ 0x40), physical(at));
            const bad = new BadSectorFileSystem(fileSystem);
            if (both === 'silent') {
              const other = Math.max(block.offset, unreadable * RUN_PAGE_BYTES) + 7;
              assert(other < block.offset + block.length, 'the byte is the block\'s');
              await overwriteDurably(fileSystem, path, Buffer.of(original[physical(other)]! ^ 0x08), physical(other));
            } else {
              bad.markBad(path, physical(unreadable * RUN_PAGE_BYTES), physical(unreadable * RUN_PAGE_BYTES) + RUN_PAGE_BYTES);
            }
            const reader = await RunReader.open(bad, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0));
            try {
              const scanned = await drain(await reader.cursor({}, false));
              if (JSON.stringify(scanned) !== JSON.stringify(modelScan(entries, {}, false))) failures.push(`block ${block.offset}, pages ${unreadable} (${both}) + ${silent}: different entries`);
            } catch (error) {
              failures.push(`block ${block.offset}, pages ${unreadable} (${both}) + ${silent}: ${(error as Error).message.slice(0, 120)}`);
            }
            await reader.close();
            const now = Buffer.from(await fileSystem.readFile(path));
            const other = Math.max(block.offset, unreadable * RUN_PAGE_BYTES) + 7;
            if (both === 'silent' && now[physical(other)] !== original[physical(other)]) failures.push(`block ${block.offset}, pages ${unreadable} (${both}) + ${silent}: the other damaged page not written back`);
            if (now[physical(at)] !== original[physical(at)]) failures.push(`block ${block.offset}, pages ${unreadable} (${both}) + ${silent}: the damaged page not written back`);
            await overwriteDurably(fileSystem, path, original, 0);
          }
        }
      }
      expect(pairs).toBeGreaterThan(1);
      expect(failures).toEqual([]);
    });
  }
});
