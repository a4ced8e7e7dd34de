/**
 * A level iterator whose store scan is refused as it is created must not stop the
 * database from closing. abstract-level counts an iterator among the database's
 * resources from its constructor on; the adapter's constructor opened the store scan,
 * and when that threw (the store closed under the adapter through db.store; or, before
 * the next fix, a range bound longer than the store's key limit) the iterator was left
 * without a scan and every later db.close() rejected with LEVEL_DATABASE_NOT_CLOSED
 * ("Cannot read properties of undefined (reading 'return')"), the store never let go.
 * Now the iterator is built and its first step rejects with the store's error.
 * Found by model-level-random against classic-level (a keys() iterator with gt of 1,025 bytes).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('level iterator whose store scan is refused', () => {
  it('rejects its first step with the store\'s error, and the database still closes', async () => {
    const db = new LadybugLevel(temporaryDirectory());
    await db.put('a', '1');
    await db.store.close();
    await expect(db.iterator().next()).rejects.toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
    await expect(db.keys({ gt: 'a' }).all()).rejects.toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
    await db.close();
    expect(db.status).toBe('closed');
  });
});
