/** Shared pieces of the manifest tests: descriptors, a store directory, opening. */
import { loadHash64 } from '../src/codec/checksum.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { Manifest, type ManifestOpenOptions } from '../src/manifest/manifest.js';
import type { ManifestState } from '../src/manifest/manifest-state.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';

export const STORE_DIRECTORY = '/store';
export const MANIFEST_DIRECTORY = '/store/manifest';

/** A well-formed descriptor for run `runId` (keys with bytes above 127, as internal keys have). */
export function runDescriptor(runId: number): RunDescriptor {
  return {
    runId,
    generation: (runId * 2654435761) >>> 0,
    level: 0,
    fileName: `run-${String(runId).padStart(10, '0')}.run`,
    fileBytes: 4096 * (runId + 1),
    entryCount: 10 * runId + 3,
    keyCount: 5 * runId + 1,
    minVersion: 100 * runId,
    maxVersion: 100 * runId + 99,
    smallestKey: `a\u00ff${runId}`,
    largestKey: `z\u0080${runId}`,
    footerChecksum: (runId + 0xabc).toString(16).padStart(16, '0'),
  };
}

export async function openManifest(fileSystem: FileSystem, options: Partial<ManifestOpenOptions> = {}): Promise<Manifest> {
  return Manifest.open(fileSystem, STORE_DIRECTORY, await loadHash64(), { create: true, ...options });
}

/** A plain copy of a state, for toEqual. */
export function plainState(state: Readonly<ManifestState>): ManifestState {
  return JSON.parse(JSON.stringify(state)) as ManifestState;
}
