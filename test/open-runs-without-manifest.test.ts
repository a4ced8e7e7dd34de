/**
 * A store whose manifest copies are both gone while runs/ holds run files: open fails
 * with CorruptionError naming the manifest directory. Before, open took the store for a
 * release-0.1 one (a WAL only, from segment 1) and failed naming WAL segment 1, which a
 * checkpoint had deleted long before: the wrong file for an operator to look at.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CorruptionError, openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

describe('open: run files without a manifest', () => {
  it('CorruptionError naming the manifest, nothing changed on disk', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { segmentSizeBytes: 16 * 1024 });
    for (let index = 0; index < 300; index++) await store.put(`key-${index}`, { index, text: 'x'.repeat(100) });
    await store.checkpoint();
    for (let index = 0; index < 300; index++) await store.put(`key-${index}`, { index, again: true });
    await store.close();
    const runs = readdirSync(join(directory, 'runs'));
    expect(runs.filter((name) => name.endsWith('.run')).length).toBeGreaterThan(0);
    for (const name of readdirSync(join(directory, 'manifest'))) rmSync(join(directory, 'manifest', name));
    const walBefore = readdirSync(join(directory, 'wal')).sort();

    const error = await openStore(directory).then(() => undefined, (failure: unknown) => failure);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).file).toBe(join(directory, 'manifest'));
    expect((error as CorruptionError).message).toMatch(/no manifest copy/);
    expect(readdirSync(join(directory, 'runs'))).toEqual(runs);
    expect(readdirSync(join(directory, 'wal')).sort()).toEqual(walBefore);
  });

  it('no run files and no manifest: opens as a WAL-only store (release 0.1 layout), nothing lost', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { checkpointOnClose: false });
    await store.put('a', 1);
    await store.close();
    expect(readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run'))).toEqual([]);
    for (const name of readdirSync(join(directory, 'manifest'))) rmSync(join(directory, 'manifest', name));
    const reopened = await openStore(directory);
    expect(await reopened.get('a')).toBe(1);
    await reopened.close();
  });
});
