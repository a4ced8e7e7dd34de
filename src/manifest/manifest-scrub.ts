/**
 * The check half of Manifest.scrub() (src/stripe/scrub.ts calls it through the
 * store): read both copies of the current generation and merge them as open would,
 * listing every copy that is missing, damaged, torn, or of another length than this
 * handle wrote. Writes nothing; the repair (a new generation from the state held in
 * memory) is Manifest.scrub's.
 *
 * Invariants: reads only the two copies of `generation`, each bounded by
 * MANIFEST_BYTES_MAX; a damage found is a finding, never an exception (only errors
 * that are not corruption, such as a programming error, propagate).
 */
import type { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { joinPath, type FileSystem } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { COPY_NAMES, copyFileName } from './manifest-format.js';
import { readBounded } from './manifest-files.js';
import { mergeCopies, type CopyImage } from './manifest-reader.js';

/** What Manifest.scrub() found in the two copies of the current generation. */
export interface ManifestScrubResult {
  bytesChecked: number;
  copiesChecked: number;
  /** Each finding (a copy missing, damaged, torn, or shorter than what was written), with its file. */
  damaged: Array<{ file: string; offset: number; reason: string }>;
  /** True when the damage was repaired: both copies rewritten as a new generation. */
  repaired: boolean;
}

export interface ManifestCopiesToCheck {
  fileSystem: FileSystem;
  /** `<store>/manifest`. */
  directory: string;
  hash: Hash64;
  generation: number;
  /** Bytes of each copy as this handle wrote them. */
  writtenBytes: number;
}

/** Reads and checks both copies (see the module header); `repaired` is always false here. */
export async function checkManifestCopies(target: ManifestCopiesToCheck): Promise<ManifestScrubResult> {
  assert(target.generation > 0, 'an open manifest has a generation');
  const result: ManifestScrubResult = { bytesChecked: 0, copiesChecked: 0, damaged: [], repaired: false };
  const images: CopyImage[] = [];
  for (const copy of COPY_NAMES) {
    const path = joinPath(target.directory, copyFileName(target.generation, copy));
    let bytes: Buffer | undefined;
    try {
      bytes = await readBounded(target.fileSystem, path);
    } catch (error) {
      result.damaged.push({ file: path, offset: 0, reason: `unreadable: ${(error as Error).message}` });
    }
    result.copiesChecked++;
    result.bytesChecked += bytes?.length ?? 0;
    images.push({ copy, path, bytes });
  }
  try {
    if (images.every((image) => image.bytes === undefined)) throw new CorruptionError(target.directory, 0, 'neither manifest copy could be read');
    const chain = mergeCopies(images, target.hash);
    for (const line of chain.repaired) result.damaged.push({ file: target.directory, offset: 0, reason: line });
    for (const image of images) {
      if (image.bytes !== undefined && image.bytes.length !== target.writtenBytes && !chain.damagedCopies.has(image.copy)) {
        result.damaged.push({ file: image.path, offset: Math.min(image.bytes.length, target.writtenBytes), reason: `copy is ${image.bytes.length} bytes, ${target.writtenBytes} were written` });
      }
    }
  } catch (error) {
    if (!(error instanceof CorruptionError)) throw error;
    result.damaged.push({ file: error.file, offset: error.offset, reason: `${error.message}; a reopen would refuse this manifest` });
  }
  assert(result.copiesChecked === COPY_NAMES.length, 'both copies checked');
  return result;
}
