/**
 * Random interleavings of level writes called without awaiting each other (puts, dels and
 * batches of the empty key, 0x00 and ordinary keys, some refused as too large), checked
 * against a model that applies them in call order, a refused write changing nothing. This
 * holds the call-order rule of 8660b25 (a pair-slot write waits for the writes called before
 * it, a write called while one is pending waits for it) across every mix, with the writes
 * issued both while the database is open and while it opens (abstract-level's deferral).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { mulberry32 as random } from './support/seeded-random.js';

afterEach(() => removeTemporaryDirectories());

type Operation = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

const KEYS = ['', '\u0000', '\u0000\u0000', 'a', 'b'];
const TOO_LARGE = 'x'.repeat(70 * 1024); // over maxValueBytes (64 KiB) below

describe('level writes called side by side apply in call order', () => {
  for (const deferred of [false, true]) {
    it(`random mixes, 12 rounds (${deferred ? 'issued while opening' : 'open'})`, async () => {
      const next = random(deferred ? 7 : 3);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
      for (let round = 0; round < 12; round++) {
        const db = new LadybugLevel<string, string>(temporaryDirectory(), { store: { maxValueBytes: 64 * 1024 } });
        if (!deferred) await db.open();
        const model = new Map<string, string>();
        const calls: Array<Promise<void>> = [];
        for (let call = 0; call < 40; call++) {
          const operation = (large: number): Operation => (next() < 0.7
            ? { type: 'put', key: pick(KEYS), value: next() < large ? TOO_LARGE : `r${round}c${call}v${Math.floor(next() * 1000)}` }
            : { type: 'del', key: pick(KEYS) });
          // Too-large values in single writes only: a batch that puts one at the empty key and
          // overwrites it within the batch stores only the pair's last state, which fits, and is
          // taken, where a store batch refuses any too-large put (seen, left: either is atomic).
          const operations = next() < 0.6 ? [operation(0.1)] : Array.from({ length: 1 + Math.floor(next() * 4) }, () => operation(0));
          const refused = operations.some((op) => op.type === 'put' && op.value === TOO_LARGE);
          if (!refused) for (const op of operations) op.type === 'put' ? model.set(op.key, op.value) : model.delete(op.key);
          const single = operations[0]!;
          const write = operations.length === 1
            ? (single.type === 'put' ? db.put(single.key, single.value) : db.del(single.key))
            : db.batch(operations);
          calls.push(write.then(
            () => expect(refused, `call ${call} of round ${round} was not refused`).toBe(false),
            (error: unknown) => expect(refused ? (error as { code?: string }).code : error).toBe('LADYBUG_VALUE_TOO_LARGE'),
          ));
        }
        await Promise.all(calls);
        const expected = [...model.entries()].sort(([left], [right]) => Buffer.compare(Buffer.from(left), Buffer.from(right)));
        expect(await db.iterator().all(), `round ${round}`).toEqual(expected);
        await db.close();
      }
    }, 30_000);
  }
});
