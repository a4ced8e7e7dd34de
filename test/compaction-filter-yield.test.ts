/**
 * The run writer builds a run's bloom filter in slices of FILTER_BUILD_YIELD_KEYS
 * keys, yielding to the event loop between them (issue 8: a 100,000-key filter built
 * in one piece was compaction's longest event-loop stall). Counted, not timed: the
 * macrotask turns the loop gets while the run is written from an async source, which
 * itself gives the loop no turn: one per slice of the filter's keys. (Since the
 * filter of a complete partition is built while the data is written, issue 7, the
 * slices are spread over the write, not all after its last entry.)
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { FILTER_BUILD_YIELD_KEYS, writeRun } from '../src/run/run-writer.js';
import type { RunEntry } from '../src/run/run-descriptor.js';

describe('run writer: bloom filter built in slices', () => {
  it('the event loop turns while a large filter is built', async () => {
    const fileSystem = new FaultFileSystem(51);
    await fileSystem.mkdir('/runs');
    const keyCount = 6 * FILTER_BUILD_YIELD_KEYS;
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns++;
      if (counting) setImmediate(tick);
    };
    let turnsAtFirstEntry = -1;
    async function* entries(): AsyncGenerator<RunEntry> {
      turnsAtFirstEntry = turns;
      for (let index = 0; index < keyCount; index++) {
        yield { key: `key-${String(index).padStart(8, '0')}`, version: index + 1, value: Uint8Array.of(1, 2, 3) };
      }
    }
    setImmediate(tick);
    const descriptor = await writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 1, level: 0, hash: await loadHash64(), entries: entries() });
    counting = false;
    expect(descriptor.keyCount).toBe(keyCount);
    expect(turnsAtFirstEntry).toBeGreaterThanOrEqual(0);
    // One turn per slice at least (the filter's keys, during and after the data).
    expect(turns - turnsAtFirstEntry).toBeGreaterThanOrEqual(keyCount / FILTER_BUILD_YIELD_KEYS - 1);
  });
});
