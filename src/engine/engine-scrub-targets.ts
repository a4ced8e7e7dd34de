/**
 * What a scrub of the engine reads (StorageEngine#scrubTargets, src/stripe/scrub.ts):
 * the live runs, the manifest, and the sealed WAL segments, from the manifest's WAL
 * start to below the writer's segment (every record in them was acknowledged, and none
 * is being written). The runs are the list live when asked; `isLive` tells the scrub
 * which of them a compaction has replaced since (their files may be gone: no damage).
 */
import type { FileSystem } from '../fs/file-system.js';
import type { Manifest } from '../manifest/manifest.js';
import type { ScrubTargets } from '../stripe/scrub.js';
import type { Hash64 } from '../wal/wal-format.js';
import { listSegments } from '../wal/segment-files.js';
import type { RunHandle, RunSet } from './run-set.js';

export interface EngineScrubSources {
  fileSystem: FileSystem;
  walDirectory: string;
  hash: Hash64;
  manifest: Manifest;
  runSet: RunSet;
  /** The segment the WAL writer appends to. */
  currentWalSegment: () => number;
}

export function engineScrubTargets(sources: EngineScrubSources): ScrubTargets {
  const { fileSystem, walDirectory, hash, manifest, runSet } = sources;
  const sealedSegments = async (): Promise<number[]> => {
    const walStart = manifest.state.walStartSegment;
    const writerSegment = sources.currentWalSegment();
    return (await listSegments(fileSystem, walDirectory)).filter((segment) => segment >= walStart && segment < writerSegment);
  };
  const isLive = (run: unknown) => runSet.runs.includes(run as RunHandle);
  return { runs: runSet.runs, isLive, manifest, wal: { fileSystem, directory: walDirectory, hash, sealedSegments } };
}
