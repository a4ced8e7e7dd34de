/**
 * The conflict log's key index (issue 12): findConflict decides point-read
 * transactions by each read key's newest logged writer instead of scanning every
 * commit above the read version. Checked against a plain list scanned in full, over
 * random appends, prunes (the horizon moving up), forgets (disk-full refusals, any
 * logged version) and checks (point keys, sometimes a range), interleaved so the
 * lazily built index is caught up at every point of the log's life.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type Conflict, ConflictLog, keyInRange, type ReadSet } from '../src/transaction/conflict-log.js';
import type { KeyRange } from '../src/memory/memory-index.js';

interface ModelEntry {
  version: number;
  keys: string[];
}

/** The reference: the first entry above readVersion that wrote a read key or into a scanned range. */
function modelConflict(entries: readonly ModelEntry[], readVersion: number, readSet: ReadSet): Conflict | undefined {
  for (const entry of entries) {
    if (entry.version <= readVersion) continue;
    const keys = entry.keys.filter((key) => readSet.keys.has(key));
    const ranges = readSet.ranges.filter((range) => entry.keys.some((key) => keyInRange(key, range)));
    if (keys.length > 0 || ranges.length > 0) return { version: entry.version, keys, ranges };
  }
  return undefined;
}

const KEY_COUNT = 6;
const keyName = (index: number): string => `k${String(index).padStart(2, '0')}`;

type Step =
  | { kind: 'append'; keys: number[] }
  | { kind: 'prune'; back: number }
  | { kind: 'forget'; back: number }
  | { kind: 'check'; back: number; keys: number[]; range: [number, number] | undefined };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), keys: fc.uniqueArray(fc.nat(KEY_COUNT - 1), { minLength: 0, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prune' as const), back: fc.nat(8) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const), back: fc.nat(8) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('check' as const),
      back: fc.nat(10),
      keys: fc.uniqueArray(fc.nat(KEY_COUNT - 1), { minLength: 0, maxLength: 4 }),
      range: fc.option(fc.tuple(fc.nat(KEY_COUNT - 1), fc.nat(KEY_COUNT - 1)), { nil: undefined, freq: 4 }),
    }),
  },
);

describe('ConflictLog key index', () => {
  it('finds exactly the conflict a full scan finds, through appends, prunes and forgets', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary, { minLength: 1, maxLength: 120 }), (steps) => {
        const log = new ConflictLog();
        let model: ModelEntry[] = [];
        let version = 0;
        let checks = 0;
        for (const step of steps) {
          if (step.kind === 'append') {
            version++;
            const keys = step.keys.map(keyName);
            log.append(version, keys.map((key) => ({ key })));
            model.push({ version, keys });
          } else if (step.kind === 'prune') {
            const horizon = Math.max(0, version - step.back);
            log.prune(horizon);
            model = model.filter((entry) => entry.version > horizon);
          } else if (step.kind === 'forget') {
            const target = version - step.back;
            log.forget(target);
            model = model.map((entry) => (entry.version === target ? { version: target, keys: [] } : entry));
          } else {
            const readVersion = Math.max(0, version - step.back);
            const ranges: KeyRange[] = step.range === undefined
              ? []
              : [{ gte: keyName(Math.min(...step.range)), lt: keyName(Math.max(...step.range)) }];
            const readSet: ReadSet = { keys: new Set(step.keys.map(keyName)), ranges };
            expect(log.findConflict(readVersion, readSet)).toEqual(modelConflict(model, readVersion, readSet));
            checks++;
          }
          expect(log.size).toBe(model.length);
        }
        return checks >= 0;
      }),
      { numRuns: 400 },
    );
  });

  it('a key rewritten by a newer commit stays indexed when the older writer is pruned or forgotten', () => {
    const log = new ConflictLog();
    const readKey: ReadSet = { keys: new Set(['a']), ranges: [] };
    log.append(1, [{ key: 'a' }]);
    log.append(2, [{ key: 'b' }]);
    log.append(3, [{ key: 'a' }]);
    expect(log.findConflict(0, readKey)?.version).toBe(1); // indexes 1-3: a's newest writer is 3
    log.prune(1); // drops version 1: a stays indexed at 3
    expect(log.findConflict(1, readKey)?.version).toBe(3);
    log.forget(3); // a disk-full refusal of 3: nothing above 1 wrote a any more
    expect(log.findConflict(1, readKey)).toBeUndefined();
    log.append(4, [{ key: 'a' }]);
    log.forget(4);
    log.append(5, [{ key: 'c' }, { key: 'a' }]);
    expect(log.findConflict(4, readKey)).toEqual({ version: 5, keys: ['a'], ranges: [] });
    log.append(6, [{ key: 'a' }]);
    log.append(7, [{ key: 'a' }]);
    expect(log.findConflict(6, readKey)?.version).toBe(7); // indexed: a's newest writer is 7
    log.forget(7); // the older writer, 6, is a's newest again
    expect(log.findConflict(5, readKey)).toEqual({ version: 6, keys: ['a'], ranges: [] });
    expect(log.findConflict(6, readKey)).toBeUndefined();
    log.prune(7);
    expect(log.size).toBe(0);
    expect(log.findConflict(0, readKey)).toBeUndefined();
  });
});
