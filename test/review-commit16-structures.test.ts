/**
 * Review of issue 12's commit-path structures (bc6e961, 23a112e, c24cd62), randomized:
 * - ConflictLog (two parallel arrays, entries [head, end), an emptied log keeps its
 *   arrays) against a plain list of {version, keys}: random appends, prunes at random
 *   horizons (often past every entry, so the arrays are reused; sometimes holding the
 *   head back past the 4,096-entry compaction), forgets of logged, pruned and never
 *   logged versions, and conflict checks at read versions on and around head and end,
 *   by point keys (the key index) and by ranges (the entry scan).
 * - VersionChain (older versions in a record made at the second version, shared empty
 *   arrays after a full trim) against a plain chain with every field inline: random
 *   appends, trims at keepCount 1-3 with pins below, at and above the newest version,
 *   then slotAsOf at every version, firstVersion, trimmedBelow, length and verify().
 */
import { describe, expect, it } from 'vitest';
import { VersionNotRetainedError } from '../src/errors.js';
import { type Conflict, ConflictLog, keyInRange } from '../src/transaction/conflict-log.js';
import type { KeyRange } from '../src/memory/memory-index.js';
import { TOMBSTONE, type VersionSlot, VersionChain } from '../src/memory/version-chain.js';

/** A small deterministic generator (mulberry32), so a failure names its seed. */
function randomOf(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

interface LoggedModel {
  version: number;
  keys: string[];
}

function modelConflict(entries: readonly LoggedModel[], readVersion: number, keys: ReadonlySet<string>, ranges: readonly KeyRange[]): Conflict | undefined {
  for (const entry of entries) {
    if (entry.version <= readVersion) continue;
    const touched = entry.keys.filter((key) => keys.has(key));
    const rangesTouched = ranges.filter((range) => entry.keys.some((key) => keyInRange(key, range)));
    if (touched.length > 0 || rangesTouched.length > 0) return { version: entry.version, keys: touched, ranges: rangesTouched };
  }
  return undefined;
}

describe('ConflictLog against a plain list (random)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: conflicts, forgets, prunes and reuse of an emptied log`, () => {
      const random = randomOf(seed);
      const log = new ConflictLog();
      let model: LoggedModel[] = [];
      let version = 0;
      let horizon = 0;
      let heldHorizon = 0;
      const keyCount = 3 + Math.floor(random() * 20);
      const keyOf = (): string => `k${String(Math.floor(random() * keyCount)).padStart(2, '0')}`;
      const check = (readVersion: number): void => {
        const keys = new Set<string>();
        const keyTotal = Math.floor(random() * 3);
        for (let index = 0; index < keyTotal; index++) keys.add(keyOf());
        const ranges: KeyRange[] = [];
        if (random() < 0.3) {
          const low = keyOf();
          ranges.push(random() < 0.5 ? { gte: low, lt: `${low}~` } : { gt: low });
        }
        const found = log.findConflict(readVersion, { keys, ranges });
        expect(found, `read ${readVersion} head ${horizon} keys ${[...keys]}`).toEqual(modelConflict(model, readVersion, keys, ranges));
      };
      for (let step = 0; step < 14_000; step++) {
        if (step === 11_000) {
          // Past 4,096 held entries, then most of them dropped: the head compaction.
          horizon = version - 5;
          log.prune(horizon);
          model = model.filter((entry) => entry.version > horizon);
        }
        if (step === 3000) heldHorizon = version;
        const choice = random();
        if (choice < 0.55) {
          version += 1 + (random() < 0.1 ? Math.floor(random() * 3) : 0);
          const keys = [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, keyOf))];
          log.append(version, keys.map((key) => ({ key })));
          model.push({ version, keys });
        } else if (choice < 0.7) {
          // Mostly the whole log (the common case: no transaction running), else part of it.
          const lowest = model[0]?.version ?? version;
          horizon = random() < 0.5 ? version : Math.max(horizon, lowest + Math.floor(random() * (version - lowest + 1)) - 1);
          if (step > 3000 && step < 11_000) horizon = Math.min(horizon, heldHorizon); // a long transaction holds the head back
          log.prune(horizon);
          model = model.filter((entry) => entry.version > horizon);
        } else if (choice < 0.78) {
          const target = random() < 0.8 && model.length > 0 ? model[Math.floor(random() * model.length)]!.version : Math.floor(random() * (version + 3));
          log.forget(target);
          model = model.map((entry) => (entry.version === target ? { version: target, keys: [] } : entry));
        } else {
          const head = model[0]?.version ?? version;
          const candidates = [head - 1, head, version - 1, version, 0, Math.floor(random() * (version + 1))];
          check(candidates[Math.floor(random() * candidates.length)]!);
        }
        expect(log.size).toBe(model.length);
      }
    });
  }
});

/** The chain before c24cd62, fields inline: the reference. */
class PlainChain {
  firstVersion: number;
  versions: number[];
  slots: VersionSlot[];
  trimmedBelow = 0;

  constructor(version: number, slot: VersionSlot) {
    this.firstVersion = version;
    this.versions = [version];
    this.slots = [slot];
  }

  append(version: number, slot: VersionSlot): void {
    this.versions.push(version);
    this.slots.push(slot);
  }

  trim(keepCount: number, pinnedVersion: number): VersionSlot[] {
    const excess = this.versions.length - keepCount;
    if (excess <= 0) return [];
    let pinnedIndex = -1;
    for (let index = 0; index < this.versions.length; index++) if (this.versions[index]! <= pinnedVersion) pinnedIndex = index;
    // The entry visible at the pin and the keepCount - 1 below it stay (a snapshot's history lists them: 5336e39).
    const dropCount = Math.min(excess, Math.max(0, pinnedIndex - (keepCount - 1)));
    if (dropCount === 0) return [];
    this.versions.splice(0, dropCount);
    const dropped = this.slots.splice(0, dropCount);
    this.trimmedBelow = this.versions[0]!;
    return dropped;
  }

  /** 'not retained' where the chain must throw VersionNotRetainedError. */
  slotAsOf(version: number): VersionSlot | undefined | 'not retained' {
    if (version < this.firstVersion) return undefined;
    let found = -1;
    for (let index = 0; index < this.versions.length; index++) if (this.versions[index]! <= version) found = index;
    if (found >= 0) return this.slots[found];
    return this.trimmedBelow !== 0 ? 'not retained' : undefined;
  }
}

function chainAnswer(chain: VersionChain, version: number): VersionSlot | undefined | 'not retained' {
  try {
    return chain.slotAsOf(version);
  } catch (error) {
    if (error instanceof VersionNotRetainedError) return 'not retained';
    throw error;
  }
}

describe('VersionChain against a plain chain (random)', () => {
  for (const seed of [11, 12, 13, 14]) {
    it(`seed ${seed}: appends and trims at keepCount 1-3, many chains side by side`, () => {
      const random = randomOf(seed);
      const chains: Array<{ chain: VersionChain; plain: PlainChain }> = [];
      let version = 0;
      for (let step = 0; step < 2500; step++) {
        version += 1;
        const slot: VersionSlot = random() < 0.2 ? TOMBSTONE : `v${version}`;
        if (chains.length < 8 || random() < 0.05) {
          chains.push({ chain: new VersionChain(version, slot), plain: new PlainChain(version, slot) });
          continue;
        }
        const { chain, plain } = chains[Math.floor(random() * chains.length)]!;
        chain.append(version, slot);
        plain.append(version, slot);
        const keepCount = 1 + Math.floor(random() * 3);
        if (chain.length > keepCount) {
          const pinChoice = random();
          const pin = pinChoice < 0.5 ? Infinity : pinChoice < 0.7 ? version : Math.max(0, version - Math.floor(random() * 12));
          expect(chain.trim(keepCount, pin)).toEqual(plain.trim(keepCount, pin));
        }
        for (const entry of step % 25 === 0 ? chains : [chains[chains.length - 1]!, chains[Math.floor(random() * chains.length)]!]) {
          const { chain: other, plain: reference } = entry;
          expect(other.versions).toEqual(reference.versions);
          expect(other.values).toEqual(reference.slots);
          expect([other.firstVersion, other.trimmedBelow, other.length]).toEqual([reference.firstVersion, reference.trimmedBelow, reference.versions.length]);
          other.verify();
        }
        const { chain: probed, plain: reference } = chains[Math.floor(random() * chains.length)]!;
        for (let asOf = Math.max(0, probed.firstVersion - 2, probed.versions[0]! - 6); asOf <= version; asOf += asOf < probed.versions[0]! || asOf >= probed.newestVersion ? 1 + Math.floor(random() * 40) : 1) {
          expect(chainAnswer(probed, asOf), `as of ${asOf}`).toEqual(reference.slotAsOf(asOf));
        }
      }
    });
  }
});
