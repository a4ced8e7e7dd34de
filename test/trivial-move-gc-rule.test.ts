/**
 * A trivial move keeps a run only when the merge would have copied it unchanged
 * (src/compaction/trivial-move.ts gcKeepsRun): checked against version-gc.ts's
 * collectKey itself on random runs (keys with 1-4 entries, tombstones, markers) and
 * random rules (maxVersionsPerKey, horizon, retention floor, oldest run or not). With
 * disjoint inputs a key's entries are one run's, so whenever gcKeepsRun says yes,
 * collectKey must keep every entry of every key of the run. Seeded; deterministic.
 */
import { describe, expect, it } from 'vitest';
import { gcKeepsRun } from '../src/compaction/trivial-move.js';
import { collectKey, type VersionGcRule } from '../src/compaction/version-gc.js';
import { NOT_RETAINED_BYTE } from '../src/engine/resolve.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';

const TRIALS = 4000;

/** One run: each key's entries newest first, versions unique across the run. */
function randomRun(random: SeededRandom): RunEntry[][] {
  const keyCount = random.nextIntInclusive(1, 12);
  const multi = random.nextFloat() < 0.5; // half the runs hold one entry per key
  let version = random.nextIntInclusive(1, 40);
  const keys: RunEntry[][] = [];
  for (let index = 0; index < keyCount; index++) keys.push([]);
  const total = multi ? keyCount + random.nextIntInclusive(0, keyCount * 3) : keyCount;
  for (let entry = 0; entry < total; entry++) {
    const slot = entry < keyCount ? entry : random.nextIntInclusive(0, keyCount - 1);
    version += random.nextIntInclusive(1, 3);
    const roll = random.nextFloat();
    const value = roll < 0.25 ? undefined : roll < 0.3 && keys[slot]!.length === 0 ? Uint8Array.of(NOT_RETAINED_BYTE) : Uint8Array.of(1, entry & 255);
    keys[slot]!.unshift({ key: `key${String(slot).padStart(3, '0')}`, version, value });
  }
  return keys;
}

function descriptorOf(keys: readonly RunEntry[][]): RunDescriptor {
  const all = keys.flat();
  const versions = all.map((entry) => entry.version);
  return {
    runId: 1, generation: 1, level: 0, fileName: '0000000001.run', fileBytes: 1 << 20,
    entryCount: all.length, keyCount: keys.length,
    minVersion: Math.min(...versions), maxVersion: Math.max(...versions),
    smallestKey: keys[0]![0]!.key, largestKey: keys.at(-1)![0]!.key, footerChecksum: '0000000000000000',
  };
}

function randomRule(random: SeededRandom, descriptor: RunDescriptor): VersionGcRule {
  const maxVersionsPerKey = random.pick([1, 2, 3, 5, Infinity]);
  const horizon = random.nextFloat() < 0.3 ? Infinity : random.nextIntInclusive(0, descriptor.maxVersion + 5);
  const retentionFloor = random.nextFloat() < 0.4 ? 0 : random.nextIntInclusive(0, Math.min(horizon, descriptor.maxVersion + 5));
  return { maxVersionsPerKey, horizon, includesOldest: random.nextFloat() < 0.5, retentionFloor };
}

describe('gcKeepsRun agrees with collectKey', () => {
  it(`random runs and rules (${TRIALS} trials): a run it keeps loses no entry to version GC`, () => {
    const random = new SeededRandom(20261203);
    let kept = 0;
    let keptUnderFloor = 0;
    let keptUnderBound = 0;
    let refusedDropping = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const keys = randomRun(random);
      const descriptor = descriptorOf(keys);
      const rule = randomRule(random, descriptor);
      const dropsSomething = keys.some((entries) => {
        const collected = collectKey(entries, rule);
        return collected.kept.length !== entries.length || collected.kept.some((entry, index) => entry !== entries[index]);
      });
      if (gcKeepsRun(descriptor, rule)) {
        expect(dropsSomething, `trial ${trial}: ${JSON.stringify({ rule, descriptor: { ...descriptor } })}`).toBe(false);
        kept++;
        if ((rule.retentionFloor ?? 0) >= descriptor.minVersion) keptUnderFloor++;
        if (rule.maxVersionsPerKey !== Infinity && descriptor.entryCount > descriptor.keyCount) keptUnderBound++;
      } else if (dropsSomething) {
        refusedDropping++;
      }
    }
    // Not vacuous: it keeps runs, also under a floor at or above their entries and under a finite bound, and refuses runs GC changes.
    expect(kept).toBeGreaterThan(TRIALS / 4);
    expect(keptUnderFloor).toBeGreaterThan(50);
    expect(keptUnderBound).toBeGreaterThan(50);
    expect(refusedDropping).toBeGreaterThan(TRIALS / 10);
  });
});
