/**
 * A watch that does not deliver lease records (includeReserved false, the default) is not
 * failed by their trimmed history: with maxVersionsPerKey 1, renewals replace the
 * record's acquisition version, and a catch-up over the whole key space from before it
 * threw VersionNotRetainedError naming "\u0000ladybug/lease/L1", a key it would never
 * deliver (found by model-watch-lease-random, seed 1 of 40 steps: a watch from 0 of
 * [start, "c0")). Checked with the record's versions in the memtable and, after a
 * checkpoint and a compaction, in the runs; a feed with includeReserved still fails.
 */
import { expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

async function changes(store: Store, options: { includeReserved?: boolean }): Promise<unknown> {
  const seen: Array<[number, string | Uint8Array, boolean]> = [];
  try {
    for await (const change of store.watch({ sinceVersion: 0, untilVersion: store.version, ...options })) seen.push([change.version, change.key, change.deleted]);
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return seen;
}

it.each(['memtable', 'runs'])('a catch-up hiding lease records ignores their trimmed versions (%s)', async (where) => {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(5), maxVersionsPerKey: 1 });
  try {
    await store.put('a', 1); // v1
    const lease = await store.leases.acquire('L1', { owner: 'w1', ttlMs: 60_000 }); // v2
    await store.leases.renew('L1', { owner: 'w1', token: lease.token }); // v3
    await store.leases.renew('L1', { owner: 'w1', token: lease.token }); // v4: the earlier versions of the record are trimmed
    await store.put('b', 2); // v5
    if (where === 'runs') {
      await store.checkpoint();
      await store.compact();
    }
    expect(await changes(store, {})).toEqual([[1, 'a', false], [5, 'b', false]]);
    expect(await changes(store, { includeReserved: true })).toBe('LADYBUG_VERSION_NOT_RETAINED');
  } finally {
    await store.close();
  }
});
