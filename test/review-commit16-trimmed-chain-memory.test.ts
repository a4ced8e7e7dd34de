/**
 * Review of c24cd62 (VersionChain older-versions record): a chain trimmed back to its
 * newest version alone (maxVersionsPerKey 1, every rewrite of a key) kept its
 * OlderVersions record (firstVersion, trimmedBelow, two shared empty arrays), about
 * 56 B per key that the memtable's estimate does not count (MEMORY_BYTES_PER_KEY is
 * measured on a one-version chain of 48 B): 200k keys written twice under
 * maxVersionsPerKey 1 measured 151.6 B/key of heap against 103 B/key written once,
 * estimate/heap 0.91 instead of ~1.0. A fully trimmed chain now keeps only its creation
 * version (in the same field; its trimmedBelow is its newest version), so it costs what
 * a one-version chain costs. Measured as retained heap after a forced GC (no timing):
 * 50,000 chains, each appended and fully trimmed.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { VersionNotRetainedError } from '../src/errors.js';
import { VersionChain } from '../src/memory/version-chain.js';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

function heapUsed(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

const CHAINS = 50_000;

function retainedBytesPerChain(build: (index: number) => VersionChain): number {
  const chains = new Array<VersionChain>(CHAINS);
  const before = heapUsed();
  for (let index = 0; index < CHAINS; index++) chains[index] = build(index);
  const grown = heapUsed() - before;
  expect(chains.length).toBe(CHAINS);
  return grown / CHAINS;
}

describe('a fully trimmed VersionChain', () => {
  it('costs what a one-version chain costs, and still answers as a trimmed chain', () => {
    const oneVersion = retainedBytesPerChain((index) => new VersionChain(index * 4 + 1, index));
    const trimmed = retainedBytesPerChain((index) => {
      const chain = new VersionChain(index * 4 + 1, index);
      chain.append(index * 4 + 3, index + 1);
      chain.trim(1, Infinity);
      return chain;
    });
    // Kept the record: about oneVersion + 56 B. Within 16 B of a one-version chain now.
    expect(trimmed, `trimmed ${trimmed.toFixed(1)} B/chain, one version ${oneVersion.toFixed(1)} B/chain`).toBeLessThan(oneVersion + 16);

    const chain = new VersionChain(5, 'a');
    chain.append(7, 'b');
    expect(chain.trim(1, Infinity)).toEqual(['a']);
    expect([chain.firstVersion, chain.trimmedBelow, chain.length, chain.versions]).toEqual([5, 7, 1, [7]]);
    expect(chain.slotAsOf(4)).toBeUndefined();
    expect(() => chain.slotAsOf(6)).toThrow(VersionNotRetainedError);
    chain.verify();
    chain.append(9, 'c');
    expect([chain.firstVersion, chain.trimmedBelow, chain.versions]).toEqual([5, 7, [7, 9]]);
    expect(chain.slotAsOf(8)).toBe('b');
    chain.verify();
  });
});
