/**
 * The run writer yields to the event loop every RUN_WRITE_YIELD_ENTRIES entries of a
 * synchronous source (a memtable being flushed): on the fault file system every write
 * resolves without a macrotask, so without the yields the loop would not turn at all
 * while the entries are encoded. Counted, not timed.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { RUN_WRITE_YIELD_ENTRIES, writeRun } from '../src/run/run-writer.js';
import type { RunEntry } from '../src/run/run-descriptor.js';

describe('run writer: a synchronous source is encoded in slices', () => {
  it('the event loop turns while the entries are read', async () => {
    const fileSystem = new FaultFileSystem(52);
    await fileSystem.mkdir('/runs');
    const entryCount = 6 * RUN_WRITE_YIELD_ENTRIES;
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns++;
      if (counting) setImmediate(tick);
    };
    let turnsAtFirstEntry = -1;
    let turnsAtLastEntry = -1;
    function* entries(): Generator<RunEntry> {
      turnsAtFirstEntry = turns;
      for (let index = 0; index < entryCount; index++) {
        yield { key: `key-${String(index).padStart(8, '0')}`, version: index + 1, value: Uint8Array.of(1, 2, 3) };
      }
      turnsAtLastEntry = turns;
    }
    setImmediate(tick);
    const descriptor = await writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 1, level: 0, hash: await loadHash64(), entries: entries() });
    counting = false;
    expect(descriptor.entryCount).toBe(entryCount);
    expect(turnsAtLastEntry - turnsAtFirstEntry).toBeGreaterThanOrEqual(entryCount / RUN_WRITE_YIELD_ENTRIES - 1);
  });
});
