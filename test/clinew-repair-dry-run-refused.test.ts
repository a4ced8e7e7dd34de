/**
 * `ladybug repair --dry-run` on damage repair refuses: both manifest copies bad at the same
 * record (a flipped byte in each). verify reports it as corruption of the manifest file at
 * offset 0, and repair fails with that CorruptionError; but the dry run's title said "WAL
 * damage that repair refuses as well (see corruption)", sending the user to the WAL, which is
 * intact. Its title now names the damage as found (file, offset, reason) and what is left to
 * do; nothing is changed.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug repair --dry-run on damage repair refuses', () => {
  it('both manifest copies bad: the title names the manifest file and offset, not the WAL (exit 1, nothing changed)', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    for (let index = 0; index < 50; index++) await store.put(`k${index}`, index);
    await store.close();
    for (const name of readdirSync(join(directory, 'manifest'))) {
      const path = join(directory, 'manifest', name);
      const bytes = readFileSync(path);
      bytes[20] = bytes[20]! ^ 0x40;
      writeFileSync(path, bytes);
    }
    const before = treeBytes(directory);
    const dry = await ladybug('repair', directory, '--dry-run');
    expect(dry.code, dry.stderr).toBe(1);
    const title = dry.stdout.split('\n')[0]!;
    expect(title).not.toMatch(/WAL/);
    expect(title).toMatch(new RegExp(`^repair --dry-run: repair refuses this damage: corruption in ${join(directory, 'manifest')}/MANIFEST-\\d+\\.[ab] `
      + 'at offset 0: manifest record damaged in both copies .*; restore the store from a backup$'));
    const repaired = await ladybug('repair', directory);
    expect(repaired.code).toBe(1);
    expect(repaired.stderr).toMatch(/manifest record damaged in both copies .*\[LADYBUG_CORRUPTION\]/);
    expect(treeBytes(directory)).toEqual(before);
  });
});
