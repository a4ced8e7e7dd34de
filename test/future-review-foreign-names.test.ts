/**
 * Files and directories in a store's folders that the store did not write: a user's
 * notes, a backup tool's `.bak`, an editor's `.swp` or `~`, Finder's `.DS_Store`, and
 * names that look almost like the store's own (`0000000012.run.bak`, `MANIFEST-2~`, a run
 * name with one digit too many, a directory named like a run or a manifest's temporary
 * file). The orphan cleanup at open removes only what the store writes, by its exact
 * names: every such entry is left as it was, and none of them stops the store opening.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';

const directories: string[] = [];

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function storeWithRuns(): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), 'ladybug-future-review-names-'));
  directories.push(directory);
  const store = await openStore(directory, { segmentSizeBytes: 16 * 1024 });
  for (let index = 0; index < 30; index++) await store.put(`k${index}`, 'v'.repeat(500));
  await store.checkpoint();
  for (let index = 0; index < 30; index++) await store.put(`j${index}`, 'w'.repeat(500));
  await store.close();
  return directory;
}

const FOREIGN_FILES = [
  'notes.txt', '.DS_Store',
  'runs/0000000012.run.bak', 'runs/0000000001.run~', 'runs/.DS_Store', 'runs/000017.run', 'runs/0000000002.run.tmp.bak',
  // One digit more than the store writes for run 17 (ten digits, zero padded; more only from 10^10 on, never with a leading zero).
  'runs/00000000017.run', 'runs/00000000018.run.tmp',
  'manifest/MANIFEST-2~', 'manifest/MANIFEST-0000000001.a.bak', 'manifest/MANIFEST-0000000001.a~', 'manifest/.MANIFEST-0000000001.a.swp',
  'wal/wal-0000000001.log.bak', 'wal/.wal-0000000002.log.swp', 'wal/.DS_Store',
];
/** Directories under names the cleanup matches (with a file inside, which must survive too). */
const FOREIGN_DIRECTORIES = ['runs/0000000099.run', 'runs/0000000098.run.tmp', 'manifest/MANIFEST-0000000001.a.tmp'];

function contentsOf(directory: string, relative: string): string {
  const path = join(directory, relative);
  return statSync(path).isDirectory() ? `directory: ${readdirSync(path).join(',')}` : readFileSync(path, 'utf8');
}

describe('entries in the store folders that the store did not write', () => {
  it('are left as they were by open, checkpoint and close, and none stops the open', async () => {
    const directory = await storeWithRuns();
    for (const relative of FOREIGN_FILES) writeFileSync(join(directory, relative), `kept: ${relative}\n`);
    for (const relative of FOREIGN_DIRECTORIES) {
      mkdirSync(join(directory, relative));
      writeFileSync(join(directory, relative, 'inside'), 'kept');
    }
    const before = Object.fromEntries([...FOREIGN_FILES, ...FOREIGN_DIRECTORIES].map((relative) => [relative, contentsOf(directory, relative)]));

    const store = await openStore(directory, { segmentSizeBytes: 16 * 1024 });
    expect(await store.get('k0')).toBe('v'.repeat(500));
    expect(await store.get('j29')).toBe('w'.repeat(500));
    await store.put('after', 1);
    await store.checkpoint();
    expect(store.stats().recovery.removedOrphans).toEqual([]);
    await store.close();
    const again = await openStore(directory);
    expect(await again.get('after')).toBe(1);
    await again.close();

    const after = Object.fromEntries([...FOREIGN_FILES, ...FOREIGN_DIRECTORIES].map((relative) => [relative, existsSync(join(directory, relative)) ? contentsOf(directory, relative) : 'removed']));
    expect(after).toEqual(before);
  });
});
