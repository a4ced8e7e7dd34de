/**
 * A plain run's data block is shipped without a promise while the write chunk has room
 * (issue 12: a flush of 4 KiB values ships a two-page block per entry, and the async
 * frames of the writer's shipBlock, BlockShipper#ship and #append were three promises
 * and about 2 KB of young-generation garbage per entry). BlockShipper#ship answers
 * undefined unless the output writes its chunk first; writeRun makes a promise per
 * written chunk, per yield and per file-system call, not per entry. The bytes are the
 * same (flush-large-value-run-bytes and flush-run-bytes compare digests).
 */
import { createHook } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockShipper } from '../src/run/block-shipper.js';
import { InlineCompressor } from '../src/run/compression-pool.js';
import { DataBlockBuilder } from '../src/run/data-block.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES, RunCompression } from '../src/run/run-format.js';
import { PartitionBuilder } from '../src/run/run-top-index.js';
import { writeRun } from '../src/run/run-writer.js';
import { STRIPE_DATA_PAGES_DEFAULT } from '../src/stripe/parity.js';
import { StripeLayout } from '../src/stripe/stripe-layout.js';
import { StripedOutput } from '../src/stripe/striped-output.js';

/** `count` entries of 4 KiB values (msgpack bin 16 of 4,096 bytes), fresh keys in order. */
function largeValueEntries(count: number): RunEntry[] {
  const value = new Uint8Array(4099).fill(0x5a);
  value.set([0xc5, 0x10, 0x00]);
  return Array.from({ length: count }, (_, number) => ({ key: `key/${number.toString().padStart(8, '0')}`, version: 10 + number, value }));
}

/** Promises created while `body` runs (async_hooks PROMISE inits), and its result. */
async function countingPromises<T>(body: () => Promise<T>): Promise<{ promises: number; result: T }> {
  let promises = 0;
  const hook = createHook({ init(_id, type) { if (type === 'PROMISE') promises++; } });
  hook.enable();
  try {
    const result = await body();
    return { promises, result };
  } finally {
    hook.disable();
  }
}

describe('shipping plain data blocks', () => {
  it('BlockShipper#ship answers undefined while the chunk has room, a promise when the chunk is written first', async () => {
    const hash = await loadHash64();
    const fileSystem = new FaultFileSystem(5);
    await fileSystem.mkdir('/d');
    const handle = await fileSystem.open('/d/run', 'createExclusive');
    const layout = new StripeLayout(STRIPE_DATA_PAGES_DEFAULT, RUN_PAGE_BYTES);
    const output = new StripedOutput(handle, layout, layout.stripeBytes); // one stripe per chunk
    const index = new PartitionBuilder();
    const sealed: number[] = [];
    const shipper = new BlockShipper(output, index, {
      runId: 3, generation: 9, hash, compression: RunCompression.none, compressor: new InlineCompressor(),
      onBlockSealed: (block) => sealed.push(block.offset),
    });
    const builder = new DataBlockBuilder();
    const answers: boolean[] = [];
    for (const entry of largeValueEntries(12)) {
      expect(builder.tryAdd(entry)).toBe(true);
      const answer = shipper.ship(builder, entry.key, 1);
      answers.push(answer !== undefined);
      await answer;
      builder.reset();
    }
    // Two-page blocks, 8 to a 16-page stripe: only the 9th waits for the first chunk's write.
    expect(answers).toEqual([false, false, false, false, false, false, false, false, true, false, false, false]);
    expect(sealed).toEqual(Array.from({ length: 12 }, (_, number) => number * 2 * RUN_PAGE_BYTES));
    expect(index.blockCount).toBe(12);
    await shipper.drain();
    await output.finish();
    await handle.close();
  });

  it('writeRun of 4 KiB values makes far fewer promises than entries', async () => {
    const hash = await loadHash64();
    const fileSystem = new FaultFileSystem(6);
    await fileSystem.mkdir('/runs');
    const entries = largeValueEntries(2000);
    const { promises, result } = await countingPromises(() =>
      writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 0x77, level: 0, hash, entries }));
    expect(result.entryCount).toBe(2000);
    // A promise per written chunk (about 1 MiB, 120 entries), per yield and per file-system
    // call: a few hundred here. Three async frames per shipped block made at least 6,000.
    expect(promises).toBeLessThan(entries.length / 2);
  });
});
