/**
 * Lease histories: four workers contend for one lease with short TTLs (2-15 ms, so
 * expiry races acquire, renew-less fenced writes and release), write a fenced resource
 * while they think they hold it, sometimes checkpoint, on a store with the smallest
 * memory budget; between rounds the store is closed or dropped as a crashed process
 * (unsynced data lost) and reopened. What fencing must give (checked over the whole
 * history): tokens are unique and every round's are above everything before it
 * (versions grow across restarts); no fenced write commits after a later acquisition
 * (its token no longer held); tokens of the committed writes never go back in version
 * order. Times are only delays: nothing asserts on them.
 */
import { describe, expect, it } from 'vitest';
import { LeaseBusyError, LeaseLostError, openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { MEMORY_BUDGET_BYTES_MIN, WAL_CHECKPOINT_BYTES_MIN } from '../src/limits.js';
import { abandonStore } from '../src/store/store.js';

const ticks = async (count: number) => { for (let tick = 0; tick < count; tick++) await new Promise((resolve) => setImmediate(resolve)); };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function phase(store: Store, random: SeededRandom, tokens: number[], writes: Array<{ version: number; token: number }>) {
  const worker = async (id: number) => {
    for (let step = 0; step < 25; step++) {
      let lease;
      try {
        lease = await store.leases.acquire('res', { owner: `w${id}`, ttlMs: random.nextIntInclusive(2, 15), waitMs: 200 });
      } catch (error) {
        if (error instanceof LeaseBusyError) continue;
        throw error;
      }
      tokens.push(lease.token);
      for (let write = 0; write < 3; write++) {
        if (random.chance(0.5)) await sleep(random.nextIntInclusive(0, 8));
        else await ticks(random.nextIntInclusive(0, 2));
        try {
          const { version } = await store.put('resource', { token: lease.token, id }, { fence: lease });
          writes.push({ version, token: lease.token });
        } catch (error) {
          if (!(error instanceof LeaseLostError)) throw error;
          break;
        }
      }
      if (random.chance(0.6)) await store.leases.release('res', lease).catch((error: unknown) => { if (!(error instanceof LeaseLostError)) throw error; });
      if (random.chance(0.2)) await store.checkpoint();
    }
  };
  await Promise.all([worker(1), worker(2), worker(3), worker(4)]);
}

describe('lease histories across expiry, crashes and reopens', () => {
  for (const seed of [1, 2]) {
    it(`seed ${seed}: tokens unique and growing, no fenced write after a later acquisition`, async () => {
      const random = new SeededRandom(seed);
      let fault = new FaultFileSystem(seed);
      const options = { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, walCheckpointBytes: WAL_CHECKPOINT_BYTES_MIN, maxVersionsPerKey: 3 };
      const tokens: number[] = [];
      const writes: Array<{ version: number; token: number }> = [];
      let store = await openStore('/db', { ...options, fileSystem: fault });
      const problems: string[] = [];
      for (let round = 0; round < 3; round++) {
        const before = Math.max(0, ...tokens, ...writes.map((write) => write.version));
        const start = tokens.length;
        await phase(store, random, tokens, writes);
        if (tokens.slice(start).some((token) => token <= before)) problems.push(`round ${round}: token not above ${before}`);
        if (random.chance(0.5)) {
          store[abandonStore]();
          fault = fault.crash('drop-unsynced');
          store = await openStore('/db', { ...options, fileSystem: fault });
        } else {
          await store.close();
          store = await openStore('/db', { ...options, fileSystem: fault });
        }
      }
      await store.close();
      const sortedTokens = [...tokens].sort((a, b) => a - b);
      if (new Set(tokens).size !== tokens.length) problems.push('duplicate token');
      for (const { version, token } of writes) {
        const later = sortedTokens.find((other) => other > token);
        if (later !== undefined && later < version) problems.push(`write at ${version} with token ${token} after acquisition ${later}`);
      }
      const byVersion = [...writes].sort((a, b) => a.version - b.version);
      for (let index = 1; index < byVersion.length; index++) {
        if (byVersion[index]!.token < byVersion[index - 1]!.token) problems.push(`token went back at ${byVersion[index]!.version}`);
      }
      expect(writes.length, 'fenced writes committed').toBeGreaterThan(50);
      expect(problems.slice(0, 10)).toEqual([]);
    }, 120_000);
  }
});
