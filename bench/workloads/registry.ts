/**
 * All workloads, in run and report order. The interleaved ones run once per
 * round; the reopen workload (not interleaved) runs once per engine after them.
 * The large-data workloads (large-data.ts) run each engine in processes of its own,
 * also once per engine after the interleaved ones.
 */
import { LARGE_VALUE, SMALL_VALUE } from '../data.js';
import type { Profile } from '../profile.js';
import { coldPointGetWorkload } from './cold-point-get.js';
import { compactionSpaceWorkload } from './compaction-space.js';
import { hotGetWorkload } from './hot-get.js';
import { largeDataWorkload } from './large-data.js';
import { leaseWorkload } from './leases.js';
import { watchersWorkload } from './watchers.js';
import { batchPutWorkload, concurrentPutWorkload, sequentialPutWorkload, steadySequentialPutWorkload } from './put-workloads.js';
import { rangeScanWorkload } from './range-scan.js';
import { readMetricsCostWorkload } from './read-metrics-cost.js';
import { reopenWorkload } from './reopen.js';
import { selfRepairWorkloads } from './self-repair.js';
import { transactionWorkload } from './transactions.js';
import type { Workload } from './workload.js';

export function allWorkloads(profile: Profile, ladybugStoreOptions: Readonly<Record<string, unknown>> = {}): Workload[] {
  const large = (id: string, keyCount: number, keyOrder: 'random' | 'sequential') => largeDataWorkload({ id, keyCount, keyOrder }, profile, ladybugStoreOptions);
  return [
    sequentialPutWorkload(SMALL_VALUE),
    sequentialPutWorkload(LARGE_VALUE),
    steadySequentialPutWorkload(SMALL_VALUE),
    steadySequentialPutWorkload(LARGE_VALUE),
    concurrentPutWorkload(SMALL_VALUE, profile.concurrency),
    concurrentPutWorkload(LARGE_VALUE, profile.concurrency),
    batchPutWorkload(100, SMALL_VALUE),
    batchPutWorkload(1_000, SMALL_VALUE),
    hotGetWorkload('binary', profile.preloadKeyCount),
    hotGetWorkload('string', profile.preloadKeyCount),
    rangeScanWorkload(profile.scanLimit),
    transactionWorkload('low', profile),
    transactionWorkload('high', profile),
    reopenWorkload(profile),
    large('large-load-random', profile.largeLoadKeyCount, 'random'),
    large('large-load-sequential', profile.largeLoadKeyCount, 'sequential'),
    large('large-reopen-1m', profile.largeReopenKeyCount, 'random'),
    leaseWorkload(profile),
    watchersWorkload(profile),
    readMetricsCostWorkload(),
    ...selfRepairWorkloads(profile),
    coldPointGetWorkload(profile),
    compactionSpaceWorkload('update-heavy', profile, ladybugStoreOptions),
    compactionSpaceWorkload('delete-heavy', profile, ladybugStoreOptions),
  ];
}

/** Workloads named in the issue but not built yet; listed in the report. */
export const PENDING_WORKLOADS: readonly string[] = [];
