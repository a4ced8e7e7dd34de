/**
 * CLI review: `ladybug verify` and `repair --dry-run` on a store whose wal/ or runs/ is a
 * file printed Node's raw error ("ladybug: ENOTDIR: not a directory, scandir '.../wal'"),
 * with no code, where `stats` and every command that opens the store say
 * "open DIR failed: ENOTDIR ... [LADYBUG_IO]": verifyStore let a file-system error
 * other than its lock's through untyped. Now it is an IoError naming the verify (exit 1,
 * one line with the code), and nothing is written.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IoError, openStore } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { expectTypedFailure, treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** A store of one run whose `part` directory (wal or runs) is replaced by a file. */
async function storeWithFileFor(part: 'wal' | 'runs'): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  for (let index = 0; index < 50; index++) await store.put(`k${index}`, index);
  await store.close();
  rmSync(join(directory, part), { recursive: true });
  writeFileSync(join(directory, part), 'not a directory');
  return directory;
}

describe('verify of a store whose wal/ or runs/ is a file', () => {
  for (const part of ['wal', 'runs'] as const) {
    it(`${part}/ a file: verify and repair --dry-run fail with LADYBUG_IO (exit 1), writing nothing`, async () => {
      const directory = await storeWithFileFor(part);
      const before = treeBytes(directory);
      for (const args of [['verify', directory], ['verify', directory, '--json'], ['repair', directory, '--dry-run', '--json']]) {
        const result = await ladybug(...args);
        expectTypedFailure(result, args.join(' '));
        expect(result.stderr).toMatch(/ENOTDIR.*\[LADYBUG_IO\]/);
      }
      await expect(verifyStore(directory)).rejects.toBeInstanceOf(IoError);
      expect(treeBytes(directory)).toEqual(before);
    });
  }
});
