/**
 * CLI review: `ladybug scrub --bytes-per-second N` with N above the scrub's limit
 * (64 GiB/s; 99999999999999999999, 1e12) was refused only by store.scrub(), after the
 * command had opened the store: the open replayed the WAL and the close checkpointed it
 * into a run and a new manifest, so a refused argument (exit 2) rewrote the store's files.
 * The rate's range is now checked with its form, before the store is opened.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { errorLines, treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug scrub --bytes-per-second above the limit', () => {
  it('is a usage error (exit 2) before the store is opened: no file changes', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { checkpointOnClose: false });
    for (let index = 0; index < 40; index++) await store.put(`k${index}`, index);
    await store.close(); // the 40 commits stay in the WAL: an open and close would move them into a run
    const before = treeBytes(directory);
    for (const rate of ['99999999999999999999', '1e12', String(64 * 1024 * 1024 * 1024 + 1)]) {
      const result = await ladybug('scrub', directory, '--bytes-per-second', rate, '--json');
      expect(result.code, `${rate}: ${result.stderr}`).toBe(2);
      expect(result.stdout).toBe('');
      expect(errorLines(result.stderr)).toHaveLength(1);
      expect(result.stderr).toMatch(/bytes-per-second|bytesPerSecond/);
      expect(treeBytes(directory), rate).toEqual(before);
    }
    const atLimit = await ladybug('scrub', directory, '--bytes-per-second', String(64 * 1024 * 1024 * 1024), '--json');
    expect(atLimit.code, atLimit.stderr).toBe(0);
  });
});
