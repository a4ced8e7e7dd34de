/**
 * A get's answer from a run (src/engine/read-view.ts #fromEntries) is not copied
 * before the caller copies it: a byte-array value's slot wraps the bytes where the
 * run's block holds them (resolve.ts transientSlotOfEntry), and readStored copies
 * them out. What a caller receives must still be its own: changing a returned Buffer
 * changes neither the next read of the key nor a read of its neighbours in the same
 * cached block. Other values (strings, objects, tombstones) take slotOfEntry's path.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { prepareValue, readStored } from '../src/codec/values.js';
import { EncodedValue } from '../src/codec/value-slabs.js';
import { slotOfEntry, transientSlotOfEntry } from '../src/engine/resolve.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import type { RunEntry } from '../src/run/run-descriptor.js';

const entry = (value: unknown): RunEntry => ({ key: 'k', version: 1, value: value === undefined ? undefined : prepareValue(value, 1 << 20).encoded });

describe('transientSlotOfEntry', () => {
  it('wraps a byte-array value without copying it, and reads back the same bytes as slotOfEntry', () => {
    for (const length of [0, 1, 255, 256, 70_000]) {
      const bytes = Buffer.alloc(length, 7);
      const runEntry = entry(bytes);
      const slot = transientSlotOfEntry(runEntry);
      expect(slot).toBeInstanceOf(EncodedValue);
      expect((slot as EncodedValue).bytes).toBe(runEntry.value); // no copy
      expect(readStored(slot as EncodedValue)).toEqual(readStored(slotOfEntry(runEntry) as EncodedValue));
      const read = readStored(slot as EncodedValue) as Buffer;
      expect(Buffer.isBuffer(read)).toBe(true);
      const before = Buffer.from(runEntry.value!);
      read.fill(0xee); // the caller's copy: the run's bytes stay
      expect(Buffer.from(runEntry.value!)).toEqual(before);
    }
  });

  it('takes slotOfEntry for other values and tombstones', () => {
    expect(transientSlotOfEntry(entry(undefined))).toBe(TOMBSTONE);
    for (const value of ['text', 42, true, null, 12n, { a: [1, 2] }, new Uint8Array([1, 2, 3])]) {
      const runEntry = entry(value);
      const slot = transientSlotOfEntry(runEntry);
      expect(slot).toEqual(slotOfEntry(runEntry));
      if (slot instanceof EncodedValue) expect(slot.bytes).not.toBe(runEntry.value); // copied as before
    }
  });
});

describe('gets from runs hand out values of their own', () => {
  it('changing a returned Buffer changes no later read, cached block or not', async () => {
    const fileSystem = new FaultFileSystem(3);
    const store = await openStore('/store', { fileSystem, keyEncoding: 'binary', memoryBudgetBytes: 4 * 1024 * 1024, checkpointOnClose: false });
    try {
      const keyOf = (index: number) => Buffer.from(`key-${String(index).padStart(6, '0')}`);
      const valueOf = (index: number) => Buffer.alloc(100, index % 251);
      for (let index = 0; index < 2_000; index++) await store.put(keyOf(index), valueOf(index));
      await store.checkpoint(); // every key in a run now, none in memory
      for (let round = 0; round < 3; round++) {
        for (let index = 0; index < 2_000; index += 7) {
          const read = (await store.get(keyOf(index))) as Buffer;
          expect(read).toEqual(valueOf(index));
          read.fill(0xee); // the caller's to change
        }
      }
      for (let index = 0; index < 2_000; index++) expect(await store.get(keyOf(index))).toEqual(valueOf(index));
      expect(store.stats().storage.blockCacheHits).toBeGreaterThan(0); // later rounds read cached blocks
    } finally {
      await store.close();
    }
  });
});
