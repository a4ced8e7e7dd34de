/**
 * A directory (or a fifo) in runs/ under the name of a run the store has not written yet,
 * such as runs/0000000003.run made by a user or a tool. Open leaves it alone (it is not
 * the store's), but the next flush took that very id: its rename of the .tmp onto the
 * directory failed with EISDIR, the store failed (StoreFailedError for every later write),
 * and every reopen failed the same way at its first flush, until the directory was found
 * and removed. Now open moves the run-id counter past every name of a run it leaves in
 * runs/, so flushes write under free names and the entries stay as they were.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const runName = (id: number) => `${String(id).padStart(10, '0')}.run`;

describe.skipIf(process.platform === 'win32')('entries of other kinds at the next run names', () => {
  it('flushes after a reopen write under free run ids; the entries stay', async () => {
    const directory = join(temporaryDirectory(), 'store');
    const first = await openStore(directory);
    for (let i = 0; i < 40; i += 1) await first.put(`k${i}`, i);
    await first.close();
    const runs = join(directory, 'runs');
    const highest = Math.max(...readdirSync(runs).map((name) => Number(name.slice(0, 10))));
    const occupied = { [runName(highest + 1)]: 'directory', [runName(highest + 2)]: 'fifo', [runName(highest + 3)]: 'directory' } as const;
    for (const [name, kind] of Object.entries(occupied)) {
      if (kind === 'directory') mkdirSync(join(runs, name));
      else execFileSync('mkfifo', [join(runs, name)]);
    }

    const store = await openStore(directory);
    for (let round = 0; round < 3; round += 1) {
      await store.put(`r${round}`, round);
      await store.checkpoint();
    }
    expect(store.stats().failed).toBe(false);
    await store.close();
    const kinds = Object.fromEntries(Object.keys(occupied).map((name) => {
      const stats = lstatSync(join(runs, name));
      return [name, stats.isDirectory() ? 'directory' : stats.isFIFO() ? 'fifo' : 'file'];
    }));
    expect(kinds).toEqual(occupied);

    const again = await openStore(directory);
    expect([await again.get('k39'), await again.get('r0'), await again.get('r2')]).toEqual([39, 0, 2]);
    await again.close();
  });
});
