/**
 * Review 8, level adapter: db.clear() must not resolve unless it cleared its range.
 * abstract-level attaches every iterator made by a database, the adapter's own
 * included, as a resource that db.close() closes. clear() reads its range with such an
 * iterator (LadybugLevel#_clear), so a close while a clear ran closed that iterator, its
 * store scan answered "done", and the clear took that for the end of the range: it
 * resolved, with the keys it had not reached still stored. With 5,000 keys, a put and
 * then a close after the clear began, clear() resolved and 4,997 of its keys were there
 * after a reopen. A clear whose database closes under it now rejects with
 * StoreClosedError (typed, LADYBUG_STORE_CLOSED): the keys it deleted stay deleted, the
 * others stay stored, as a clear that fails part way through leaves them.
 */
import { describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const KEYS = 5_000;

async function filled(fileSystem: FaultFileSystem): Promise<LadybugLevel<string, string>> {
  const db = new LadybugLevel<string, string>('/db', { store: { fileSystem } });
  await db.open();
  await db.batch(Array.from({ length: KEYS }, (_, index) => ({ type: 'put' as const, key: `k${String(index).padStart(5, '0')}`, value: 'v' })));
  return db;
}

async function keysAfterReopen(fileSystem: FaultFileSystem): Promise<string[]> {
  const db = new LadybugLevel<string, string>('/db', { store: { fileSystem } });
  await db.open();
  try {
    return await db.keys({ lt: 'l' }).all();
  } finally {
    await db.close();
  }
}

describe('review8: level clear() while the database closes', () => {
  for (const before of ['a put', 'nothing']) {
    it(`clear(), then ${before}, then close(): the clear resolves only with its range empty, else rejects typed`, async () => {
      const fileSystem = new FaultFileSystem(1);
      const db = await filled(fileSystem);
      const clearing = db.clear().then(() => 'resolved', (error: unknown) => error);
      if (before === 'a put') await db.put('x', 'y');
      await db.close();
      const outcome = await clearing;
      const left = await keysAfterReopen(fileSystem);
      if (outcome === 'resolved') expect(left).toEqual([]);
      else expect(outcome).toMatchObject({ name: 'StoreClosedError', code: 'LADYBUG_STORE_CLOSED' });
      expect(left.length).toBeLessThanOrEqual(KEYS);
    });
  }

  it('a clear with nothing closing it still clears its whole range, in chunks', async () => {
    const fileSystem = new FaultFileSystem(1);
    const db = await filled(fileSystem);
    await db.clear({ gte: 'k00100' });
    expect(await db.keys().all()).toHaveLength(100);
    await db.close();
    expect(await keysAfterReopen(fileSystem)).toHaveLength(100);
  });
});
