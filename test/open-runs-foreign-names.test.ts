/**
 * The orphan sweep at open (src/engine/open-engine.ts removeOrphanRuns) removes only
 * what the store itself writes into runs/: run files the manifest does not list and
 * run temporaries. It unlinked every name the manifest did not list, so a user's file
 * in runs/ was silently deleted, and a directory there (a backup made into
 * <store>/runs/bk before that target was refused) made every open fail with EISDIR.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const KEYS = 300;

async function storeWithRuns(): Promise<string> {
  const directory = join(temporaryDirectory(), 'store');
  const store = await openStore(directory);
  for (let index = 0; index < KEYS; index++) await store.put(`key-${String(index).padStart(4, '0')}`, `value ${index}`);
  await store.checkpoint();
  await store.close();
  return directory;
}

describe('the orphan sweep at open', () => {
  it('leaves names the store did not write, and still removes orphan runs and run temporaries', async () => {
    const directory = await storeWithRuns();
    const runs = join(directory, 'runs');
    const liveRuns = readdirSync(runs);
    expect(liveRuns.length).toBeGreaterThan(0);
    writeFileSync(join(runs, 'notes.txt'), 'kept by the user');
    mkdirSync(join(runs, 'bk'));
    writeFileSync(join(runs, 'bk', 'inside'), 'x');
    writeFileSync(join(runs, '0000099998.run'), 'an orphan run');
    writeFileSync(join(runs, '0000099999.run.tmp'), 'an orphan temporary');

    const store = await openStore(directory);
    try {
      expect(await store.get('key-0000')).toBe('value 0');
      expect(await store.get(`key-${String(KEYS - 1).padStart(4, '0')}`)).toBe(`value ${KEYS - 1}`);
    } finally {
      await store.close();
    }
    expect(existsSync(join(runs, 'notes.txt'))).toBe(true);
    expect(existsSync(join(runs, 'bk', 'inside'))).toBe(true);
    expect(existsSync(join(runs, '0000099998.run'))).toBe(false);
    expect(existsSync(join(runs, '0000099999.run.tmp'))).toBe(false);
    for (const name of liveRuns) expect(existsSync(join(runs, name))).toBe(true);
  });
});
