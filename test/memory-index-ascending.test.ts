/**
 * MemoryIndex's insert of a key above every key it holds (sequential keys) without a
 * Map lookup, and the flush order it then reads without sorting
 * (src/memory/memory-index.ts). Held to a plain model: every key's versions, the
 * live count and the key order, for runs that are ascending, that rewrite the
 * greatest key, that go below it once, and that append again after a scan built the
 * tree. A flush reads a memtable's order only once it is sealed (no apply after it:
 * orderedKeysAndChains REQUIRES it), so the order is read at the end.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE, type VersionSlot } from '../src/memory/version-chain.js';

type Step = { kind: 'put' | 'del'; key: string } | { kind: 'scan' };

/** Mostly the next ascending key, sometimes an earlier one again, a lower new key, a delete, or a scan. */
const steps = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.constant('next') },
    { weight: 2, arbitrary: fc.constant('same') },
    { weight: 1, arbitrary: fc.constant('earlier') },
    { weight: 1, arbitrary: fc.constant('lower') },
    { weight: 1, arbitrary: fc.constant('delete') },
    { weight: 1, arbitrary: fc.constant('scan') },
  ),
  { maxLength: 120 },
);

function toSteps(choices: readonly string[]): Step[] {
  const written: string[] = [];
  let next = 1000;
  let lower = 999;
  return choices.map((choice): Step => {
    if (choice === 'scan') return { kind: choice };
    let key: string;
    if (choice === 'next' || written.length === 0) key = `k${next++}`;
    else if (choice === 'same') key = written[written.length - 1]!;
    else if (choice === 'lower') key = `k${lower--}`;
    else key = written[Math.floor(written.length / 2)]!;
    written.push(key);
    return { kind: choice === 'delete' ? 'del' : 'put', key };
  });
}

function run(stepList: readonly Step[]): void {
  const index = new MemoryIndex(1000);
  const model = new Map<string, Array<[number, VersionSlot]>>();
  for (const step of stepList) {
    if (step.kind === 'scan') {
      index.chainsChunk({}, undefined, false, 1);
      continue;
    }
    const version = index.appliedVersion + 1;
    const slot: VersionSlot = step.kind === 'del' ? TOMBSTONE : `v${version}`;
    index.apply(version, [{ key: step.key, slot }], 0);
    const history = model.get(step.key) ?? [];
    history.push([version, slot]);
    model.set(step.key, history);
  }
  const keys = [...model.keys()].sort();
  const { keys: ordered, chains } = index.orderedKeysAndChains();
  expect(ordered).toEqual(keys);
  expect(index.orderedKeysAndChains().keys).toEqual(keys); // a second flush attempt reads the same
  for (let position = 0; position < keys.length; position++) {
    const chain = index.chain(keys[position]!);
    expect(chains[position]).toBe(chain);
    expect(chain?.versions).toEqual(model.get(keys[position]!)!.map(([version]) => version));
    expect(chain?.values).toEqual(model.get(keys[position]!)!.map(([, slot]) => slot));
  }
  const live = [...model.values()].filter((history) => history[history.length - 1]![1] !== TOMBSTONE).length;
  expect(index.stats()).toMatchObject({ keys: keys.length, liveKeys: live });
  const scanned = index.chainsChunk({}, undefined, false, Number.MAX_SAFE_INTEGER).map(([key]) => key);
  expect(scanned).toEqual(keys);
  index.verify();
}

describe('MemoryIndex: keys above every key held', () => {
  it('keeps every version, the live count and the key order, whatever mix of ascending and other keys', () => {
    fc.assert(fc.property(steps, (choices) => run(toSteps(choices))), { numRuns: 300 });
  });

  it('an ascending memtable: a rewrite of the greatest key is not a new key', () => {
    run(toSteps(['next', 'next', 'same', 'next', 'same', 'same']));
  });

  it('a key below the greatest one ends the ascending order: the flush sorts', () => {
    run(toSteps(['next', 'next', 'lower', 'next', 'same', 'next']));
  });

  it('appends after a scan built the tree wait beside it, in order', () => {
    run(toSteps(['next', 'next', 'scan', 'next', 'same', 'next', 'scan', 'next']));
  });
});
