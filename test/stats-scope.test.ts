/**
 * stats() names the scope of each figure (issue 11): `sinceOpen` counters start at
 * zero on every open, `lifetime` figures describe the store and survive a reopen.
 * Before this shape, `commits: 0` right after a reopen read as if the store were empty.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const SINCE_OPEN_COUNTERS = [
  'commits', 'groupCommits', 'meanGroupSize', 'groupSizeMax', 'rejectedCommits', 'fsyncs', 'walBytes',
  'walRotationWaits', 'walRotationWaitMs', 'reclaimedVersions', 'flushes', 'flushedBytes', 'compactions',
] as const;

describe('stats() scopes', () => {
  it('after a reopen: lifetime figures as before the close, since-open counters zero', async () => {
    const directory = temporaryDirectory();
    const first = await openStore(directory);
    for (let index = 0; index < 10; index++) await first.put(`key/${index}`, index);
    await first.delete('key/0');
    await first.checkpoint();
    const before = first.stats();
    expect(before.sinceOpen.commits).toBe(11);
    expect(before.sinceOpen.flushes).toBeGreaterThanOrEqual(1);
    await first.close();

    const reopened = await openStore(directory);
    const after = reopened.stats();
    for (const counter of SINCE_OPEN_COUNTERS) expect(after.sinceOpen[counter], counter).toBe(0);
    expect(Date.parse(after.sinceOpen.openedAt)).toBeGreaterThanOrEqual(Date.parse(before.sinceOpen.openedAt));
    expect(after.sinceOpen.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(after.lifetime).toEqual(before.lifetime);
    expect(after.lifetime.version).toBe(11);
    expect(after.lifetime.keys).toBeGreaterThanOrEqual(9);
    expect(after.lifetime.runs).toBeGreaterThan(0);
    expect(after.lifetime.runBytes).toBeGreaterThan(0);
    // The flat fields stay, each equal to its scoped twin.
    expect(after.commits).toBe(after.sinceOpen.commits);
    expect(after.fsyncs).toBe(after.sinceOpen.fsyncs);
    expect(after.walBytes).toBe(after.sinceOpen.walBytes);
    expect(after.version).toBe(after.lifetime.version);
    expect(after.keys).toBe(after.lifetime.keys);

    await reopened.put('key/10', 10);
    const used = reopened.stats();
    expect(used.sinceOpen.commits).toBe(1);
    expect(used.lifetime.version).toBe(12);
    expect(await reopened.get('key/10')).toBe(10);
    await reopened.close();
  });

  it('a new store: lifetime figures and since-open counters all zero', async () => {
    const store = await openStore(temporaryDirectory());
    const stats = store.stats();
    for (const counter of SINCE_OPEN_COUNTERS) expect(stats.sinceOpen[counter], counter).toBe(0);
    expect(stats.lifetime).toEqual({ version: 0, flushedVersion: 0, keys: 0, keysExact: true, keysWithHistory: 0, versions: 0, runs: 0, runBytes: 0 });
    await store.close();
  });
});
