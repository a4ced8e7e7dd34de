/**
 * Reopen (recovery) time after writing `profile.reopenRecordCount` records
 * (1,000,000 in a full run, 50,000 in a quick one): 16-byte keys, 100 B values,
 * written with awaited batches of the engine's bulkLoadBatchSize (batches beat
 * concurrent puts for every engine here; 100,000 is fastest for ladybug, lmdb
 * and SQLite, 10,000 for LevelDB, whose 4 MiB write buffer stalls on larger
 * ones), then the engine is closed cleanly.
 *
 * Timed: from the open call until the first get of a written key has returned
 * its value. ladybug reads its manifest and replays only the WAL past the last
 * flush (a clean close checkpoints, so nothing: stats().recovery.durationMs,
 * reported too); the peers open their on-disk structures (LevelDB replays only
 * its last log). The page cache is warm: the
 * files were just written and no cache is dropped (that needs root).
 *
 * Too slow to repeat, so it is not round-interleaved: it runs once per engine,
 * after every interleaved workload. The figure is a duration; unitsPerSecond
 * is reopens per second (its inverse), so ratios read as everywhere else.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineDefinition } from '../engines/engine.js';
import { keyAt, makeValue, SMALL_VALUE } from '../data.js';
import type { Profile } from '../profile.js';
import { loadEntries } from './preload.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

const DEFAULT_BATCH_SIZE = 10_000;

export function reopenWorkload(profile: Profile): Workload {
  const records = profile.reopenRecordCount.toLocaleString('en-US');
  return {
    id: 'reopen',
    title: `reopen after writing ${records} records (16-byte keys, 100 B values)`,
    unit: 'reopens',
    measures:
      `Time from the open call until the first get of a written key returns its value, after ${records} records (16-byte keys in ${profile.keyOrder} order, 100 B values) were written with awaited durable batches (of each engine's fastest size, in the "batch" column) and the engine closed cleanly. ` +
      `ladybug reads its manifest and replays only the WAL past the last flush, which a clean close leaves empty ("WAL replay ms" is its stats().recovery.durationMs); the peers open their on-disk structures. ` +
      `Page cache warm (files just written, no cache drop). ` +
      `"write ms" is the time the load took (informational); "on disk" is the space allocated to the engine's files after close (ladybug's first WAL segment is 64 KiB, each next one twice the previous, up to segmentSizeBytes, 64 MiB by default).`,
    writes: false,
    interleaved: false,
    headline: 'duration',
    columns: [
      { key: 'batchSize', header: 'batch', shortLabel: 'batch', format: 'count' },
      { key: 'recoveryDurationMs', header: 'WAL replay ms (stats)', shortLabel: 'replay ms', format: 'milliseconds' },
      { key: 'writeMs', header: 'write ms', shortLabel: 'write ms', format: 'milliseconds' },
      { key: 'diskMebibytes', header: 'on disk MiB', shortLabel: 'disk MiB', format: 'mebibytes' },
    ],
    appliesTo: (definition: EngineDefinition) => definition.supportsReads,
    run: (context) => measureReopen(context),
  };
}

async function measureReopen(context: WorkloadContext): Promise<Measurement> {
  const { reopenRecordCount: count, keyOrder } = context.profile;
  const batchSize = context.definition.bulkLoadBatchSize ?? DEFAULT_BATCH_SIZE;
  const value = makeValue(SMALL_VALUE.bytes);
  const writeStartMs = performance.now();
  await loadEntries(context.engine, count, batchSize, (index) => ({ key: keyAt(index, keyOrder), value }));
  const writeMs = performance.now() - writeStartMs;
  await context.closeEngine();
  const diskBytes = allocatedBytes(context.directory);
  const probe = keyAt(Math.floor(Math.random() * count), keyOrder);

  const openStartMs = performance.now();
  const engine = await context.openEngine();
  const get = engine.get;
  if (get === undefined) throw new Error('engine has no get');
  const found = await get(probe);
  const reopenMs = performance.now() - openStartMs;
  if (found === undefined) throw new Error('the first get after reopen missed a written key');

  context.beginMeasurement();
  const missing = await countMissing(get, [keyAt(0, keyOrder), keyAt(count - 1, keyOrder)]);
  const stats = engine.stats?.();
  const recoveryDurationMs = stats?.['recoveryDurationMs'];
  return {
    unitCount: 1,
    callCount: 1,
    durationMs: reopenMs,
    unitsPerSecond: 1_000 / reopenMs,
    extra: {
      reopenMs,
      ...(recoveryDurationMs === undefined ? {} : { recoveryDurationMs }),
      writeMs,
      batchSize,
      records: count,
      diskMebibytes: diskBytes / (1 << 20),
    },
    check:
      missing === 0
        ? { passed: true, summary: 'first, last and probed keys found' }
        : { passed: false, summary: `${missing} of the first and last written keys missing after reopen` },
  };
}

async function countMissing(get: (key: Uint8Array) => unknown, keys: readonly Uint8Array[]): Promise<number> {
  let missing = 0;
  for (const key of keys) if ((await get(key)) === undefined) missing += 1;
  return missing;
}

/** Bytes allocated on disk to every file under `directory` (st_blocks × 512). */
function allocatedBytes(directory: string): number {
  let total = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    total += statSync(join(entry.parentPath, entry.name)).blocks * 512;
  }
  return total;
}
