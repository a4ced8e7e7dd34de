/**
 * 64 clients transfer between two accounts at once, with aborts and thrown errors mixed
 * in (seeded): transaction() serializable and snapshot, with a body that yields a turn
 * or not, and transactionSync(). Each call either committed its whole transfer or
 * nothing: the two balances always sum to the start, the counter every committed
 * transfer increments equals the number of calls that resolved (no lost update), and
 * the second balance is what the model of the resolved calls gives. Each call
 * resolves or rejects with what the test caused (its signal's reason, its own error,
 * ConflictError once its retries ran out), nothing else; afterwards no read is pinned,
 * and close() ends.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { mulberry32 } from './support/seeded-random.js';
import { settle } from './transaction-support.js';

class Refused extends Error {}

const CLIENTS = 64;
const TRANSFERS_PER_CLIENT = 12;
const START = 1000;

describe('64 clients on two accounts, with aborts and errors mixed in', () => {
  for (const seed of [1, 2]) {
    it(`seed ${seed}: conserved, no lost update, every outcome accounted for, nothing left held`, async () => {
      const random = mulberry32(seed);
      const store = await openStore('/db', { fileSystem: new FaultFileSystem(seed), segmentSizeBytes: 256 * 1024 });
      await store.batch([{ type: 'put', key: 'a', value: START }, { type: 'put', key: 'b', value: START }, { type: 'put', key: 'count', value: 0 }]);
      let resolved = 0;
      let modelB = START;
      const outcomes: Record<string, number> = {};
      const unexpected: unknown[] = [];
      const client = async (): Promise<void> => {
        for (let index = 0; index < TRANSFERS_PER_CLIENT; index++) {
          const amount = Math.floor(random() * 21) - 10;
          const kind = Math.floor(random() * 5); // 0-1 serializable, 2 serializable yielding a turn, 3 snapshot, 4 transactionSync
          const refuse = random() < 0.15;
          const abortAt = random() < 0.25 ? Math.floor(random() * 4) : -1; // before the call, between reads, after the writes, two microtasks in
          const controller = new AbortController();
          const reason = new Error('aborted by the test');
          if (abortAt === 0) controller.abort(reason);
          let call: Promise<unknown>;
          if (kind === 4) {
            call = store.transactionSync((tx) => {
              const a = tx.get('a') as number;
              const b = tx.get('b') as number;
              if (refuse) throw new Refused();
              tx.put('a', a - amount);
              tx.put('b', b + amount);
              tx.put('count', (tx.get('count') as number) + 1);
            });
          } else {
            call = store.transaction(async (tx) => {
              const a = (await tx.get('a')) as number;
              if (abortAt === 1) controller.abort(reason);
              const b = (await tx.get('b')) as number;
              if (kind === 2) await settle();
              if (refuse) throw new Refused();
              tx.put('a', a - amount);
              tx.put('b', b + amount);
              tx.put('count', ((await tx.get('count')) as number) + 1);
              if (abortAt === 2) controller.abort(reason);
            }, { signal: controller.signal, retries: 3, isolation: kind === 3 ? 'snapshot' : 'serializable' });
            if (abortAt === 3) queueMicrotask(() => queueMicrotask(() => controller.abort(reason)));
          }
          try {
            await call;
            resolved++;
            modelB += amount;
            outcomes.committed = (outcomes.committed ?? 0) + 1;
          } catch (error) {
            const named = error instanceof Refused ? 'refused' : error instanceof ConflictError ? 'conflict' : error === reason ? 'aborted' : undefined;
            if (named === undefined) unexpected.push(error);
            else outcomes[named] = (outcomes[named] ?? 0) + 1;
          }
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, client));
      expect(unexpected).toEqual([]);
      // Every kind of outcome happened, so the run exercised what it says.
      expect(Object.keys(outcomes).sort()).toEqual(['aborted', 'committed', 'conflict', 'refused']);
      const [a, b, count] = [await store.get('a'), await store.get('b'), await store.get('count')];
      expect((a as number) + (b as number)).toBe(2 * START);
      expect(count).toBe(resolved);
      expect(b).toBe(modelB);
      expect(store.stats().pinnedReads).toBe(0);
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([
        store.close().then(() => true),
        new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), 5000); }),
      ]);
      clearTimeout(timer);
      expect(closed).toBe(true);
    });
  }
});
