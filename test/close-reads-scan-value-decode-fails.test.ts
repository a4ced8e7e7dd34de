/**
 * A store scan whose value fails to decode ends there, as its other failures do: the
 * error reaches the caller as it is, the scan's pin is let go, and a later next()
 * answers done. The value's decoding (readStored) ran outside the step's failure
 * handling, so the scan stayed open, its version pinned, and the next step answered the
 * entry after the one that failed. No stored value fails to decode by itself (the
 * store encodes every value, and run blocks are checksummed): the fault is injected
 * into readStored for one value.
 */
import { describe, expect, it, vi } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const POISON = 'value that fails to decode';

vi.mock('../src/codec/values.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/codec/values.js')>();
  return {
    ...actual,
    readStored: (stored: Parameters<typeof actual.readStored>[0]) => {
      const value = actual.readStored(stored);
      if (value === POISON) throw new Error('decode failed');
      return value;
    },
  };
});

describe('a scan whose value fails to decode', () => {
  for (const where of ['memtable', 'runs'] as const) {
    it(`ends the scan and lets go of its pin (${where})`, async () => {
      const store = await openStore('/db', { fileSystem: new FaultFileSystem(7) });
      try {
        for (let index = 0; index < 10; index++) await store.put(`k${index}`, index === 3 ? POISON : `v${index}`);
        if (where === 'runs') await store.checkpoint();
        const iterator = store.scan();
        const seen: unknown[] = [];
        let failure: unknown;
        for (;;) {
          try {
            const step = await iterator.next();
            if (step.done === true) break;
            seen.push(step.value[0]);
          } catch (error) {
            failure = error;
            break;
          }
        }
        expect(seen).toEqual(['k0', 'k1', 'k2']);
        expect(failure).toMatchObject({ message: 'decode failed' });
        expect(store.stats().oldestPinnedVersion, 'the failed scan\'s pin').toBeUndefined();
        expect(await iterator.next()).toEqual({ done: true, value: undefined });
      } finally {
        await store.close();
      }
    });
  }
});
