/**
 * A level write takes its keys and values as they are when it is called: a caller that
 * reuses its buffers once the call returned (without awaiting it) must not change what is
 * stored, as a write of an ordinary key (the store's batch copies them at the call) and
 * classic-level (copied into its write batch at the call) never did. A write touching the
 * empty key or 0x00 is a store transaction that read its operations only after reading the
 * pair slot, so it stored the buffers' later contents, under a later key too; a write of
 * another key called while such a write is pending waits behind it (8660b25), and did the same.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

describe('level writes copy their buffers at the call', () => {
  it('a put of the empty key, a batch touching 0x00 and a write queued behind them store what was given', async () => {
    const db = new LadybugLevel<Uint8Array, Uint8Array>(temporaryDirectory(), { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    const emptyValue = Uint8Array.of(1, 2, 3);
    const batchKey = Uint8Array.of(5, 5);
    const batchValue = Uint8Array.of(4, 5, 6);
    const zeroValue = Uint8Array.of(7, 8, 9);
    const queuedKey = Uint8Array.of(6, 6);
    const queuedValue = Uint8Array.of(10, 11);
    const writes = [
      db.put(new Uint8Array(0), emptyValue),
      db.batch([{ type: 'put', key: batchKey, value: batchValue }, { type: 'put', key: Uint8Array.of(0), value: zeroValue }]),
      db.put(queuedKey, queuedValue),
    ];
    for (const buffer of [emptyValue, batchKey, batchValue, zeroValue, queuedKey, queuedValue]) buffer.fill(0xee);
    await Promise.all(writes);
    const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
    const stored = (await db.iterator().all()).map(([key, value]) => `${hex(key)}=${hex(value)}`);
    expect(stored).toEqual(['=010203', '00=070809', '0505=040506', '0606=0a0b']);
    await db.close();
  });
});
