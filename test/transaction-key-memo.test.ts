/**
 * A transaction encodes a key it read and then writes once (src/transaction/key-memo.ts,
 * issue 12): the answer must always be internalKey(key) as the key is now. A
 * Uint8Array changed in place between the read and the write writes its new bytes; a
 * reserved key read is still refused when written; a bad key fails as before.
 */
import { describe, expect, it } from 'vitest';
import { InvalidKeyError } from '../src/errors.js';
import { internalKey } from '../src/codec/keys.js';
import { RESERVED_KEY_PREFIX } from '../src/lease/lease-record.js';
import { KEY_MEMO_SLOTS, KeyMemo } from '../src/transaction/key-memo.js';
import { memoryStore } from './transaction-support.js';

/** xorshift32: the same sequence at every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

describe('KeyMemo', () => {
  it('answers internalKey(key) as the key is now, over a seeded walk of reuses, in-place changes and new keys', () => {
    const next = random(12);
    const pool: (string | Uint8Array)[] = [];
    for (let index = 0; index < 6; index++) pool.push(Uint8Array.of(1 + index, 2, 3), `key-${index}`, `ключ-${index}`);
    const memo = new KeyMemo();
    let reused = 0;
    for (let step = 0; step < 20_000; step++) {
      const key = pool[Math.floor(next() * pool.length)]!;
      if (key instanceof Uint8Array && next() < 0.2) key[Math.floor(next() * key.length)] = Math.floor(next() * 256);
      const before = memo.internal(key);
      expect(before).toBe(internalKey(key));
      if (next() < 0.5) {
        expect(memo.internal(key)).toBe(before);
        reused++;
      }
    }
    expect(reused).toBeGreaterThan(5_000);
  });

  it('fails as internalKey does for a bad key, and for a remembered array emptied in place', () => {
    const memo = new KeyMemo();
    expect(() => memo.internal(undefined)).toThrow(InvalidKeyError);
    expect(() => memo.internal(new Uint8Array(0))).toThrow(InvalidKeyError);
    const bytes = Uint8Array.of(1, 2, 3, 4);
    expect(memo.internal(bytes)).toBe('\u0001\u0002\u0003\u0004');
    // Transferring the buffer detaches it: the array reads as empty.
    structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
    expect(bytes.length).toBe(0);
    expect(() => memo.internal(bytes)).toThrow(expect.objectContaining({ reason: 'empty' }));
  });

  it(`remembers ${KEY_MEMO_SLOTS} keys, the oldest replaced first, and still answers every key`, () => {
    const memo = new KeyMemo();
    const keys = Array.from({ length: KEY_MEMO_SLOTS + 3 }, (_unused, index) => Uint8Array.of(9, index));
    for (const key of keys) expect(memo.internal(key)).toBe(internalKey(key));
    for (const key of keys.reverse()) expect(memo.internal(key)).toBe(internalKey(key));
  });
});

describe('a transaction that reads a key and then writes it', () => {
  it('writes the bytes a Uint8Array holds at the write, changed in place after the read', async () => {
    const store = await memoryStore({ keyEncoding: 'binary' });
    const key = Uint8Array.of(7, 1);
    await store.put(Uint8Array.of(7, 1), 'first');
    await store.transaction(async (tx) => {
      expect(await tx.get(key)).toBe('first');
      key[1] = 2;
      tx.put(key, 'second');
      // Its own write is found under the new bytes, and the old key still reads as stored.
      expect(await tx.get(key)).toBe('second');
      expect(await tx.get(Uint8Array.of(7, 1))).toBe('first');
    });
    expect(await store.get(Uint8Array.of(7, 1))).toBe('first');
    expect(await store.get(Uint8Array.of(7, 2))).toBe('second');
    await store.transaction(async (tx) => {
      await tx.get(key);
      key[0] = 8;
      tx.delete(key);
    });
    expect(await store.get(Uint8Array.of(7, 2))).toBe('second');
    await store.close();
  });

  it('refuses a write of a reserved key it read (InvalidKeyError reserved), nothing written', async () => {
    const store = await memoryStore();
    const reserved = `${RESERVED_KEY_PREFIX}lease/x`;
    const error = await store.transaction(async (tx) => {
      expect(await tx.get(reserved)).toBeUndefined();
      tx.put('plain', 1);
      tx.put(reserved, 1);
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidKeyError);
    expect((error as InvalidKeyError).reason).toBe('reserved');
    expect(await store.get('plain')).toBeUndefined();
    const deleteError = await store.transaction(async (tx) => {
      await tx.get(reserved);
      tx.delete(reserved);
    }).catch((caught: unknown) => caught);
    expect((deleteError as InvalidKeyError).reason).toBe('reserved');
    await store.close();
  });

  it('conflicts on the key it read when another commit wrote it (the read set holds the encoded key)', async () => {
    const store = await memoryStore({ keyEncoding: 'binary' });
    const key = Uint8Array.of(5, 5);
    await store.put(key, 1);
    let attempts = 0;
    await store.transaction(async (tx) => {
      attempts++;
      const value = (await tx.get(key)) as number;
      if (attempts === 1) await store.put(Uint8Array.of(5, 5), 10);
      tx.put(key, value + 1);
    });
    expect(attempts).toBe(2);
    expect(await store.get(key)).toBe(11);
    await store.close();
  });
});
