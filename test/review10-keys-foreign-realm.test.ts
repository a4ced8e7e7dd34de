/**
 * Review 10 (a new user's keys): a Uint8Array key from another realm (a vm context, or a
 * test environment whose globals are not node's, where a Buffer made by node is foreign)
 * was refused with InvalidKeyError "key must be a string or Uint8Array, got object",
 * although it is a Uint8Array and the same bytes are accepted as a value (values.ts takes
 * any realm's). It is now the key its bytes are, for writes, reads, scan bounds and
 * history; the reserved prefix is refused in that form too.
 */
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { InvalidKeyError, openStore, type Store } from '../src/index.js';

const open: Store[] = [];

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

function foreignBytes(bytes: number[]): Uint8Array {
  return vm.runInNewContext(`new Uint8Array(${JSON.stringify(bytes)})`) as Uint8Array;
}

describe('review10: keys from another realm', () => {
  it('a foreign Uint8Array is the key its bytes are', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(10), keyEncoding: 'binary' });
    open.push(store);
    const key = foreignBytes([0x6b, 0x01]);
    expect(key instanceof Uint8Array).toBe(false);

    await store.put(key, 'by foreign key');
    expect(await store.get(new Uint8Array([0x6b, 0x01]))).toBe('by foreign key');
    expect(await store.get(foreignBytes([0x6b, 0x01]))).toBe('by foreign key');
    await store.batch([{ type: 'put', key: foreignBytes([0x6b, 0x02]), value: 2 }]);
    await store.transaction(async (tx) => {
      tx.put(foreignBytes([0x6b, 0x03]), 3);
    });

    const scanned: number[][] = [];
    for await (const [scannedKey] of store.scan({ gte: foreignBytes([0x6b, 0x02]), lt: foreignBytes([0x6b, 0x04]) })) {
      scanned.push([...(scannedKey as Uint8Array)]);
    }
    expect(scanned).toEqual([[0x6b, 0x02], [0x6b, 0x03]]);
    expect((await store.history(foreignBytes([0x6b, 0x01]))).map((entry) => entry.value)).toEqual(['by foreign key']);

    await store.delete(foreignBytes([0x6b, 0x01]));
    expect(await store.get(new Uint8Array([0x6b, 0x01]))).toBeUndefined();

    const reserved = foreignBytes([...Buffer.from('\u0000ladybug/lease/x')]);
    await expect(store.put(reserved, 1)).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.put(foreignBytes([]), 1)).rejects.toMatchObject({ reason: 'empty' });
  });
});
