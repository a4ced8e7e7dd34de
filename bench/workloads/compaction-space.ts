/**
 * Space reclamation with the peers in the same run (issue 8, "Benchmark"):
 *
 * - update-heavy: compactionKeyCount keys written, then overwritten
 *   compactionOverwriteCount times (100 B values, new each round), then each
 *   engine's compaction (EngineDefinition.compactionNote);
 * - delete-heavy: the same keys written once, 90% deleted, then compaction.
 *
 * Each engine runs in a process of its own (bench/large/compaction-child.ts), once,
 * after the interleaved workloads. Headline: writes/s of the write phase (puts and
 * deletes in awaited batches of the engine's bulkLoadBatchSize). Columns: bytes on
 * disk over live bytes (live keys x 116 B) before and after the compaction, get
 * p99 idle and while the compaction runs, the event loop's p99 delay over the
 * compaction, and for ladybug its write amplification (stats).
 *
 * ladybug is opened with maxVersionsPerKey 1 here: the peers keep one version per
 * key, and ladybug's default (every version) would keep all of them by design; and
 * with memoryBudgetBytes 16 MiB (see LADYBUG_COMPACTION_OPTIONS). Its compaction is
 * compact({ retainFrom: store.version }): it raises the store-wide retention floor
 * to the current version first, so as-of reads below it are refused from then on for
 * every key (etcd's compaction revision), and the compaction may drop every old
 * version and the deletes (without the floor: a tombstone and a not-retained marker
 * stay per deleted key, issue 8's delete-heavy 5.42).
 *
 * What ladybug's "disk/live after" counts besides its runs (runs/live): the lock file,
 * the manifest's two copies, and the WAL's active segment: the one the settle's checkpoint
 * rotated to, of SEGMENT_BYTES_MIN (16 KiB, every block allocated: src/wal/segment-files.ts
 * checkpointSegmentSizeBytes; a first-size 64 KiB one before). compact()
 * gives the rest of the WAL's space back: the recycled pool and a segment prepared ahead
 * (src/wal/next-segment.ts). These are fixed bytes: they weigh on the quick profile's
 * small live set, not on the full one's.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CompactionChildReport, CompactionChildRequest, CompactionWorkloadKind } from '../large/compaction-child.js';
import type { Profile } from '../profile.js';
import type { EngineDefinition } from '../engines/engine.js';
import type { ExtraColumn, Measurement, Workload, WorkloadContext } from './workload.js';

const MEBIBYTE = 1 << 20;
const CHILD_PATH = fileURLToPath(new URL('../large/compaction-child.js', import.meta.url));
/**
 * ladybug keeps one version per key in these workloads, as the peers do, and gets a
 * memory budget close to classic-level's defaults (4 MiB write buffer, a second one
 * being flushed, 8 MiB block cache): with its default 256 MiB the quick profile's
 * data never leaves the memtable and compact() would rewrite a single run.
 */
const LADYBUG_COMPACTION_OPTIONS: Readonly<Record<string, unknown>> = { maxVersionsPerKey: 1, memoryBudgetBytes: 16 * MEBIBYTE };
/** The issue's target for bytes on disk over live bytes after compaction. */
export const SPACE_AMPLIFICATION_TARGET = 1.3;

const COLUMNS: readonly ExtraColumn[] = [
  { key: 'spaceAmplificationBeforeCompaction', header: 'disk/live before', shortLabel: 'disk/live before', format: 'decimal' },
  { key: 'spaceAmplificationAfterCompaction', header: 'disk/live after', shortLabel: 'disk/live after', format: 'decimal' },
  { key: 'runBytesOverLiveBytes', header: 'runs/live after (ladybug)', shortLabel: 'runs/live', format: 'decimal' },
  { key: 'diskMebibytesAfterCompaction', header: 'on disk MiB after', shortLabel: 'disk MiB', format: 'mebibytes' },
  { key: 'compactMs', header: 'compact ms', shortLabel: 'compact ms', format: 'milliseconds' },
  { key: 'getP99UsIdle', header: 'get p99 µs idle', shortLabel: 'get p99 idle µs', format: 'microseconds' },
  { key: 'getP99UsDuringCompaction', header: 'get p99 µs compacting', shortLabel: 'get p99 compacting µs', format: 'microseconds' },
  { key: 'getsDuringCompaction', header: 'gets compacting', shortLabel: 'gets compacting', format: 'count' },
  { key: 'eventLoopDelayP99MsDuringCompaction', header: 'event loop p99 ms compacting', shortLabel: 'loop p99 ms', format: 'milliseconds' },
  { key: 'writeAmplification', header: 'write amp. (ladybug stats)', shortLabel: 'write amp', format: 'decimal' },
];

export function compactionSpaceWorkload(kind: CompactionWorkloadKind, profile: Profile, ladybugStoreOptions: Readonly<Record<string, unknown>>): Workload {
  const keys = profile.compactionKeyCount.toLocaleString('en-US');
  const overwrites = kind === 'update-heavy' ? profile.compactionOverwriteCount : 0;
  const storeOptions = { ...LADYBUG_COMPACTION_OPTIONS, ...ladybugStoreOptions };
  const writes = kind === 'update-heavy' ? `${keys} keys written, then every key overwritten ${overwrites} times with new values` : `${keys} keys written once, then 90% of them deleted (every index not a multiple of 10)`;
  return {
    id: kind,
    title: `${kind}: ${kind === 'update-heavy' ? `${keys} keys × ${1 + overwrites} writes` : `${keys} keys, 90% deleted`} (100 B values), then compaction`,
    unit: 'writes',
    measures:
      `Each engine in a process of its own, once. ${writes} (16 B keys in random order, 100 B incompressible values, awaited batches of the engine's bulkLoadBatchSize): the headline is writes/s of that phase (puts and deletes). ` +
      `Then the engine settles (ladybug: checkpoint, background compactions finish) and compacts (see each engine's note). "disk/live": bytes allocated to the engine's directory (st_blocks × 512, WAL/log included) over live keys × 116 B, before and after the compaction; "runs/live after": ladybug's stats().storage.runBytes over the same (its run files alone, WAL segments excluded). ` +
      `Gets of live keys, one awaited at a time with a setImmediate between: ${profile.compactionGetCount.toLocaleString('en-US')} while idle, and while the compaction runs (until it resolves, at most ten times as many; "gets compacting" says how many). ` +
      `"event loop p99": perf_hooks.monitorEventLoopDelay (1 ms resolution) over exactly the compaction (issue 8's target: under 10 ms). "write amp.": ladybug stats().storage.compaction.writeAmplification, (bytes flushed + bytes compactions wrote) / bytes flushed. ` +
      `ladybug with ${JSON.stringify(storeOptions)} (the peers keep one version per key), compacting with compact({ retainFrom: store.version }): as-of reads below the version at the compaction are refused from then on, for every key (like etcd after Compact(rev)). Target: disk/live after at most ${SPACE_AMPLIFICATION_TARGET}.`,
    writes: false, // not compared with the raw limit: the phase includes each engine's own flushing and compaction
    interleaved: false,
    ownProcess: true,
    columns: COLUMNS,
    appliesTo: (definition) => definition.supportsReads,
    describeEngines: (definitions) => definitions.filter((definition) => definition.supportsReads).map(describeCompaction),
    run: (context) => measureCompactionSpace(context, kind, profile, overwrites, storeOptions),
  };
}

function describeCompaction(definition: EngineDefinition): string {
  return `${definition.label}: ${definition.compactionNote ?? 'no compaction call in this harness'}`;
}

async function measureCompactionSpace(
  context: WorkloadContext,
  kind: CompactionWorkloadKind,
  profile: Profile,
  overwriteCount: number,
  ladybugStoreOptions: Readonly<Record<string, unknown>>,
): Promise<Measurement> {
  const request: CompactionChildRequest = {
    kind,
    engineId: context.definition.id,
    directory: context.directory,
    keyCount: profile.compactionKeyCount,
    overwriteCount,
    getCount: profile.compactionGetCount,
    ladybugStoreOptions,
    retainFromCurrentVersion: true,
  };
  const { figures } = await runChild(request);
  const figure = (name: string): number => {
    const value = figures[name];
    if (value === undefined) throw new Error(`the ${kind} child did not report ${name}`);
    return value;
  };
  const writes = figure('writes');
  const writeMs = figure('writeMs');
  const after = figure('spaceAmplificationAfterCompaction');
  return {
    unitCount: writes,
    callCount: 1,
    durationMs: writeMs,
    unitsPerSecond: (writes * 1_000) / writeMs,
    extra: {
      ...figures,
      diskMebibytesAfterCompaction: figure('diskBytesAfterCompaction') / MEBIBYTE,
      ...(figures['runBytes'] === undefined ? {} : { runBytesOverLiveBytes: figures['runBytes'] / figure('liveBytes') }),
    },
    check: {
      passed: undefined, // a space figure above the target is a result, not a failed measurement
      summary: `every get found its live key; key 0 read its last value after compaction; disk/live after ${after.toFixed(2)} (target ≤ ${SPACE_AMPLIFICATION_TARGET}: ${after <= SPACE_AMPLIFICATION_TARGET ? 'met' : 'not met'})`,
    },
  };
}

/** Runs the child to completion and returns its report (the last stdout line). */
function runChild(request: CompactionChildRequest): Promise<CompactionChildReport> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD_PATH, JSON.stringify(request)], { maxBuffer: 16 * MEBIBYTE }, (error, stdout, stderr) => {
      if (error !== null) {
        reject(new Error(`${request.kind} child (${request.engineId}) failed: ${stderr.trim() || error.message}`));
        return;
      }
      const lines = stdout.trim().split('\n');
      resolve(JSON.parse(lines[lines.length - 1] ?? '') as CompactionChildReport);
    });
  });
}
