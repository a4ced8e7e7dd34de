/**
 * store.get is a plain function returning a promise, not an async function (issue 7:
 * the async function's generator object and register file per call). Its contract
 * stays an async function's: every refusal is a rejected promise with the typed error,
 * never a synchronous throw; an answer from memory, from the runs (synchronous and
 * asynchronous file reads) and from the point cache resolves to the same value, a
 * fresh copy of a byte value each time; a value that fails to decode rejects.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidKeyError, InvalidOptionError, StoreClosedError, VersionNotRetainedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';

/** Calls `get` and reports a synchronous throw instead of letting it escape the test. */
function call(get: () => Promise<unknown>): Promise<unknown> | 'threw' {
  try {
    return get();
  } catch {
    return 'threw';
  }
}

describe('store.get returns a promise on every path', () => {
  it('rejects (never throws) a bad key, an unknown option, an asOf below retention and a closed store', async () => {
    const store = await openStore('/store', { fileSystem: new FaultFileSystem(1), maxVersionsPerKey: 1 });
    await store.put('a', 1);
    await store.put('a', 2);
    await store.put('a', 3);

    const badKey = call(() => store.get(''));
    expect(badKey).toBeInstanceOf(Promise);
    await expect(badKey).rejects.toBeInstanceOf(InvalidKeyError);

    const wrongType = call(() => store.get(42 as unknown as string));
    expect(wrongType).toBeInstanceOf(Promise);
    await expect(wrongType).rejects.toBeInstanceOf(InvalidKeyError);

    const badOption = call(() => store.get('a', { limit: 3 } as unknown as { asOf?: number }));
    expect(badOption).toBeInstanceOf(Promise);
    await expect(badOption).rejects.toBeInstanceOf(InvalidOptionError);

    const trimmed = call(() => store.get('a', { asOf: 1 }));
    expect(trimmed).toBeInstanceOf(Promise);
    await expect(trimmed).rejects.toBeInstanceOf(VersionNotRetainedError);

    await store.close();
    const closed = call(() => store.get('a'));
    expect(closed).toBeInstanceOf(Promise);
    await expect(closed).rejects.toBeInstanceOf(StoreClosedError);
    await expect(closed).rejects.toMatchObject({ code: ErrorCode.StoreClosed });
  });

  it('answers from memory, the runs and the point cache alike, a fresh copy each time', async () => {
    const fileSystem = new FaultFileSystem(2);
    const store = await openStore('/store', { fileSystem, memoryBudgetBytes: 4 * 1024 * 1024, checkpointOnClose: false });
    const bytes = Uint8Array.from([1, 2, 3, 4]);
    await store.put('bytes', bytes);
    await store.put('text', 'hello');
    await store.put('gone', 'x');
    await store.delete('gone');

    const fromMemory = await store.get('bytes');
    expect(fromMemory).toEqual(Uint8Array.from([1, 2, 3, 4]));
    (fromMemory as Uint8Array)[0] = 99; // a caller's copy: changing it changes nothing stored
    expect(await store.get('bytes')).toEqual(Uint8Array.from([1, 2, 3, 4]));

    await store.checkpoint(); // every key now only in a run
    // Three reads each: the first two from the runs, the third from the point cache (its second miss admits it).
    for (let round = 0; round < 3; round++) {
      const answer = call(() => store.get('bytes'));
      expect(answer).toBeInstanceOf(Promise);
      const value = (await answer) as Uint8Array;
      expect(value).toEqual(Uint8Array.from([1, 2, 3, 4]));
      value[1] = 77;
      expect(await store.get('text')).toBe('hello');
      expect(await store.get('gone')).toBeUndefined();
      expect(await store.get('never')).toBeUndefined();
    }
    expect(await store.get('bytes')).toEqual(Uint8Array.from([1, 2, 3, 4]));
    await store.close();
  });
});
