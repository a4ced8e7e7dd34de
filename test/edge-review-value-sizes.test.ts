/**
 * Values at the edges of the run format: entries that fill a one-page data block
 * exactly and one byte over, at two pages and at the builder's kept-buffer size, empty
 * values of every kind, and values at the 16 MiB maximum, with the smallest memory
 * budget, read back from the memtable, flushed runs, a merge, the cold tier, a cold
 * block repaired from parity, and a backup restored.
 */
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, restoreBackup, type Store, verifyBackup } from '../src/index.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { MEMORY_BUDGET_BYTES_MIN, VALUE_BYTES_DEFAULT_MAX } from '../src/limits.js';
import { RUN_BLOCK_HEADER_BYTES, RUN_ENTRY_FIXED_BYTES, RUN_ENTRY_VALUE_LENGTH_BYTES, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { DATA_BLOCK_KEPT_BYTES_MAX } from '../src/run/data-block.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  removeTemporaryDirectories();
});

/** A Buffer value whose msgpack bin encoding is exactly `encodedBytes` long. */
function bufferEncodedAs(encodedBytes: number, fill: number): Buffer {
  const header = encodedBytes - 1 <= 0xff + 1 ? 2 : encodedBytes - 3 <= 0xffff ? 3 : 5;
  return Buffer.alloc(encodedBytes - header, fill);
}

/** Encoded value sizes whose entry (3-byte key) fills a block of `pages` exactly, and one byte either side. */
function fillingSizes(pages: number): number[] {
  const exact = pages * RUN_PAGE_BYTES - RUN_BLOCK_HEADER_BYTES - RUN_ENTRY_FIXED_BYTES - 3 - RUN_ENTRY_VALUE_LENGTH_BYTES;
  return [exact - 1, exact, exact + 1];
}

const SIZES = [...fillingSizes(1), ...fillingSizes(2), ...fillingSizes(DATA_BLOCK_KEPT_BYTES_MAX / RUN_PAGE_BYTES), 2, 3, 256, 257, 258, 65_538, 65_539];

describe('values at block and size limits, through every stage', () => {
  it('block-filling, empty and 16 MiB values read back exactly from every stage, parity repair and a restored backup', async () => {
    const directory = temporaryDirectory();
    compactionSettings.mergeThread = 'main';
    const expected = new Map<string, unknown>();
    const options = { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN };
    let store: Store = await openStore(directory, options);
    const check = async (label: string): Promise<void> => {
      for (const [key, value] of expected) {
        const got = await store.get(key);
        if (value instanceof Uint8Array) {
          expect(got instanceof Uint8Array, `${label}: ${key} is bytes`).toBe(true);
          expect(Buffer.compare(Buffer.from(got as Uint8Array), Buffer.from(value)), `${label}: ${key} (${value.length} B)`).toBe(0);
        } else expect(got, `${label}: ${key}`).toEqual(value);
      }
      const keys: string[] = [];
      for await (const [key] of store.scan({ reverse: true })) keys.push(key as string);
      expect(keys, `${label}: scan`).toEqual([...expected.keys()].sort().reverse());
    };
    try {
      for (let round = 0; round < 4; round++) {
        for (const [index, size] of SIZES.entries()) {
          const key = `s${String(index).padStart(2, '0')}`;
          const value = bufferEncodedAs(size, round * 16 + index);
          await store.put(key, value);
          expected.set(key, value);
        }
        for (const [key, value] of [['e0', ''], ['e1', new Uint8Array(0)], ['e2', Buffer.alloc(0)], ['e3', []], ['e4', {}], ['e5', null]] as const) {
          await store.put(key, value);
          expected.set(key, value);
        }
        // The largest value (exactly 16 MiB encoded) in the first and last round; one byte over refused.
        if (round === 0 || round === 3) {
          const big = bufferEncodedAs(VALUE_BYTES_DEFAULT_MAX, 0x40 + round);
          big[12345] = round;
          await store.put(`big${round}`, big);
          expected.set(`big${round}`, big);
        }
        if (round === 0) {
          await expect(store.put('over', bufferEncodedAs(VALUE_BYTES_DEFAULT_MAX + 1, 1))).rejects.toMatchObject({ code: 'LADYBUG_VALUE_TOO_LARGE' });
          await check('memtable');
        }
        await store.checkpoint();
        if (round === 0) await check('flushed');
        if (round === 2) {
          await store.compact();
          await check('merged');
        }
      }
      await store.compact();
      expect(store.stats().storage.tiers.coldRuns, 'a cold run').toBeGreaterThan(0);
      await check('cold');
      await store.close();

      // A data page of the cold run damaged: the read rebuilds it from its stripe's parity.
      const runs = join(directory, 'runs');
      const [runFile] = readdirSync(runs).filter((name) => name.endsWith('.run')).sort((a, b) => statSync(join(runs, b)).size - statSync(join(runs, a)).size);
      const path = join(runs, runFile!);
      const bytes = readFileSync(path);
      for (const page of [1, 17 + 2]) bytes.fill(0xa5, page * RUN_PAGE_BYTES + 100, page * RUN_PAGE_BYTES + 200);
      writeFileSync(path, bytes);
      store = await openStore(directory, options);
      await check('repaired from parity');
      expect(store.stats().storage.repairedBlocks, 'blocks rebuilt from parity').toBeGreaterThan(0);

      const backup = temporaryDirectory();
      await store.backup(join(backup, 'b'));
      expect((await verifyBackup(join(backup, 'b'))).ok).toBe(true);
      await store.close();
      const restored = join(temporaryDirectory(), 'r');
      await restoreBackup(join(backup, 'b'), restored);
      store = await openStore(restored, options);
      await check('restored');
    } finally {
      await store.close();
    }
  }, 120_000);
});
