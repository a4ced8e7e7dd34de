/**
 * Second review of 4559ef8 (keys are measured by their intrinsic length, not by a `length`
 * property that may lie): a transaction's key memo (transaction/key-memo.ts) compared a
 * remembered key's bytes by its `length` property. A length-tracking Uint8Array over a
 * resizable ArrayBuffer with an own `length` of 2 was read as "ab"; grown to "abc", the
 * memo still matched it (two bytes compared) and the put went to "ab" where
 * internalKey, and a put outside the transaction, take "abc". The memo now measures the
 * key as internalKey does.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

/** Node 20 has resizable ArrayBuffers; the TypeScript lib here predates them. */
interface ResizableArrayBuffer extends ArrayBuffer {
  resize(length: number): void;
}
const ResizableBuffer = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ResizableArrayBuffer;

describe('a transaction key whose length property lies', () => {
  it('is written under the bytes it holds at the put, not a remembered shorter form', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1), keyEncoding: 'binary' });
    const buffer = new ResizableBuffer(2, { maxByteLength: 8 });
    const key = new Uint8Array(buffer);
    key.set([97, 98]);
    Object.defineProperty(key, 'length', { value: 2 });
    await store.transaction(async (tx) => {
      expect(await tx.get(key)).toBeUndefined();
      buffer.resize(3);
      key[2] = 99;
      tx.put(key, 'v');
    });
    const keys = [];
    for await (const [stored] of store.scan()) keys.push(Buffer.from(stored as Uint8Array).toString('latin1'));
    expect(keys).toEqual(['abc']);
    await store.close();
  });
});
