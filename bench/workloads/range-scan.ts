/**
 * Forward range scans of `profile.scanLimit` entries from a random preloaded
 * key. Units are scans; entries read per second are reported as extra. A scan
 * that reads nothing (its start key exists) fails the measurement.
 *
 * Every engine scans unrecorded for SETTLE_MS after the preload, before the
 * profile's own warm-up: ladybug's first scan after a load orders the memtable
 * (0.2-1.4 s measured) and the collections promoting that order follow it, so a
 * 50 ms warm-up left the quick profile measuring a transient (p50 500-613 us in
 * the first 0.6 s against 84-130 us after; runs of 827 to 3,419 scans/s).
 */
import type { EngineDefinition, ScanRange } from '../engines/engine.js';
import { randomIndexes, type KeyOrder } from '../data.js';
import { measureClosedLoop } from './closed-loop-measurement.js';
import { preloadKeys, preloadedKeys } from './preload.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

const RANDOM_INDEX_COUNT = 1 << 14;
const SETTLE_MS = 1_500;

export function rangeScanWorkload(scanLimit: number): Workload {
  return {
    id: 'range-scan',
    title: `range scans of ${scanLimit} entries from a random key, 100 B values`,
    unit: 'scans',
    measures: `Scans per second by one client, each reading up to ${scanLimit} entries forward from a random preloaded key (the binary data set of hot-get); latency: one whole scan.`,
    writes: false,
    appliesTo: (definition: EngineDefinition) => definition.supportsReads,
    async run(context) {
      await preloadKeys(context.engine, context.profile.preloadKeyCount, context.profile.keyOrder);
      await settle(context);
      context.beginMeasurement();
      return measureScans(context);
    },
  };
}

async function measureScans(context: WorkloadContext): Promise<Measurement> {
  const scan = context.engine.scan;
  if (scan === undefined) throw new Error('engine has no scan');
  const ranges = scanRanges(context.profile.preloadKeyCount, context.profile.scanLimit, context.profile.keyOrder);
  let cursor = 0;
  let entriesRead = 0;
  const measurement = await measureClosedLoop(context.profile, {
    workerCount: 1,
    operation: async () => {
      const range = ranges[cursor & (RANDOM_INDEX_COUNT - 1)] as ScanRange;
      cursor += 1;
      const count = await scan(range);
      if (count === 0) throw new Error('a scan from an existing key read no entries');
      entriesRead += count;
      return 1;
    },
    latencyPerRecord: false,
    sampleMeaning: `one scan of up to ${context.profile.scanLimit} entries`,
  });
  return { ...measurement, extra: { ...measurement.extra, entriesPerScan: entriesRead / Math.max(1, cursor) } };
}

async function settle(context: WorkloadContext): Promise<void> {
  const scan = context.engine.scan;
  if (scan === undefined) throw new Error('engine has no scan');
  const ranges = scanRanges(context.profile.preloadKeyCount, context.profile.scanLimit, context.profile.keyOrder);
  const until = performance.now() + SETTLE_MS;
  // Scans only, as measured next (no turns forced: the state the measurement sees is the one it saw before).
  for (let index = 0; performance.now() < until; index++) await scan(ranges[index & (RANDOM_INDEX_COUNT - 1)] as ScanRange);
}

function scanRanges(keyCount: number, limit: number, keyOrder: KeyOrder): ScanRange[] {
  const keys = preloadedKeys(keyCount, keyOrder);
  return Array.from(randomIndexes(RANDOM_INDEX_COUNT, keyCount), (index) => ({ gte: keys[index] as Buffer, limit }));
}
