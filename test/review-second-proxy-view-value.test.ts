/**
 * Second review of 4559ef8 (a key that only looks like a Uint8Array, a Proxy of one, is a
 * typed refusal): as a value, a Proxy of a Buffer failed put, batch and tx.put with a
 * bare TypeError (no code) from Buffer#toJSON, which the value's shape check called with
 * the Proxy as its receiver; a Proxy of a Uint8Array or another typed array was already
 * InvalidValueError (msgpackr's refusal). Every Proxy of a typed array or DataView, top
 * level or nested, is now InvalidValueError, nothing written; the arrays themselves are
 * stored as before.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidValueError, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

async function refusal(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(() => 'resolved', (error: unknown) => error);
}

describe('a Proxy of a typed array or DataView as a value', () => {
  it('is InvalidValueError from put, batch and tx.put, top level and nested; real arrays still stored', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1) });
    await store.put('k', 1);
    const proxies: Array<[string, object]> = [
      ['Buffer', new Proxy(Buffer.from([1, 2]), {})],
      ['Uint8Array', new Proxy(new Uint8Array([1, 2]), {})],
      ['Float64Array', new Proxy(new Float64Array([1]), {})],
      ['DataView', new Proxy(new DataView(new ArrayBuffer(2)), {})],
    ];
    for (const [name, proxy] of proxies) {
      for (const value of [proxy, { nested: [proxy] }]) {
        const calls = [
          () => store.put('k', value),
          () => store.batch([{ type: 'put', key: 'k', value }]),
          () => store.transaction((tx) => tx.put('k', value)),
        ];
        for (const call of calls) {
          const error = await refusal(call);
          expect(error, `a Proxy of a ${name}`).toBeInstanceOf(InvalidValueError);
          expect(error).toMatchObject({ code: ErrorCode.InvalidValue });
        }
      }
    }
    expect(store.version).toBe(1);
    await store.put('bytes', { b: Buffer.from([3, 4]), u: new Uint8Array([5]) });
    expect(await store.get('bytes')).toEqual({ b: Buffer.from([3, 4]), u: new Uint8Array([5]) });
    await store.put('buffer', Buffer.from([6]));
    expect(await store.get('buffer')).toEqual(Buffer.from([6]));
    await store.close();
  });
});
