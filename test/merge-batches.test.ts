/**
 * The compactor's merge in batches (mergeRunBatches, writeRun's EntryBatches; issue 7,
 * merge throughput): the batches are never empty, bounded, and in run order; their
 * concatenation is the model merge (with version GC dropping entries too); a run
 * written from batches is byte for byte the run written from the same entries one at
 * a time; a cancel between batches stops the merge.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { MERGE_BATCH_ENTRIES, type MergeCounters, mergeRunBatches } from '../src/compaction/merge-runs.js';
import type { VersionGcRule } from '../src/compaction/version-gc.js';
import { NOT_RETAINED_BYTE } from '../src/engine/resolve.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { freshFileSystem, plain, runOrder, writeAndOpen } from './run-helpers.js';

const counters = (): MergeCounters => ({ entriesRead: 0, entriesWritten: 0, entriesDropped: 0, markersRead: 0, markersWritten: 0, payloadBytesWritten: 0 });
const KEEP_ALL: VersionGcRule = { maxVersionsPerKey: Number.MAX_SAFE_INTEGER, horizon: Infinity, includesOldest: false };

/** Three runs with disjoint version ranges (newest run has the highest versions), overlapping keys, some tombstones. */
function threeRuns(): RunEntry[][] {
  const runs: RunEntry[][] = [];
  for (let run = 0; run < 3; run++) {
    const entries: RunEntry[] = [];
    for (let index = 0; index < 4000; index++) {
      if ((index + run) % 3 === 0) continue;
      const key = `k${String((index * 7919) % 10007).padStart(5, '0')}`;
      const versions = 1 + ((index + run) % 3);
      for (let version = 0; version < versions; version++) {
        const value = (index + version) % 11 === 0 ? undefined : Buffer.from(`${key}@${run}.${version}:`.repeat(1 + (index % 4)));
        entries.push({ key, version: run * 100_000 + index * 4 + version + 1, value });
      }
    }
    runs.push(runOrder(entries));
  }
  return runs;
}

async function mergedBatches(hash: Hash64, runs: RunEntry[][], rule: VersionGcRule, yieldEntries?: number, counted = counters()): Promise<RunEntry[][]> {
  const fileSystem = await freshFileSystem();
  const cursors = [];
  for (let run = runs.length - 1; run >= 0; run--) {
    const { reader } = await writeAndOpen(hash, runs[run]!, { fileSystem, runId: run + 1 });
    cursors.push(await reader.cursor({}, false, { fillCache: false }));
  }
  const batches: RunEntry[][] = [];
  for await (const batch of mergeRunBatches(cursors, rule, counted, undefined, undefined, yieldEntries)) batches.push(batch);
  return batches;
}

async function fileBytes(hash: Hash64, entries: RunEntry[] | { batches: AsyncIterable<readonly RunEntry[]> }): Promise<Buffer> {
  const fileSystem = new FaultFileSystem(7);
  await fileSystem.mkdir('/runs');
  const descriptor = await writeRun({ fileSystem, runsDirectory: '/runs', runId: 9, generation: 0x5eed, level: 1, hash, entries });
  return Buffer.from(await fileSystem.readFile(`/runs/${descriptor.fileName}`));
}

describe('mergeRunBatches', () => {
  it('yields non-empty, bounded batches whose concatenation is the model merge', async () => {
    const hash = await loadHash64();
    const runs = threeRuns();
    for (const yieldEntries of [256, 4096]) {
      const batches = await mergedBatches(hash, runs, KEEP_ALL, yieldEntries);
      expect(batches.length).toBeGreaterThan(2);
      for (const batch of batches) {
        expect(batch.length).toBeGreaterThan(0);
        expect(batch.length).toBeLessThan(MERGE_BATCH_ENTRIES + 9); // a key's entries (up to 9 here) finish the batch they start in
      }
      expect(batches.flat().map(plain)).toEqual(runOrder(runs.flat()).map(plain));
    }
  });

  it('applies version GC per key across batch ends', async () => {
    const hash = await loadHash64();
    const runs = threeRuns();
    const counted = counters();
    const merged = (await mergedBatches(hash, runs, { maxVersionsPerKey: 1, horizon: Infinity, includesOldest: false }, undefined, counted)).flat();
    const keys = merged.map((entry) => entry.key);
    const model = runOrder(runs.flat());
    const markers = merged.filter((entry) => entry.value?.length === 1 && entry.value[0] === NOT_RETAINED_BYTE).length;
    expect(markers).toBeGreaterThan(0);
    expect(counted).toEqual({
      entriesRead: model.length, entriesWritten: merged.length, entriesDropped: model.length - (merged.length - markers), markersRead: 0, markersWritten: markers,
      payloadBytesWritten: merged.reduce((sum, entry) => sum + entry.key.length + (entry.value?.length ?? 0), 0),
    });
    // Each key: its newest entry, plus a marker at its oldest when more than one existed.
    expect(new Set(keys).size).toBe(new Set(model.map((entry) => entry.key)).size);
    expect(merged.length).toBeGreaterThan(new Set(keys).size); // markers were written
    expect(merged.length).toBeLessThan(model.length); // versions were dropped
    for (let index = 0; index < merged.length; index++) {
      const entry = merged[index]!;
      const history = model.filter((candidate) => candidate.key === entry.key);
      if (index === 0 || merged[index - 1]!.key !== entry.key) expect(plain(entry)).toEqual(plain(history[0]!));
      else expect(entry.version).toBe(history.at(-1)!.version);
    }
  });

  it('drops a lone tombstone at or below the retention floor of a merge of every run (no single-entry shortcut)', async () => {
    const hash = await loadHash64();
    const run: RunEntry[] = [
      { key: 'a', version: 5, value: undefined },
      { key: 'b', version: 6, value: Buffer.from('kept') },
      { key: 'c', version: 7, value: undefined },
      { key: 'd', version: 200, value: undefined },
      { key: 'e', version: 201, value: Uint8Array.of(NOT_RETAINED_BYTE) },
    ];
    const rule: VersionGcRule = { maxVersionsPerKey: 10, horizon: Infinity, includesOldest: true, coversAll: true, retentionFloor: 100 };
    const merged = (await mergedBatches(hash, [run], rule)).flat();
    expect(merged.map(plain)).toEqual([run[1]!, run[3]!, run[4]!].map(plain));
    // Without the floor every lone entry stays, tombstones and markers included.
    const counted = counters();
    const unfloored = (await mergedBatches(hash, [run], { ...rule, retentionFloor: 0 }, undefined, counted)).flat();
    expect(unfloored.map(plain)).toEqual(run.map(plain));
    expect(counted).toMatchObject({ entriesRead: 5, entriesWritten: 5, entriesDropped: 0, markersRead: 1, markersWritten: 1 });
  });

  it('writes the same run file from batches as from the entries one at a time', async () => {
    const hash = await loadHash64();
    const batches = await mergedBatches(hash, threeRuns(), KEEP_ALL);
    async function* replay(): AsyncGenerator<RunEntry[]> {
      for (const batch of batches) yield batch;
    }
    const fromBatches = await fileBytes(hash, { batches: replay() });
    const fromEntries = await fileBytes(hash, batches.flat());
    expect(fromBatches.length).toBeGreaterThan(0);
    expect(Buffer.compare(fromBatches, fromEntries)).toBe(0);
  });

  it('stops at the next yield once its signal is aborted, and closes its cursors', async () => {
    const hash = await loadHash64();
    const fileSystem = await freshFileSystem();
    const { reader } = await writeAndOpen(hash, threeRuns()[0]!, { fileSystem });
    const cursor = await reader.cursor({}, false, { fillCache: false });
    const cancel = new AbortController();
    const merge = mergeRunBatches([cursor], KEEP_ALL, counters(), undefined, cancel.signal, 256);
    const first = await merge.next();
    expect(first.done).toBe(false);
    cancel.abort(new Error('cancelled here'));
    await expect((async () => { for (;;) if ((await merge.next()).done === true) return; })()).rejects.toThrow('cancelled here');
    expect(cursor.current).toBeUndefined();
  });
});
