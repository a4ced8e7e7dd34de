/**
 * Review of issue 12's commit path through the store (5aed0b4, df7ef77, 0c181f5, c24cd62),
 * randomized, on the in-memory fault file system, maxVersionsPerKey 1, 2, 3 and unbounded:
 * - concurrent clients increment counters through serializable and snapshot transactions
 *   (each rewriting its key several times and writing then deleting a scratch key: the
 *   last write wins, the scratch key never appears), transactionSync and plain puts of
 *   other keys; no increment is lost or doubled, retries included;
 * - write skew: rounds of concurrent serializable "go off duty" transactions over two
 *   on-call flags, some scanning instead of getting (the lazily made scan ranges); never
 *   both off after a round;
 * - plain puts and deletes (versions known) with values a caller mutates after put():
 *   history is a suffix of the model's changes holding at least the newest
 *   maxVersionsPerKey, as-of reads answer the model or refuse (VersionNotRetainedError)
 *   only below the oldest retained version, and a snapshot held across the run reads
 *   what it read at the start.
 */
import { describe, expect, it } from 'vitest';
import { type Store, VersionNotRetainedError } from '../src/index.js';
import { memoryStore, mulberry32 } from './transaction-support.js';

interface Change {
  version: number;
  value: unknown;
  deleted: boolean;
}

const COUNTERS = ['c0', 'c1', 'c2'];
const HISTORY_KEYS = ['h0', 'h1', 'h2', 'h3'];
const tick = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

function valueFor(random: () => number, serial: number): unknown {
  const pick = Math.floor(random() * 4);
  if (pick === 0) return `s${serial}`;
  if (pick === 1) return serial;
  if (pick === 2) return { serial, list: [serial, 'x'] };
  return Uint8Array.from([serial & 0xff, (serial >> 8) & 0xff, 7]);
}

/** What a later read must return for `value` as written (a Uint8Array the caller mutated afterwards is compared to its copy). */
function expected(value: unknown): unknown {
  return value instanceof Uint8Array ? Uint8Array.from(value) : value;
}

async function increment(store: Store, key: string, kind: number, random: () => number): Promise<boolean> {
  if (kind === 2) {
    await store.transactionSync((tx) => {
      const current = (tx.get(key) as number | undefined) ?? 0;
      tx.put(key, current + 1);
      tx.put('scratch', current);
      tx.put(key, current + 1);
      tx.delete('scratch');
    });
    return true;
  }
  const isolation = kind === 0 ? 'serializable' : 'snapshot';
  await store.transaction(async (tx) => {
    const current = ((await tx.get(key)) as number | undefined) ?? 0;
    tx.put(key, current + 100); // rewritten below: the last write wins
    if (random() < 0.5) await tick();
    tx.put('scratch', current);
    tx.put(key, current + 1);
    expect(await tx.get(key)).toBe(current + 1);
    tx.delete('scratch');
    if (random() < 0.5) await tick();
  }, { isolation, retries: 1000 });
  return true;
}

async function offDuty(store: Store, own: string, scan: boolean): Promise<void> {
  await store.transaction(async (tx) => {
    let onCall = 0;
    if (scan) {
      for await (const [, value] of tx.scan({ gte: 'duty:', lt: 'duty;' })) if (value === true) onCall++;
    } else {
      if ((await tx.get('duty:a')) === true) onCall++;
      await tick();
      if ((await tx.get('duty:b')) === true) onCall++;
    }
    await tick();
    if (onCall === 2) tx.put(own, false);
  }, { isolation: 'serializable', retries: 1000 });
}

describe('commit path through the store (random)', () => {
  for (const [seed, maxVersionsPerKey] of [[1, 1], [2, 2], [3, 3], [4, Infinity], [5, 1]] as const) {
    it(`seed ${seed}, maxVersionsPerKey ${maxVersionsPerKey}`, async () => {
      const random = mulberry32(seed);
      const store = await memoryStore({ maxVersionsPerKey }, seed);
      try {
        const changes = new Map<string, Change[]>(HISTORY_KEYS.map((key) => [key, []]));
        let serial = 0;
        const plainWrite = async (): Promise<void> => {
          const key = HISTORY_KEYS[Math.floor(random() * HISTORY_KEYS.length)]!;
          serial++;
          if (random() < 0.2) {
            const { version } = await store.delete(key);
            changes.get(key)!.push({ version, value: undefined, deleted: true });
            return;
          }
          const value = valueFor(random, serial);
          const copy = expected(value);
          const written = store.put(key, value);
          if (value instanceof Uint8Array) value.fill(0xee); // the caller reuses its buffer
          const { version } = await written;
          changes.get(key)!.push({ version, value: copy, deleted: false });
        };
        // A snapshot held across the run: trimming must spare what it reads.
        for (let index = 0; index < 6; index++) await plainWrite();
        const held = await store.snapshot();
        const heldReads = new Map<string, unknown>();
        for (const key of HISTORY_KEYS) heldReads.set(key, await held.get(key));

        const increments = new Map<string, number>(COUNTERS.map((key) => [key, 0]));
        const clients = Array.from({ length: 12 }, async (_, client) => {
          for (let step = 0; step < 40; step++) {
            const choice = random();
            if (choice < 0.6) {
              const key = COUNTERS[Math.floor(random() * COUNTERS.length)]!;
              if (await increment(store, key, Math.floor(random() * 3), random)) increments.set(key, increments.get(key)! + 1);
            } else {
              await plainWrite();
            }
            if (client === 0 && step % 10 === 0) await store.checkpoint();
          }
        });
        await Promise.all(clients);

        for (const key of COUNTERS) expect(await store.get(key), key).toBe(increments.get(key));
        expect(await store.get('scratch')).toBeUndefined();
        for (const [key, value] of heldReads) expect(await held.get(key), `snapshot ${key}`).toEqual(value);
        held.release();

        for (const key of HISTORY_KEYS) {
          const modelChanges = changes.get(key)!;
          const history = (await store.history(key)).reverse(); // oldest first
          const kept = modelChanges.slice(modelChanges.length - history.length);
          expect(history.map((entry) => entry.version), key).toEqual(kept.map((change) => change.version));
          expect(history.map((entry) => (entry.deleted ? undefined : entry.value))).toEqual(kept.map((change) => change.value));
          expect(history.length).toBeGreaterThanOrEqual(Math.min(modelChanges.length, maxVersionsPerKey));
          const oldestKept = history[0]?.version ?? Infinity;
          const newest = store.version;
          for (let version = (modelChanges[0]?.version ?? 1) - 1; version <= newest; version++) {
            let answer: unknown;
            try {
              answer = await store.get(key, { asOf: version });
            } catch (error) {
              expect(error).toBeInstanceOf(VersionNotRetainedError);
              expect(version, `${key} refused as of ${version}, oldest kept ${oldestKept}`).toBeLessThan(oldestKept);
              continue;
            }
            const visible = modelChanges.filter((change) => change.version <= version).pop();
            expect(answer, `${key} as of ${version}`).toEqual(visible === undefined || visible.deleted ? undefined : visible.value);
          }
        }

        // Write skew rounds: both on, then concurrent off-duty transactions.
        for (let round = 0; round < 25; round++) {
          await store.batch([{ type: 'put', key: 'duty:a', value: true }, { type: 'put', key: 'duty:b', value: true }]);
          const racers = 2 + Math.floor(random() * 4);
          await Promise.all(Array.from({ length: racers }, (_, index) => offDuty(store, index % 2 === 0 ? 'duty:a' : 'duty:b', random() < 0.4)));
          const onCall = [await store.get('duty:a'), await store.get('duty:b')].filter((value) => value === true).length;
          expect(onCall, `round ${round}`).toBe(1);
        }
      } finally {
        await store.close();
      }
    });
  }
});
