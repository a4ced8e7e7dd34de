/**
 * `ladybug backup` of a store whose run file was cut short (a truncated copy, a disk that lost
 * its tail). verify, get and dump name the file and offset ("corruption in .../0000000001.run at
 * offset 5000: file is 5000 bytes, the manifest says ...", LADYBUG_CORRUPTION), but backup failed
 * an internal assertion, "assertion failed: run 0000000001.run has the size its descriptor
 * records [LADYBUG_ASSERTION_FAILED]": a bug report for what is damage on disk, with no path.
 * It is now the same CorruptionError the run's open gives; the target is removed as for any
 * failed backup.
 */
import { existsSync, readdirSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { expectTypedFailure } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug backup of a store with a truncated run file', () => {
  it('fails with the corruption (file and offset, LADYBUG_CORRUPTION, exit 1), not an assertion; no target left', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    for (let index = 0; index < 300; index++) await store.put(`k${index}`, `value ${index} ${'x'.repeat(200)}`);
    await store.close();
    const runs = readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run'));
    expect(runs).toHaveLength(1);
    const run = join(directory, 'runs', runs[0]!);
    truncateSync(run, 5000);
    const target = join(temporaryDirectory(), 'backup');

    const verified = await ladybug('verify', directory);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain(`corruption in ${run} at offset 5000: file is 5000 bytes`);

    for (const copy of [[], ['--copy']]) {
      const result = await ladybug('backup', directory, target, ...copy);
      expectTypedFailure(result, `backup ${copy.join(' ')}`);
      expect(result.stderr).toMatch(new RegExp(`^ladybug: corruption in ${run} at offset 5000: file is 5000 bytes, the manifest says \\d+ \\[LADYBUG_CORRUPTION\\]$`, 'm'));
      expect(existsSync(target), 'the failed backup left its target').toBe(false);
    }
  });
});
