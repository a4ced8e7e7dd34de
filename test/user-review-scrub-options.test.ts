/**
 * New-user review (installed tarball): store.scrub() ignored an unknown option, where
 * the README says an unknown option is refused with InvalidOptionError, never ignored.
 * scrub({ bytesPerSec: 1024 }) (a typo of bytesPerSecond) ran a whole unpaced pass and
 * resolved; now it is refused before anything is read, and the three real options
 * (signal, bytesPerSecond, onProgress) work as before.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

describe('user review: store.scrub() refuses an unknown option', () => {
  it('a typo is refused with InvalidOptionError naming it, and no pass starts', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    await store.checkpoint();
    for (const options of [{ bytesPerSec: 1024 }, { singal: AbortSignal.abort() }, { repair: false }]) {
      const error = await store.scrub(options as never).then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
      expect((error as InvalidOptionError).option).toBe(Object.keys(options)[0]);
    }
    expect(store.stats().storage.scrub.passesStarted).toBe(0);
    let progress = 0;
    const report = await store.scrub({ bytesPerSecond: 64 * 1024 * 1024, signal: new AbortController().signal, onProgress: () => progress++ });
    expect(report.runs).toBe(1);
    expect(report.aborted).toBe(false);
    expect(progress).toBe(1);
  });
});
