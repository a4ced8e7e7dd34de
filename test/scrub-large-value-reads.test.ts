/**
 * A scrub reads each run byte a bounded number of times, however large its blocks: a
 * value of a few MiB is one data block spanning dozens of stripes, and the parity step
 * checks every block with bytes in each stripe. Before 2026-12-04 that step read and
 * hashed the whole block again for every stripe it spans, so scrubbing four 15 MiB
 * values took over a minute (quadratic in the block's size); a block that passed its
 * check is now remembered, and a later stripe whose bytes of it are the ones it passed
 * with needs no read of the rest.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { RunReadCounter } from './support/file-system-wrappers.js';
import { seededBytes } from './support/seeded-bytes.js';

afterEach(() => removeTemporaryDirectories());


describe('scrub of runs holding large values', () => {
  it('reads each run byte a bounded number of times, and finds the runs clean', async () => {
    const directory = temporaryDirectory();
    const fileSystem = new RunReadCounter(new NodeFileSystem());
    const store = await openStore(directory, { fileSystem });
    const values = [0, 1, 2].map((seed) => seededBytes(3 * 1024 * 1024 + 1234 * seed, seed + 7));
    for (const [position, value] of values.entries()) await store.put(`big-${position}`, value);
    await store.put('small', 'x');
    await store.checkpoint();
    const runFileBytes = store.stats().storage.runBytes;
    fileSystem.bytes = 0;
    const report = await store.scrub({ bytesPerSecond: 64 * 1024 * 1024 * 1024 });
    expect(report.runs).toBeGreaterThan(0);
    expect(report.unrecoverable).toEqual([]);
    expect(report.damaged).toEqual([]);
    expect(report.repaired).toEqual([]);
    // Block steps read every block once and the parity step every stripe once: about 2x.
    // Re-reading a 3 MiB block for each of its ~48 stripes read about 50x.
    expect(fileSystem.bytes).toBeLessThan(4 * runFileBytes);
    for (const [position, value] of values.entries()) expect(Buffer.from((await store.get(`big-${position}`)) as Uint8Array).equals(value)).toBe(true);
    await store.close();
  });
});
