/**
 * A value whose toJSON returns undefined (or a function, which msgpackr also writes as
 * undefined) was accepted at the top level: put resolved with a version, then get
 * answered undefined (as for an absent key), a scan yielded [key, undefined] and
 * history listed a put with no value, also after a reopen. README refuses `undefined`
 * ("use delete to remove a key"), and a value stored as what its toJSON returns is that
 * value; found by the input fuzz's probe of toJSON forms. Now InvalidValueError, with
 * nothing written, from put, batch and tx.put; nested, it stays a property or element
 * reading undefined (as a nested function does, README).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidValueError, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

class NoJson {
  toJSON(): undefined {
    return undefined;
  }
}

class FunctionJson {
  toJSON(): () => number {
    return () => 1;
  }
}

async function refusal(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(() => 'resolved', (error: unknown) => error);
}

describe('a value that encodes as undefined is refused as undefined is', () => {
  it('put, batch and tx.put of a value whose toJSON returns undefined or a function: InvalidValueError, nothing written', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1) });
    await store.put('k', 1);
    for (const value of [new NoJson(), new FunctionJson()]) {
      for (const call of [() => store.put('k', value), () => store.batch([{ type: 'put', key: 'k', value }]), () => store.transaction((tx) => tx.put('k', value))]) {
        const error = await refusal(call);
        expect(error).toBeInstanceOf(InvalidValueError);
        expect(error).toMatchObject({ code: ErrorCode.InvalidValue });
      }
    }
    expect(store.version).toBe(1);
    expect(await store.history('k')).toEqual([{ version: 1, value: 1, deleted: false }]);
    // Nested, the property reads undefined, as a nested function's does.
    await store.put('nested', { a: new NoJson(), b: 2 });
    expect(await store.get('nested')).toEqual({ a: undefined, b: 2 });
    await store.close();
  });
});
