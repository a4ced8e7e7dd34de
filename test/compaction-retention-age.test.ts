/**
 * Retention by age (retainVersionsMs, issue 8), with an injected clock (no sleeping):
 * a version that was current within the window stays readable as of its version
 * even past maxVersionsPerKey, through checkpoint and compaction; once it left the
 * window an as-of read gets VersionNotRetainedError and compaction drops it; the
 * commit-time samples survive a reopen (persisted with compaction's manifest edit).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, openStore, VersionNotRetainedError } from '../src/index.js';
import { versionTimeSettings } from '../src/compaction/version-times.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const DIRECTORY = '/db';
let nowMs = 0;

afterEach(() => {
  versionTimeSettings.nowMs = () => Date.now();
});

function useClock(startMs: number): void {
  nowMs = startMs;
  versionTimeSettings.nowMs = () => nowMs;
}

describe('retainVersionsMs', () => {
  it('keeps what was current within the window, drops it after, and the samples survive reopen', async () => {
    useClock(1_000_000);
    const fileSystem = new FaultFileSystem(31);
    const options = { fileSystem, memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 1, retainVersionsMs: 1000 };
    let store = await openStore(DIRECTORY, options);
    const versions: number[] = [];
    for (const [offsetMs, value] of [[0, 'a'], [100, 'b'], [200, 'c']] as const) {
      nowMs = 1_000_000 + offsetMs;
      await store.put('k', value);
      versions.push(store.version);
    }
    const [first, second, third] = versions as [number, number, number];

    // 500 ms later every version was current within the last 1000 ms.
    nowMs = 1_000_500;
    expect(await store.get('k', { asOf: first })).toBe('a');
    await store.checkpoint();
    await store.compact();
    expect(await store.get('k', { asOf: first })).toBe('a');
    expect(await store.get('k', { asOf: second })).toBe('b');

    // At +1150 the cutoff is +150: 'a' (current until +100) left the window, 'b' did not.
    nowMs = 1_001_150;
    await expect(store.get('k', { asOf: first })).rejects.toBeInstanceOf(VersionNotRetainedError);
    expect(await store.get('k', { asOf: second })).toBe('b');
    const result = await store.compact();
    expect(result.entriesDropped).toBe(1);
    expect(await store.get('k', { asOf: second })).toBe('b');
    expect(await store.get('k')).toBe('c');
    await store.close();

    // Reopen at +1300 (cutoff +300): the persisted samples say 'b' was replaced at +200.
    // A map rebuilt from nothing would keep everything (floor 0) and still answer 'b'.
    nowMs = 1_001_300;
    store = await openStore(DIRECTORY, options);
    await expect(store.get('k', { asOf: second })).rejects.toBeInstanceOf(VersionNotRetainedError);
    expect(await store.get('k', { asOf: third })).toBe('c');
    expect(await store.get('k')).toBe('c');
    await store.close();
  });

  it('off by default: maxVersionsPerKey alone decides', async () => {
    useClock(5_000);
    const fileSystem = new FaultFileSystem(32);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 1 });
    await store.put('k', 'a');
    const first = store.version;
    await store.put('k', 'b');
    await expect(store.get('k', { asOf: first })).rejects.toBeInstanceOf(VersionNotRetainedError);
    await store.close();
  });

  it('a store written without retention opens with it: nothing is known to be old, so everything present is kept', async () => {
    useClock(10_000);
    const fileSystem = new FaultFileSystem(33);
    const base = { fileSystem, memoryBudgetBytes: 256 * 1024 };
    let store = await openStore(DIRECTORY, base);
    await store.put('k', 'a');
    const first = store.version;
    await store.put('k', 'b');
    await store.close();
    store = await openStore(DIRECTORY, { ...base, maxVersionsPerKey: 1, retainVersionsMs: 60_000 });
    await store.compact();
    expect(await store.get('k', { asOf: first })).toBe('a');
    nowMs += 60_001; // the open's sample (every version so far) is now out of the window
    await expect(store.get('k', { asOf: first })).rejects.toBeInstanceOf(VersionNotRetainedError);
    await store.close();
  });

  it('refuses a negative or fractional retainVersionsMs', async () => {
    const fileSystem = new FaultFileSystem(34);
    await expect(openStore(DIRECTORY, { fileSystem, retainVersionsMs: -1 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(openStore(DIRECTORY, { fileSystem, retainVersionsMs: 1.5 })).rejects.toBeInstanceOf(InvalidOptionError);
  });
});
