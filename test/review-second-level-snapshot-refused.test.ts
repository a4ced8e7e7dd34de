/**
 * Second review of 3e7ba7d (a level iterator whose store scan is refused as it is created
 * no longer stops the database from closing): an explicit snapshot is the same kind of
 * resource. db.snapshot() with the store closed under the adapter (through db.store) left
 * the store snapshot's rejection unhandled (an 'unhandledRejection', which ends a Node
 * process by default) and every later db.close() rejected with LEVEL_DATABASE_NOT_CLOSED
 * ("store is closed: cannot snapshot"), the database never closed. Now reads through it
 * reject with the store's error and the database closes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('level snapshot whose store snapshot is refused', () => {
  it('leaves no unhandled rejection, reads through it reject, and the database still closes', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const db = new LadybugLevel(temporaryDirectory());
      await db.put('a', '1');
      await db.store.close();
      const snapshot = db.snapshot();
      await expect(db.get('a', { snapshot })).rejects.toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
      // Unhandled rejections are reported after the microtasks of a macrotask turn.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await db.close();
      expect(db.status).toBe('closed');
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
