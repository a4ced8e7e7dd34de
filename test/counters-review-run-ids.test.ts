/**
 * Run ids past the ten digits of their zero-padded names (docs/FORMAT.md, "Run file"):
 * the run after 9999999999.run is 10000000000.run. Flushes, a compaction, a reopen, a
 * verify and a backup restored from it must all treat it as any other run.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import { Manifest } from '../src/manifest/manifest.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

describe('run ids past ten digits', () => {
  it('flush, compact, reopen, verify, back up and restore across 9999999999.run', async () => {
    const directory = temporaryDirectory();
    let store = await openStore(directory);
    await store.put('kept', 'value');
    await store.close();
    const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
    await manifest.apply({ nextRunId: 9_999_999_998 });
    await manifest.close();
    store = await openStore(directory);
    for (let round = 0; round < 4; round++) {
      await store.put(`round-${round}`, round);
      await store.checkpoint();
    }
    const names = readdirSync(join(directory, 'runs'));
    expect(names.some((name) => /^1\d{10}\.run$/.test(name)), names.join()).toBe(true);
    await store.compact();
    await store.close();
    store = await openStore(directory);
    expect(await store.get('kept')).toBe('value');
    for (let round = 0; round < 4; round++) expect(await store.get(`round-${round}`)).toBe(round);
    const backupDirectory = join(temporaryDirectory(), 'backup');
    await store.backup(backupDirectory);
    await store.close();
    const report = await verifyStore(directory);
    expect(report.ok).toBe(true);
    expect((await verifyBackup(backupDirectory)).ok).toBe(true);
    const restored = join(temporaryDirectory(), 'restored');
    await restoreBackup(backupDirectory, restored);
    const copy = await openStore(restored);
    for (let round = 0; round < 4; round++) expect(await copy.get(`round-${round}`)).toBe(round);
    await copy.close();
  });
});
