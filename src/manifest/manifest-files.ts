/**
 * The manifest's two copies on disk (docs/FORMAT.md, "Manifest"): appending an edit
 * record to both, writing a whole new generation, adopting an existing one at open,
 * removing orphans, and reading copies back (open, inspect, scrub). What the records
 * mean, and when to rewrite, is manifest.ts's; this module only moves bytes.
 *
 * Invariants
 * - Every write runs with the manifest lock held (the owner's `assertLocked` is
 *   called first): no two writes of one manifest overlap.
 * - An append reaches copy a (written, datasynced) before copy b; a resolved append
 *   is durable in both, and `fileBytes` is the length of each copy.
 * - A new generation is durable in both copies (temporary names, datasync, rename,
 *   directory sync) before it replaces the current one and the previous one is
 *   deleted; an undeleted previous generation is an orphan the next open removes.
 * - Reads are bounded by MANIFEST_BYTES_MAX; loops by the two copies and the listing.
 * - ENOSPC before any byte of the edit can be durable (an append's write to copy a; a new
 *   generation's open, write or rename of copy a's temporary file) throws
 *   ManifestEditNotWritten: nothing of the edit can be read back after a crash, so the
 *   owner may plan it again (manifest.ts). An append leaves `fileBytes` as it was (the
 *   next write starts at the same offset, over any torn bytes); a new generation's
 *   temporary file is removed. ENOSPC later (copy b, once copy a holds the edit durably
 *   or under its final name) and every failed sync are thrown as they are: the edit may
 *   be durable, so the owner fails (fail-stop).
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { isFileSystemError, joinPath, type FileHandle, type FileSystem } from '../fs/file-system.js';
import { MANIFEST_BYTES_MAX } from '../limits.js';
import { unlinkUnlessDirectory } from '../fs/remove-own-file.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import {
  COPY_NAMES,
  copyFileName,
  encodeRecord,
  MANIFEST_DIRECTORY_NAME,
  stateFormatVersion,
  parseManifestFileName,
  temporaryFileName,
  type CopyName,
} from './manifest-format.js';
import type { CopyImage } from './manifest-reader.js';
import type { ManifestState } from './manifest-state.js';

type CopyHandles = Record<CopyName, FileHandle>;

/**
 * The disk was full before any byte of a manifest edit could be durable (see the module
 * header). Internal: manifest.ts answers DiskFullError (or ENOSPC's typed error at open).
 */
export class ManifestEditNotWritten extends Error {
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super(`no space left on device while writing ${path}; nothing of the manifest edit is durable`, { cause });
    this.path = path;
  }
}

/** `error`, or ManifestEditNotWritten when it is ENOSPC (the caller knows nothing of the edit is durable yet). */
function notWrittenIfFull(error: unknown, path: string): unknown {
  return isFileSystemError(error, 'ENOSPC') ? new ManifestEditNotWritten(path, error) : error;
}

export interface ManifestFilesConfig {
  fileSystem: FileSystem;
  storeDirectory: string;
  hash: Hash64;
  /** The highest generation named in the directory at open (a new one is above it). */
  highestGeneration: number;
  /** Throws unless the owner's manifest lock is held (OrderedMutex#assertHeld). */
  assertLocked: () => void;
}

export class ManifestFiles {
  readonly directory: string;
  readonly #config: ManifestFilesConfig;
  #handles: CopyHandles | undefined;
  #generation = 0;
  #highestGeneration: number;
  #fileBytes = 0;
  #rewrites = 0;

  constructor(config: ManifestFilesConfig) {
    this.#config = config;
    this.directory = joinPath(config.storeDirectory, MANIFEST_DIRECTORY_NAME);
    this.#highestGeneration = config.highestGeneration;
  }

  /** The generation written to (0 until one is created or adopted). */
  get generation(): number {
    return this.#generation;
  }

  /** Bytes of one copy, as written. */
  get fileBytes(): number {
    return this.#fileBytes;
  }

  /** Whole generations written by this handle. */
  get rewrites(): number {
    return this.#rewrites;
  }

  /** Appends one record to copy a, datasync, then copy b, datasync. */
  async append(record: Buffer): Promise<void> {
    this.#config.assertLocked();
    const handles = this.#handles;
    assert(handles !== undefined, 'manifest files are open');
    const position = this.#fileBytes;
    for (const copy of COPY_NAMES) {
      try {
        await handles[copy].write(record, position);
      } catch (error) {
        // Copy a: nothing of the edit is durable anywhere (see the module header).
        // (Named by its copy: a handle opened under a temporary name keeps that path.)
        throw copy === COPY_NAMES[0] ? notWrittenIfFull(error, joinPath(this.directory, copyFileName(this.#generation, copy))) : error;
      }
      await handles[copy].datasync();
    }
    assert(this.#handles === handles && this.#fileBytes === position, 'no other write ran during an append');
    this.#fileBytes = position + record.length;
  }

  /**
   * Writes `state` as a new generation (record `sequence`), makes it durable, switches
   * to it, then deletes the previous generation (see the module header).
   */
  async writeGeneration(sequence: number, state: ManifestState): Promise<void> {
    this.#config.assertLocked();
    const { fileSystem, hash } = this.#config;
    const generation = this.#highestGeneration + 1;
    this.#highestGeneration = generation;
    const payload = { kind: 'state', formatVersion: stateFormatVersion(state), generation, state } as const;
    const record = encodeRecord(sequence, payload, hash);
    assert(record.length <= MANIFEST_BYTES_MAX, 'a full manifest fits the size bound');
    const created: Partial<CopyHandles> = {};
    const firstTemporaryPath = joinPath(this.directory, temporaryFileName(generation, COPY_NAMES[0]!));
    try {
      for (const copy of COPY_NAMES) {
        const temporaryPath = joinPath(this.directory, temporaryFileName(generation, copy));
        // Until copy a has its final name nothing of this generation is read at open.
        const beforeAnyDurable = copy === COPY_NAMES[0];
        try {
          const handle = await fileSystem.open(temporaryPath, 'createExclusive');
          created[copy] = handle;
          await handle.write(record, 0);
        } catch (error) {
          throw beforeAnyDurable ? notWrittenIfFull(error, temporaryPath) : error;
        }
        await created[copy]!.datasync();
        try {
          await fileSystem.rename(temporaryPath, joinPath(this.directory, copyFileName(generation, copy)));
        } catch (error) {
          throw beforeAnyDurable ? notWrittenIfFull(error, temporaryPath) : error;
        }
      }
      await fileSystem.syncDirectory(this.directory);
    } catch (error) {
      await Promise.allSettled(Object.values(created).map((handle) => handle.close()));
      // The space it took is what the disk lacks (else an orphan the next open removes).
      if (error instanceof ManifestEditNotWritten) await fileSystem.unlink(firstTemporaryPath).catch(() => undefined);
      throw error;
    }
    const previousGeneration = this.#generation;
    await this.close();
    this.#handles = created as CopyHandles;
    this.#generation = generation;
    this.#fileBytes = record.length;
    this.#rewrites += 1;
    if (previousGeneration > 0) {
      for (const copy of COPY_NAMES) await this.#unlinkIfPresent(copyFileName(previousGeneration, copy));
    }
  }

  /** First step of a new manifest: its directory, made durable in the store directory. */
  async makeDirectory(): Promise<void> {
    await this.#config.fileSystem.mkdir(this.directory);
    await this.#config.fileSystem.syncDirectory(this.#config.storeDirectory);
  }

  /** Continues appending to an existing, whole generation of `fileBytes` per copy. */
  async adopt(generation: number, fileBytes: number): Promise<void> {
    assert(this.#handles === undefined, 'adopt before any generation is open');
    const handles: Partial<CopyHandles> = {};
    try {
      for (const copy of COPY_NAMES) {
        handles[copy] = await this.#config.fileSystem.open(joinPath(this.directory, copyFileName(generation, copy)), 'readWrite');
      }
    } catch (error) {
      await Promise.allSettled(Object.values(handles).map((handle) => handle.close()));
      throw error;
    }
    this.#handles = handles as CopyHandles;
    this.#generation = generation;
    this.#fileBytes = fileBytes;
  }

  /**
   * Removes every manifest-named file of `names` (the listing taken at open) but the current
   * generation; a directory under such a name is not the store's and is left alone.
   */
  async removeOrphans(names: readonly string[]): Promise<void> {
    const current = new Set(COPY_NAMES.map((copy) => copyFileName(this.#generation, copy)));
    const removable = names.filter((name) => !current.has(name) && parseManifestFileName(name) !== undefined);
    let removed = 0;
    for (const name of removable) {
      if (await unlinkUnlessDirectory(this.#config.fileSystem, joinPath(this.directory, name))) removed++;
    }
    if (removed > 0) await this.#config.fileSystem.syncDirectory(this.directory);
  }

  /** Closes the copies' handles (idempotent); a later write needs a new generation or adopt(). */
  async close(): Promise<void> {
    const handles = this.#handles;
    this.#handles = undefined;
    if (handles !== undefined) await Promise.allSettled(COPY_NAMES.map((copy) => handles[copy].close()));
  }

  async #unlinkIfPresent(name: string): Promise<void> {
    const path = joinPath(this.directory, name);
    if (await this.#config.fileSystem.exists(path)) await this.#config.fileSystem.unlink(path);
  }
}

/**
 * Both copies of `generation`, each undefined when missing; refuses a copy over
 * MANIFEST_BYTES_MAX. `listed`: the copies a listing of the directory just named
 * (chooseGeneration's choice): the others are missing without a look-up, and a listed
 * copy is opened at once (a thread-pool round trip saved per copy at open, issue 7);
 * one gone by then (ENOENT) is missing, as a look-up would have found it.
 */
export async function readCopies(fileSystem: FileSystem, directory: string, generation: number, listed?: readonly CopyName[]): Promise<CopyImage[]> {
  const images: CopyImage[] = [];
  let readError: unknown;
  for (const copy of COPY_NAMES) {
    const path = joinPath(directory, copyFileName(generation, copy));
    if (listed === undefined ? !(await fileSystem.exists(path)) : !listed.includes(copy)) {
      images.push({ copy, path, bytes: undefined });
      continue;
    }
    try {
      images.push({ copy, path, bytes: await readBounded(fileSystem, path) });
    } catch (error) {
      if (listed !== undefined && isFileSystemError(error, 'ENOENT')) {
        images.push({ copy, path, bytes: undefined });
        continue;
      }
      // A bad sector in one copy is what the other copy is for: read it as missing (open
      // then writes both copies whole again, as for a damaged one). Both unreadable: the error.
      if (!isFileSystemError(error, 'EIO')) throw error;
      readError ??= error;
      images.push({ copy, path, bytes: undefined, unreadable: (error as Error).message });
    }
  }
  if (readError !== undefined && images.every((image) => image.bytes === undefined)) throw readError;
  return images;
}

/** The whole file, refused (CorruptionError) when over MANIFEST_BYTES_MAX; a file shorter than its size returns what was read. */
export async function readBounded(fileSystem: FileSystem, path: string): Promise<Buffer> {
  const handle = await fileSystem.open(path, 'read');
  try {
    const sizeBytes = await handle.size();
    if (sizeBytes > MANIFEST_BYTES_MAX) {
      throw new CorruptionError(path, MANIFEST_BYTES_MAX, `manifest of ${sizeBytes} bytes is over MANIFEST_BYTES_MAX`);
    }
    const bytes = Buffer.alloc(sizeBytes);
    let filled = 0;
    while (filled < sizeBytes) {
      const count = await handle.read(bytes, filled, sizeBytes - filled, filled);
      if (count === 0) break;
      filled += count;
    }
    return bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
}
