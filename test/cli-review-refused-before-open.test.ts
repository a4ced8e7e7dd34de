/**
 * CLI review: a key or lease name the store refuses (README: a bad argument, exit 2,
 * "none of them changes what the store holds") was refused only by the store's read,
 * after the command had opened the store: the open replayed the WAL and the close
 * checkpointed it into a run and a new manifest, so `ladybug get DIR ''`, a 1,100-byte
 * key to history, `dump --gte ''`, `leases DIR status ''` and `leases DIR --prefix <300 bytes>` rewrote the store's files
 * on the way to their usage error. They are now checked before the store is opened
 * (the store's own key and lease-name checks, the same messages and codes).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { errorLines, treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug: keys and lease names the store refuses', () => {
  it('exit 2 with the typed error, before the store is opened: no file changes', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { checkpointOnClose: false });
    for (let index = 0; index < 40; index++) await store.put(`k${index}`, index);
    await store.close(); // the 40 commits stay in the WAL: an open and close would move them into a run
    const before = treeBytes(directory);
    const long = 'x'.repeat(1100);
    const cases: Array<[string[], RegExp]> = [
      [['get', directory, ''], /key must not be empty \[LADYBUG_INVALID_KEY\]/],
      [['get', directory, long, '--json'], /over the limit of 1024 bytes \[LADYBUG_INVALID_KEY\]/],
      [['history', directory, long], /over the limit of 1024 bytes \[LADYBUG_INVALID_KEY\]/],
      [['dump', directory, '--gte', ''], /key must not be empty \[LADYBUG_INVALID_KEY\]/],
      [['dump', directory, '--lt', long, '--json'], /over the limit of 1024 bytes \[LADYBUG_INVALID_KEY\]/],
      [['leases', directory, 'status', ''], /lease name must be 1\.\.256 bytes, got 0 \[LADYBUG_INVALID_OPTION\]/],
      [['leases', directory, 'status', 'n'.repeat(300)], /lease name must be 1\.\.256 bytes.*\[LADYBUG_INVALID_OPTION\]/],
      [['leases', directory, '--prefix', 'p'.repeat(300), '--json'], /lease name must be 1\.\.256 bytes.*\[LADYBUG_INVALID_OPTION\]/],
    ];
    for (const [args, message] of cases) {
      const what = args.map((arg) => arg.slice(0, 20)).join(' ');
      const result = await ladybug(...args);
      expect(result.code, `${what}: ${result.stderr}`).toBe(2);
      expect(result.stdout, what).toBe('');
      expect(errorLines(result.stderr), what).toHaveLength(1);
      expect(result.stderr, what).toMatch(message);
      expect(treeBytes(directory), `${what}: files changed`).toEqual(before);
    }
    const good = await ladybug('get', directory, 'k1', '--json');
    expect(JSON.parse(good.stdout)).toMatchObject({ found: true, value: 1 });
  });
});
