/**
 * A level write called before db.close() lands: abstract-level does not wait for pending
 * writes at close(), so the adapter must not close its store under a write it has taken.
 * A store batch in flight is waited for by store.close(); a write of the empty key or
 * 0x00 (a store transaction, which reads the pair slot before it commits) and a write
 * queued behind one (level-cli-review-pair-slot-concurrency) are the adapter's to wait for.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

describe('level close with writes pending', () => {
  it('every write called before close() resolves and is stored', async () => {
    const location = temporaryDirectory();
    const db = new LadybugLevel<string, string>(location);
    await db.open();
    const writes = [
      db.put('a', 'a1'),
      db.put('', 'e1'),
      db.put('b', 'b1'),
      db.batch([{ type: 'put', key: '\u0000', value: 'z1' }, { type: 'put', key: 'c', value: 'c1' }]),
      db.put('d', 'd1'),
      db.del('a'),
    ];
    const settled = Promise.allSettled(writes);
    await db.close();
    const results = await settled;
    expect(results.map((result) => (result.status === 'rejected' ? String((result.reason as Error).message) : 'ok'))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    const again = new LadybugLevel<string, string>(location);
    expect(await again.iterator().all()).toEqual([['', 'e1'], ['\u0000', 'z1'], ['b', 'b1'], ['c', 'c1'], ['d', 'd1']]);
    await again.close();
  });
});
