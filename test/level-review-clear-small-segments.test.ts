/**
 * db.clear() on a store opened with small WAL segments (the store option
 * segmentSizeBytes, down to SEGMENT_BYTES_MIN) clears its range, as it does with the
 * default segments. clear() is not one write (README "Using it with level"): it deletes its
 * range CLEAR_CHUNK_KEYS keys per store batch, and a batch of that many deletes can be
 * larger than one commit of such a store (its segment size less the framing), so the
 * clear rejected with BatchTooLargeError before deleting anything, a failure no level
 * clear documents (classic-level has no such limit). Each chunk now also stays within the
 * commit's bytes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CLEAR_CHUNK_KEYS, LadybugLevel } from '../src/level/index.js';
import { SEGMENT_BYTES_MIN } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const SHORT_KEYS = 2 * CLEAR_CHUNK_KEYS + 300;
const LONG_KEYS = 60;

function shortKey(index: number): string {
  return `k${String(index).padStart(6, '0')}`;
}

function longKey(index: number): string {
  return `m${String(index).padStart(4, '0')}`.padEnd(1_024, 'x');
}

/** A database on 16 KiB segments holding '', 0x00, SHORT_KEYS short keys and LONG_KEYS keys of 1,024 bytes, written in batches that fit. */
async function filled(): Promise<LadybugLevel<string, string>> {
  const db = new LadybugLevel<string, string>(temporaryDirectory(), { store: { segmentSizeBytes: SEGMENT_BYTES_MIN } });
  await db.open();
  await db.batch([{ type: 'put', key: '', value: 'empty' }, { type: 'put', key: '\u0000', value: 'zero' }]);
  for (let start = 0; start < SHORT_KEYS; start += 100) {
    await db.batch(Array.from({ length: Math.min(100, SHORT_KEYS - start) }, (_, offset) => ({ type: 'put' as const, key: shortKey(start + offset), value: 'v' })));
  }
  for (let index = 0; index < LONG_KEYS; index++) await db.put(longKey(index), 'w');
  await db.put('z', 'last');
  return db;
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(() => 'resolved', (error: unknown) => `rejected ${(error as { code?: string }).code}`);
}

describe('level clear() on a store with small segments', () => {
  it('clears every key, short and 1,024-byte ones and the pair slot, and the store reopens empty', async () => {
    const db = await filled();
    expect(await outcome(db.clear())).toBe('resolved');
    expect(await db.keys().all()).toEqual([]);
    await db.close();
    await db.open();
    expect(await db.keys().all()).toEqual([]);
    await db.close();
  }, 30_000);

  it('a range with a limit, forward and reversed, deletes exactly the keys it names', async () => {
    const db = await filled();
    const all = await db.keys().all();
    expect(await outcome(db.clear({ gte: '', lt: 'm', limit: CLEAR_CHUNK_KEYS + 7 }))).toBe('resolved');
    const afterForward = all.slice(CLEAR_CHUNK_KEYS + 7);
    expect(await db.keys().all()).toEqual(afterForward);
    expect(await outcome(db.clear({ gt: shortKey(SHORT_KEYS - 5), reverse: true, limit: LONG_KEYS + 1 }))).toBe('resolved');
    // Reversed from the top: 'z', then the LONG_KEYS long keys, which the limit takes exactly.
    expect(await db.keys().all()).toEqual(afterForward.filter((key) => !key.startsWith('m') && key !== 'z'));
    await db.close();
  }, 30_000);
});
