/**
 * A point read's main-thread CPU by stage, from a V8 CPU profile of the gets alone
 * (read-cpu.ts with READ_CPU_PROFILE=<directory>; not part of `npm run bench`):
 *
 *   node dist/bench/large/read-stages.js <pass>.cpuprofile [us per get]
 *
 * Each sample that is not idle goes to the stage of the innermost frame on its stack
 * that names one (STAGES, first match from the leaf up: a block checksum called from
 * the block read counts as the checksum, the key comparisons of a block walk as the
 * walk); `bench loop` is the measuring loop's own work (timers, the key's subarray)
 * and is left out of the shares. With `us per get` (main-thread CPU per get measured
 * without the profiler, e.g. by read-ab.js), each share is also printed in us.
 * Prints the stages, then the 20 leaf functions with most samples.
 */
import { readFileSync } from 'node:fs';

/** Stage, and the frames ("function file:line") that belong to it; the first stage that matches wins. */
const STAGES: readonly (readonly [string, RegExp])[] = [
  ['GC', /^\(garbage collector\)/],
  ['inflate', /inflateInto|inflateSync|zlib|processChunkSync/],
  ['block read (system call)', /^read :0|readSync|#readPhysicalSync|#readLogicalSync|readBlockNow run-file/],
  ['block checksum', /blockChecksum|checkBlock|checksum\.js/],
  ['compressed tier (lookup, hold)', /compressed-tier|compressed-block-ring/],
  ['block cache (lookup, admission, set)', /block-cache|block-admission|block-doorkeeper|recency-list/],
  ['block walk / decode + search', /data-block|collectChecked|collectVersions|decodeHeld|decodeChecked|collectHeldVersions|collectUncachedVersions|readDecodedNow|run-block-decode/],
  ['filter probe', /bloom-filter|#filterAllows|filter run-partitions/],
  ['key hash + prefix', /xxhash64OfKey|probeOf|KeyProbe|key-prefix/],
  ['range checks + index search', /#partitionIfMayContain|run-partitions|run-index|run-top-index|#versionsIn |#versionsInPartition|pointVersions|versionsOf|#collectBlock|#collectHeld|#collectUncached|#readBlockNow|#roomLength/],
  ['point cache', /point-cache/],
  ['value copy + decode', /readStored|values\.js|bytes-encoding|valueOf(Read)?Slot|transientSlotOfEntry|slotOfEntry|resolve\.js|FastBuffer|createUnsafeBuffer|createPool|allocUnsafe|allocate node|_copy|copy node:buffer/],
  ['key encoding', /internalKey|keys\.js|latin1Slice/],
  ['memtables', /memory-index|version-chain|key-entries/],
  ['read view walk', /read-view|#slotFromRuns|slotAsOf|#fromEntries|#fromPoint|decides|untilVersionOf/],
  ['store.get + promise', /store-reads|store\.js|retention-floor|event-loop-turns|runMicrotasks/],
  ['bench loop', /read-cpu|read-ab|now :0|subarray|hrtime/],
];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

const [file, usArgument] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: read-stages.js <profile.cpuprofile> [us per get]');
const usPerGet = Number(usArgument ?? '0');
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parents = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
const frameName = (node: ProfileNode): string => `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').at(-1) ?? ''}:${node.callFrame.lineNumber + 1}`;

const byStage = new Map<string, number>();
const byLeaf = new Map<string, number>();
let busy = 0;
for (const sample of profile.samples) {
  const leaf = frameName(nodes.get(sample) as ProfileNode);
  if (leaf.startsWith('(idle)')) continue;
  let stage: string | undefined;
  for (let id: number | undefined = sample; id !== undefined && stage === undefined; id = parents.get(id)) {
    const name = frameName(nodes.get(id) as ProfileNode);
    stage = STAGES.find(([, pattern]) => pattern.test(name))?.[0];
  }
  stage ??= 'other';
  byStage.set(stage, (byStage.get(stage) ?? 0) + 1);
  if (stage !== 'bench loop') {
    busy++;
    byLeaf.set(`${stage} | ${leaf}`, (byLeaf.get(`${stage} | ${leaf}`) ?? 0) + 1);
  }
}
const line = (count: number, label: string): string => `${((100 * count) / busy).toFixed(1).padStart(5)}%${usPerGet > 0 ? ` ${((usPerGet * count) / busy).toFixed(2).padStart(5)} us` : ''}  ${label}`;
process.stdout.write(`samples of the gets (bench loop left out): ${busy}\n`);
for (const [stage, count] of [...byStage].sort((a, b) => b[1] - a[1])) if (stage !== 'bench loop') process.stdout.write(`${line(count, stage)}\n`);
process.stdout.write('-- leaf functions\n');
for (const [leaf, count] of [...byLeaf].sort((a, b) => b[1] - a[1]).slice(0, 20)) process.stdout.write(`${line(count, leaf)}\n`);
