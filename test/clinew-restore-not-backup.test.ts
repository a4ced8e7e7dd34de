/**
 * `ladybug restore FROM TARGET` where FROM is not a backup: a store (`restore ./data ./copy`,
 * the store given instead of its backup) or an empty directory (the arguments swapped). Both
 * were refused as "backup incomplete (FROM/BACKUP.json): no BACKUP.json: not a finished backup",
 * which sends a user looking for a backup that crashed. The refusal keeps its code and status
 * (LADYBUG_BACKUP, exit 1) and now says what FROM is and what to do; the target is not created
 * and FROM is not changed.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { errorLines, treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug restore from a directory that is not a backup', () => {
  it('a store or an empty directory: exit 1, LADYBUG_BACKUP, one line saying what it is and what to do; nothing written', async () => {
    const root = temporaryDirectory();
    const store = join(root, 'data');
    const opened = await openStore(store);
    await opened.put('k', 'v');
    await opened.close();
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const before = treeBytes(root);
    const cases: Array<[string, RegExp]> = [
      [store, /^ladybug: backup incomplete \(.*data\): no BACKUP\.json: this is a ladybug store, not a backup of one: take a backup of it with `ladybug backup .*data <target>` and restore that \[LADYBUG_BACKUP\]$/],
      [empty, /^ladybug: backup incomplete \(.*empty\): no BACKUP\.json: an empty directory, not a backup: give the directory `ladybug backup` wrote first \[LADYBUG_BACKUP\]$/],
    ];
    for (const [from, message] of cases) {
      for (const json of [[], ['--json']]) {
        const result = await ladybug('restore', from, join(root, 'target'), ...json);
        expect(result.code, result.stderr).toBe(1);
        expect(result.stdout).toBe('');
        expect(errorLines(result.stderr)).toHaveLength(1);
        expect(errorLines(result.stderr)[0]).toMatch(message);
        expect(existsSync(join(root, 'target')), 'target created').toBe(false);
      }
    }
    expect(treeBytes(root)).toEqual(before);
  });
});
