/**
 * A value that msgpack would write as an empty object, what it holds lost, is refused with
 * InvalidValueError, as a boxed primitive and a Map subclass are (README): a Promise (a
 * `put(key, fetchIt())` missing its await read back as {}), a SharedArrayBuffer (its bytes
 * read back as {}), a WeakMap and a WeakSet; at the top of the value or inside it, by put,
 * batch and a transaction's put; nothing is written. A Uint8Array over a SharedArrayBuffer
 * is bytes and still reads back exactly.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidValueError, openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

function sharedBytes(): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(4);
  new Uint8Array(buffer).set([1, 2, 3, 4]);
  return buffer;
}

const LOSSY: [string, () => object][] = [
  ['a Promise', () => Promise.resolve({ fetched: true })],
  ['a SharedArrayBuffer', sharedBytes],
  ['a WeakMap', () => new WeakMap([[{}, 1]])],
  ['a WeakSet', () => new WeakSet([{}])],
];

const PLACES: [string, (lossy: object) => unknown][] = [
  ['as the value', (lossy) => lossy],
  ['inside an object', (lossy) => ({ n: 1, inner: lossy })],
  ['inside an array', (lossy) => [1, [lossy]]],
];

const WRITES: [string, (store: Store, value: unknown) => Promise<unknown>][] = [
  ['put', (store, value) => store.put('k', value)],
  ['batch', (store, value) => store.batch([{ type: 'put', key: 'first', value: 1 }, { type: 'put', key: 'k', value }])],
  ['tx.put', (store, value) => store.transaction((tx) => { tx.put('first', 1); tx.put('k', value); })],
];

describe('a value that would read back as an empty object is refused', () => {
  it('Promise, SharedArrayBuffer, WeakMap, WeakSet: InvalidValueError by put, batch and tx.put, nothing written', async () => {
    const fileSystem = new FaultFileSystem(5);
    const store = await openStore('/db', { fileSystem });
    try {
      await store.put('k', 'before');
      const wrong: string[] = [];
      for (const [kind, make] of LOSSY) {
        for (const [place, wrap] of PLACES) {
          for (const [write, call] of WRITES) {
            const error = await call(store, wrap(make())).then(() => 'accepted', (thrown: unknown) => thrown);
            if (!(error instanceof InvalidValueError) || error.code !== ErrorCode.InvalidValue) {
              wrong.push(`${kind} ${place} by ${write}: ${error instanceof Error ? error.message : String(error)} (reads back as ${JSON.stringify(await store.get('k'))})`);
            }
          }
        }
      }
      expect(wrong).toEqual([]);
      expect(store.version).toBe(1);
      expect(await store.get('k')).toBe('before');
      expect(await store.get('first')).toBeUndefined();
      await store.put('bytes', new Uint8Array(sharedBytes()));
      expect(await store.get('bytes')).toEqual(new Uint8Array([1, 2, 3, 4]));
    } finally {
      await store.close();
    }
  });
});
