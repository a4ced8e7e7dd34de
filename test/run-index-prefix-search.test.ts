import { describe, expect, it } from 'vitest';
import { IndexBuilder, RunIndex, searchPackedKeys } from '../src/run/run-index.js';
import { RUN_BLOCK_HEADER_BYTES, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { setDebugForTesting } from '../src/util/debug.js';

/** A RunIndex over `lastKeys` (sorted), one page per block, as a format-2 index block decodes. */
function indexOf(lastKeys: readonly string[]): RunIndex {
  const builder = new IndexBuilder();
  lastKeys.forEach((key, block) => builder.add(key, block * RUN_PAGE_BYTES, RUN_PAGE_BYTES, 0n));
  const { block, payloadBytes } = builder.block();
  const payload = block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes);
  return RunIndex.decode('test.run', 0, payload, lastKeys.length, 0, lastKeys.length * RUN_PAGE_BYTES);
}

/** The plain byte-string search (every step compares bytes), which the prefix table must agree with. */
function expected(lastKeys: readonly string[], key: string, strictlyAfter: boolean): number {
  const bytes = Buffer.from(lastKeys.join(''), 'latin1');
  const starts = new Uint32Array(lastKeys.length + 1);
  lastKeys.forEach((lastKey, block) => (starts[block + 1] = starts[block]! + lastKey.length));
  return searchPackedKeys(key, bytes, starts, lastKeys.length, strictlyAfter);
}

function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

describe('RunIndex prefix-table search', () => {
  // Last-key sets: a long shared prefix, keys shorter and longer than shared + 4, repeated last
  // keys (a key's versions spanning blocks), chars 0x00 and 0xff, one block.
  const sets: Record<string, string[]> = {
    shared: ['user:0001', 'user:0001', 'user:00015', 'user:0002', 'user:0002\u0000', 'user:01', 'user:1', 'user:1\u00ff\u00ff\u00ff\u00ff\u00ff'],
    noneShared: ['\u0000', '\u0000\u0000\u0001', 'a', 'abcd', 'abcde', 'abce', 'b', '\u00ff'],
    single: ['prefix-key'],
    allEqual: ['same', 'same', 'same'],
  };
  const random = seeded(7);
  const randomKey = (alphabet: string, maxLength: number): string => {
    const length = 1 + Math.floor(random() * maxLength);
    let key = '';
    for (let index = 0; index < length; index++) key += alphabet[Math.floor(random() * alphabet.length)];
    return key;
  };
  sets.random = Array.from({ length: 300 }, () => 'tenant/' + randomKey('\u0000ab\u00ff', 7)).sort();

  for (const [name, lastKeys] of Object.entries(sets)) {
    it(`finds the block the byte search finds (${name})`, () => {
      // Debug mode off: the search's own cross-check must not be what passes the test.
      setDebugForTesting(false);
      try {
        const index = indexOf(lastKeys);
        const probes = new Set<string>(['', '\u0000', '\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff']);
        for (const lastKey of lastKeys) {
          probes.add(lastKey);
          for (let cut = 0; cut <= lastKey.length; cut++) {
            probes.add(lastKey.slice(0, cut));
            probes.add(lastKey.slice(0, cut) + '\u0000');
            probes.add(lastKey.slice(0, cut) + '\u00ff');
          }
        }
        for (let draw = 0; draw < 500; draw++) probes.add((random() < 0.5 ? 'tenant/' : 'user:') + randomKey('\u0000ab\u00ff01', 8));
        for (const key of probes) {
          expect(index.firstBlockAtOrAfter(key), JSON.stringify(key)).toBe(expected(lastKeys, key, false));
          expect(index.firstBlockAfter(key), JSON.stringify(key)).toBe(expected(lastKeys, key, true));
        }
      } finally {
        setDebugForTesting(true);
      }
    });
  }
});
