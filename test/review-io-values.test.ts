/**
 * Review of 84a7c56 (byte values written directly, src/codec/values.ts): every
 * Uint8Array-like value a put accepts reads back with the same bytes, now and after a
 * reopen (WAL recovery, then a run), and one that cannot is refused at put with
 * nothing stored. Covers Buffer views with a byteOffset, empty buffers, a
 * SharedArrayBuffer-backed Uint8Array, a Uint8Array from another realm (vm), a
 * Uint8Array subclass, values at exactly maxValueBytes, and old msgpackr encodings.
 */
import { Buffer } from 'node:buffer';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { Packr } from 'msgpackr/pack';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeValue, prepareValue, readStored, storedFromEncoded } from '../src/codec/values.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { InvalidValueError, openStore, ValueTooLargeError, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const open: Store[] = [];
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  removeTemporaryDirectories();
});

/** The bytes of a Uint8Array-like value, or undefined when it is not one. */
function bytesOf(value: unknown): number[] | undefined {
  return value instanceof Uint8Array ? [...value] : undefined;
}

/** The encoder before 84a7c56 (msgpackr with the store's options), for old data. */
const oldPacker = new Packr({ useRecords: false, moreTypes: true });

describe('byte values written directly', () => {
  /** Puts each value, checks it reads back with its bytes, reopens (WAL recovery) and checks again. */
  async function roundTrip(values: Record<string, Uint8Array>): Promise<Store> {
    const fileSystem = new FaultFileSystem(84);
    let store = await openStore('/db', { fileSystem });
    for (const [key, value] of Object.entries(values)) {
      // Either refused at put (nothing stored) or stored with its bytes.
      try {
        await store.put(key, value);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidValueError);
        continue;
      }
      expect(bytesOf(await store.get(key)), key).toEqual([...value]);
    }
    await store.close();
    // Recovery reads the WAL: a value that cannot be decoded would fail the open or the get.
    store = await openStore('/db', { fileSystem });
    open.push(store);
    for (const [key, value] of Object.entries(values)) {
      const found = await store.get(key);
      if (found !== undefined) expect(bytesOf(found), key).toEqual([...value]);
    }
    return store;
  }

  it('a Uint8Array from another realm (vm) is stored as bytes, not as a map of indices', async () => {
    const foreign = vm.runInContext('new Uint8Array([1, 2, 3])', vm.createContext({})) as Uint8Array;
    const store = await roundTrip({ foreign });
    expect(bytesOf(await store.get('foreign'))).toEqual([1, 2, 3]);
  });

  it('a Uint8Array subclass is accepted only if it reads back: now and after reopen (was accepted, then every read failed)', async () => {
    class Tagged extends Uint8Array {}
    await roundTrip({ subclass: new Tagged([4, 5, 6]) });
  });

  it('a shared-memory Uint8Array, Buffer views with a byteOffset and empty buffers read back exactly', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(5));
    shared.set([9, 8, 7, 6, 5]);
    const backing = Buffer.alloc(64, 3);
    backing.set([1, 2, 3, 4], 10);
    const store = await roundTrip({
      shared,
      view: backing.subarray(10, 20),
      arrayView: new Uint8Array(backing.buffer, backing.byteOffset + 12, 6),
      emptyBuffer: Buffer.alloc(0),
      emptyArray: new Uint8Array(0),
    });
    // The caller's memory changing after the put changes nothing stored.
    shared[0] = 0;
    backing.fill(0);
    expect(bytesOf(await store.get('shared'))).toEqual([9, 8, 7, 6, 5]);
    expect(bytesOf(await store.get('view'))).toEqual([1, 2, 3, 4, 3, 3, 3, 3, 3, 3]);
    expect(bytesOf(await store.get('arrayView'))).toEqual([3, 4, 3, 3, 3, 3]);
    expect(Buffer.isBuffer(await store.get('emptyBuffer'))).toBe(true);
    expect(bytesOf(await store.get('emptyArray'))).toEqual([]);
  });

  // msgpackr tests `instanceof` against this realm's classes, so a Uint8Array or a Map
  // from another realm nested in a value was encoded as a plain object (the Uint8Array
  // read back as { 0: 1, 1: 2 }, the Map as {}) and the put succeeded. checkValueShape
  // now refuses a foreign built-in with InvalidValueError (foreign plain objects and
  // arrays still encode faithfully and are accepted).
  it('a Uint8Array or Map from another realm nested in a value is refused or read back equal', () => {
    const context = vm.createContext({});
    for (const source of ['({ bytes: new Uint8Array([1, 2]) })', 'new Map([[1, 2]])']) {
      expect(() => prepareValue(vm.runInContext(source, context), 1 << 20)).toThrow(InvalidValueError);
      const value: unknown = vm.runInContext(source, context);
      let stored: ReturnType<typeof prepareValue>['stored'];
      try {
        stored = prepareValue(value, 1 << 20).stored;
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidValueError);
        continue;
      }
      const back = readStored(stored);
      if (source.includes('Map')) expect([...(back as Map<unknown, unknown>)]).toEqual([[1, 2]]);
      else expect(bytesOf((back as { bytes: unknown }).bytes)).toEqual([1, 2]);
    }
  });

  it('values written by the old msgpackr path decode identically (every header size, both byte forms)', () => {
    for (const length of [0, 1, 2, 4, 8, 16, 255, 256, 65535, 65536]) {
      for (const value of [Buffer.alloc(length, 0xab), new Uint8Array(length).fill(0xcd)]) {
        const old = oldPacker.pack(value);
        expect(Buffer.from(prepareValue(value, 1 << 20).encoded).equals(Buffer.from(old))).toBe(true);
        for (const decoded of [decodeValue(old), readStored(storedFromEncoded(old))]) {
          expect(Buffer.isBuffer(decoded)).toBe(Buffer.isBuffer(value));
          expect(bytesOf(decoded)).toEqual([...value]);
        }
      }
    }
  });

  it('a byte value at exactly maxValueBytes is accepted and one byte more refused, as msgpackr counted it', async () => {
    const maxValueBytes = 2000;
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(85), maxValueBytes });
    open.push(store);
    // A Buffer of n bytes encodes to n + 3 (bin 16) at this size; a Uint8Array to n + 5 (ext 16).
    const exactBuffer = Buffer.alloc(maxValueBytes - 3, 1);
    const exactArray = new Uint8Array(maxValueBytes - 5).fill(2);
    expect(oldPacker.pack(exactBuffer).length).toBe(maxValueBytes);
    expect(oldPacker.pack(exactArray).length).toBe(maxValueBytes);
    await store.put('buffer', exactBuffer);
    await store.put('array', exactArray);
    expect(bytesOf(await store.get('buffer'))).toEqual([...exactBuffer]);
    expect(bytesOf(await store.get('array'))).toEqual([...exactArray]);
    await expect(store.put('over', Buffer.alloc(maxValueBytes - 2))).rejects.toBeInstanceOf(ValueTooLargeError);
    await expect(store.put('over', new Uint8Array(maxValueBytes - 4))).rejects.toBeInstanceOf(ValueTooLargeError);
  });
});

/** The byte values of test/fixtures/review-io-bytes-pre-84a7c56 (written before 84a7c56, by msgpackr). */
function byteFixtureValues(): Record<string, unknown> {
  const pattern = (length: number, seed: number) => Buffer.from(Array.from({ length }, (_, index) => (index * 31 + seed) % 256));
  const backing = pattern(64, 9);
  return {
    'buffer-0': Buffer.alloc(0),
    'buffer-1': pattern(1, 1),
    'buffer-255': pattern(255, 2),
    'buffer-256': pattern(256, 3),
    'buffer-3000': pattern(3000, 4),
    'array-0': new Uint8Array(0),
    'array-1': new Uint8Array(pattern(1, 5)),
    'array-253': new Uint8Array(pattern(253, 6)),
    'array-254': new Uint8Array(pattern(254, 7)),
    'array-3000': new Uint8Array(pattern(3000, 8)),
    'view': backing.subarray(10, 30),
    'nested': { bytes: pattern(40, 10), list: [new Uint8Array(pattern(5, 11)), 'text'] },
  };
}

describe('a store written before 84a7c56 (byte values encoded by msgpackr)', () => {
  /**
   * test/fixtures/review-io-bytes-pre-84a7c56 was written by the code of 84a7c56^
   * (generator: test/fixtures/make-review-io-bytes-fixture.test.ts.txt): run/ keys
   * in a run, wal/ keys in the WAL only, both/ keys with a byte version in the run and
   * an object wrapping it in the WAL; closed without a checkpoint.
   */
  it('reads back every value identically (type and bytes), from the run and the WAL, and after a compaction rewrote them', async () => {
    const directory = temporaryDirectory('ladybug-review-io-bytes-');
    cpSync(join(import.meta.dirname, 'fixtures', 'review-io-bytes-pre-84a7c56'), directory, { recursive: true });
    const values = Object.entries(byteFixtureValues());
    const half = Math.ceil(values.length / 2);
    const expectSame = (found: unknown, expected: unknown, what: string) => {
      if (expected instanceof Uint8Array) {
        expect(found instanceof Uint8Array, what).toBe(true);
        expect(Buffer.isBuffer(found), what).toBe(Buffer.isBuffer(expected));
        expect([...(found as Uint8Array)], what).toEqual([...expected]);
      } else {
        expect(found, what).toEqual(expected);
      }
    };
    for (let pass = 0; pass < 2; pass++) {
      const store = await openStore(directory, { segmentSizeBytes: 16 * 1024 });
      try {
        for (const [key, value] of values.slice(0, half)) expectSame(await store.get(`run/${key}`), value, `run/${key}`);
        for (const [key, value] of values.slice(half)) expectSame(await store.get(`wal/${key}`), value, `wal/${key}`);
        for (const [key, value] of values) {
          const history = await store.history(`both/${key}`);
          expect(history.length).toBe(2);
          expectSame(history[0]!.value, { again: value }, `both/${key} newest`);
          expectSame(history[1]!.value, value, `both/${key} oldest`);
        }
        if (pass === 0) await store.compact(); // the second pass reads what the new code wrote
      } finally {
        await store.close();
      }
    }
  });
});

describe('built-ins from another realm', () => {
  it('a foreign Map, Set, Date, RegExp, Error, typed array or ArrayBuffer is refused, nested or at the top; foreign plain objects and arrays are stored exactly', () => {
    const context = vm.createContext({});
    for (const source of ['new Set([1])', 'new Date(5)', '/ab/g', 'new Error("m")', 'new Uint16Array([1])', 'new ArrayBuffer(2)', 'new Map()']) {
      expect(() => prepareValue(vm.runInContext(source, context), 1 << 20), source).toThrow(InvalidValueError);
      expect(() => prepareValue(vm.runInContext(`({ inner: [${source}] })`, context), 1 << 20), source).toThrow(InvalidValueError);
    }
    const plain: unknown = vm.runInContext('({ a: [1, { b: "c" }], d: null })', context);
    expect(readStored(prepareValue(plain, 1 << 20).stored)).toEqual({ a: [1, { b: 'c' }], d: null });
  });
});
