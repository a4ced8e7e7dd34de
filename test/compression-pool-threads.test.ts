/**
 * A compression pool keeps its threads between bursts of blocks: a merge waits on
 * its in-flight compressions between blocks, and a pool that ended idle threads at
 * once started a new worker thread for about every block (a 1M-key cold merge took
 * 54 s instead of 6 s).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CompressionPool } from '../src/run/compression-pool.js';
import { RunCompression } from '../src/run/run-format.js';

let pool: CompressionPool | undefined;

afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

async function burst(target: CompressionPool): Promise<void> {
  const payload = Buffer.alloc(64 * 1024, 7);
  await Promise.all(Array.from({ length: 8 }, () => target.compress(RunCompression.brotli, payload)));
}

describe('compression pool threads', () => {
  it('a thread started for a burst is still there after the pool goes idle, and serves the next burst', async () => {
    pool = new CompressionPool(2);
    await burst(pool);
    expect(pool.threadCount).toBe(2);
    // Long enough for a pool that ends idle threads at once to have ended one.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pool.threadCount).toBe(2);
    await burst(pool);
    expect(pool.threadCount).toBe(2);
  });

  it('close() still ends every thread', async () => {
    const closing = new CompressionPool(2);
    await burst(closing);
    await closing.close();
    expect(closing.threadCount).toBe(0);
  });
});
