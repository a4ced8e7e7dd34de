/**
 * A key or value that claims to be a Uint8Array but is not what its `length` or its
 * prototype say (found by model-input-fuzz, seed 20261203, shrunk to one call each):
 * - a Proxy of a Uint8Array passed `instanceof Uint8Array` and then failed inside the
 *   key's byte copy with a bare TypeError ("Method get TypedArray.prototype.length
 *   called on incompatible receiver"), no `code`, from put, get, delete, history, a
 *   scan bound, a batch and tx.put; it is not bytes (README: a key is a string or a
 *   Uint8Array), so InvalidKeyError 'type';
 * - a Uint8Array whose own `length` lies: longer than its bytes, the key's copy threw
 *   RangeError ERR_OUT_OF_RANGE and a value was stored with bytes it never had (the
 *   slab's, past its end), shorter, the key was stored cut to that length (another
 *   key) and the value cut too. Its bytes are what its buffer holds: both now store
 *   exactly those, as any Uint8Array;
 * - a value whose ArrayBuffer was detached (transferred) failed with a bare TypeError
 *   ("Cannot perform %TypedArray%.prototype.set on a detached ArrayBuffer"); its bytes
 *   are gone, so it is refused with InvalidValueError, as msgpackr's encoding already
 *   refused one nested in a value; as a key it is the empty key (InvalidKeyError
 *   'empty', as before).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidKeyError, InvalidValueError, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

function lyingLength(bytes: number[], claimed: number): Uint8Array {
  return Object.defineProperty(new Uint8Array(bytes), 'length', { get: () => claimed });
}

function detached(): Uint8Array {
  const view = new Uint8Array(new ArrayBuffer(4));
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
}

async function refusal(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(() => 'resolved', (error: unknown) => error);
}

describe('keys and values that lie about being a Uint8Array', () => {
  it('a Proxy of a Uint8Array as a key: InvalidKeyError type from every method, nothing written', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1) });
    await store.put('ab', 1);
    const proxied = (): Uint8Array => new Proxy(new Uint8Array([0x61, 0x62]), {});
    const calls: [string, () => Promise<unknown>][] = [
      ['put', () => store.put(proxied(), 2)],
      ['get', () => store.get(proxied())],
      ['delete', () => store.delete(proxied())],
      ['history', () => store.history(proxied())],
      ['batch', () => store.batch([{ type: 'put', key: proxied(), value: 2 }])],
      ['transaction', () => store.transaction((tx) => tx.put(proxied(), 2))],
      ['scan', async () => { for await (const entry of store.scan({ gte: proxied() })) void entry; }],
    ];
    for (const [name, call] of calls) {
      const error = await refusal(call);
      expect(error, name).toBeInstanceOf(InvalidKeyError);
      expect(error, name).toMatchObject({ code: ErrorCode.InvalidKey, reason: 'type' });
    }
    expect(await store.history('ab')).toEqual([{ version: 1, value: 1, deleted: false }]);
    await store.close();
  });

  it('a key or value whose own length lies is stored as the bytes it holds, also after a reopen', async () => {
    const fileSystem = new FaultFileSystem(1);
    const store = await openStore('/db', { fileSystem });
    await store.put(new Uint8Array(64).fill(0xee), new Uint8Array(64).fill(0xee));
    await store.put(lyingLength([0x61, 0x62, 0x63], 1), lyingLength([1, 2, 3], 1));
    await store.put(lyingLength([0x78, 0x79], 5), lyingLength([4, 5], 64));
    const expectStored = async (reader: typeof store): Promise<void> => {
      expect(await reader.get('abc')).toEqual(new Uint8Array([1, 2, 3]));
      expect(await reader.get('a')).toBeUndefined();
      expect(await reader.get('xy')).toEqual(new Uint8Array([4, 5]));
    };
    await expectStored(store);
    await store.close();
    const reopened = await openStore('/db', { fileSystem });
    await expectStored(reopened);
    await reopened.close();
  });

  it('a detached Uint8Array: refused as a value (InvalidValueError, as nested in one), the empty key as a key', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1) });
    await store.put('kept', 1);
    for (const call of [() => store.put('gone', detached()), () => store.batch([{ type: 'put', key: 'gone', value: detached() }]),
      () => store.transaction((tx) => tx.put('gone', detached())), () => store.put('gone', { nested: detached() })]) {
      const error = await refusal(call);
      expect(error).toBeInstanceOf(InvalidValueError);
      expect(error).toMatchObject({ code: ErrorCode.InvalidValue });
    }
    expect(await refusal(() => store.put(detached(), 1))).toMatchObject({ code: ErrorCode.InvalidKey, reason: 'empty' });
    expect(store.version).toBe(1);
    expect(await store.get('gone')).toBeUndefined();
    await store.close();
  });
});
