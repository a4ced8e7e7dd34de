/**
 * Manifest: the authoritative list of live runs and the WAL position up to which the
 * runs hold the data. Bytes: docs/FORMAT.md, "Manifest" (manifest-format.ts); how open
 * reads and repairs two copies: manifest-reader.ts; writing the copies (appends, new
 * generations, orphans): manifest-files.ts; scrub's check of the copies:
 * manifest-scrub.ts; each edit's record, its sequence number and whether it appends
 * or rewrites: manifest-edit-chain.ts. This module holds the state, the lock and the
 * failure, and decides when the chain is written.
 *
 * Invariants
 * - `state` is what a reopen would reconstruct from disk after the last apply() that
 *   resolved (plus run ids handed out since, see allocateRunId).
 * - Every apply() runs under the `manifest` lock (rank 20, LOCK_ORDER.md), from its
 *   plan to its last datasync. The plan (ManifestEditChain.plan) is one synchronous
 *   step: it checks the edit, checks the edit chain against its bounds and increments
 *   it, and reserves the sequence number (seed race 9: no check-then-increment across
 *   an await).
 * - An apply() that resolved is durable in both copies. Appends go to copy a, datasync,
 *   then copy b, datasync. A full rewrite writes a new generation (both copies under
 *   temporary names, datasynced, renamed, directory synced) before the old one is
 *   deleted.
 * - Fail-stop: after any I/O failure in apply() (a failed datasync above all: it is
 *   never retried and trusted) every later apply() rejects with StoreFailedError until
 *   the manifest is reopened. Except ENOSPC before any byte of the edit can be durable
 *   (manifest-files.ts, ManifestEditNotWritten): nothing of it can be read back, so the
 *   edit is withdrawn (state, run ids and the chain's sequence as before it) and apply()
 *   rejects with DiskFullError; the manifest stays usable and the caller may retry (a
 *   flush does, as after ENOSPC in its run). ENOSPC once the edit may be durable (copy
 *   b after copy a's datasync, or after copy a's rename in a new generation) stays
 *   fail-stop: a reopen may or may not replay it, so the caller could not know whether
 *   the runs it names are listed. A close() rewrite that finds the disk full is skipped
 *   (the chain on disk is whole); a scrub repair rejects with DiskFullError.
 * - Every loop is bounded: by the directory listing, by the file size (reader), by the
 *   two copies.
 * - A clean close leaves a short chain: close() rewrites the manifest as one full-state
 *   record (a new generation, as above) when CLOSE_REWRITE_EDITS_MIN or more edits were
 *   appended since the last rewrite and nothing failed, so the next open reads and
 *   replays one record instead of up to MANIFEST_EDITS_MAX (a 10M-key load left 361
 *   records, 124 KiB per copy: merging and replaying them was 40-80 ms of the reopen).
 *
 * Run ids: allocateRunId() hands out the in-memory counter synchronously. Every record
 * written carries nextRunId = max(counter, edit.nextRunId, every added run id + 1), so
 * a durable record naming a run also durably puts nextRunId above it, and above every id
 * handed out before it was planned. After a crash the counter restarts at the durable
 * nextRunId: no id the manifest ever named, and no id handed out before the last durable
 * edit, is handed out again; ids handed out after it are skipped if a later edit was
 * durable, and otherwise were never recorded anywhere durable: a run file written under
 * such an id is an orphan, which the store's open removes before any run is written
 * (src/engine/open-engine.ts), so the id is handed out again over nothing. The open calls
 * raiseNextRunId() only past a name it leaves alone (a directory or fifo under a run's name).
 */
import {
  asTypedError,
  CorruptionError,
  DiskFullError,
  StoreClosedError,
  StoreFailedError,
} from '../errors.js';
import { fileSystemError, isFileSystemError, joinPath, type FileSystem } from '../fs/file-system.js';
import { LOCK_LOST_CODE } from '../fs/killable-file-system.js';
import { MANIFEST_EDITS_MAX } from '../limits.js';
import { OrderedMutex } from '../lock/ordered-mutex.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { MANIFEST_DIRECTORY_NAME } from './manifest-format.js';
import { ManifestEditChain } from './manifest-edit-chain.js';
import { ManifestEditNotWritten, ManifestFiles, readCopies } from './manifest-files.js';
import { chooseGeneration, mergeCopies, replayChain } from './manifest-reader.js';
import { checkManifestCopies, type ManifestScrubResult } from './manifest-scrub.js';
import { copyState, editProblem, EMPTY_MANIFEST_STATE, stateProblem, type ManifestEdit, type ManifestState } from './manifest-state.js';

export { CLOSE_REWRITE_EDITS_MIN } from './manifest-edit-chain.js';

export type { ManifestEdit, ManifestState } from './manifest-state.js';
export type { ManifestScrubResult } from './manifest-scrub.js';

export interface ManifestOpenOptions {
  /** Create a new manifest (with `initial`) when none exists; otherwise a missing one is a CorruptionError. */
  create: boolean;
  initial?: Partial<ManifestState>;
  /** Edits appended before the next edit rewrites the whole manifest: 1..MANIFEST_EDITS_MAX (default). */
  editsMax?: number;
  /** The manifest directory's names as Manifest.list() just read them (under the store's lock); absent: listed here. */
  names?: readonly string[];
}

export interface ManifestStats {
  editsSinceRewrite: number;
  /** Full rewrites by this handle (apply() at the bound, and open's repair or creation). */
  rewrites: number;
  /** Bytes of one copy. */
  fileBytes: number;
  /** Copies open found missing, damaged or torn (and rewrote). */
  repairedCopies: number;
}

export interface ManifestRecovery {
  /** What open found and fixed, one line each (empty for a clean open). */
  repaired: string[];
  /** The last record of a copy was incomplete (an append in flight at a crash) and was dropped. */
  truncatedTail: boolean;
}

export class Manifest {
  readonly recovery: ManifestRecovery;
  readonly #fileSystem: FileSystem;
  readonly #hash: Hash64;
  readonly #lock = new OrderedMutex('manifest');
  /** The two copies on disk; written only under #lock. */
  readonly #files: ManifestFiles;
  /** The records since the last full state, and each edit's plan; planned only under #lock. */
  readonly #chain: ManifestEditChain;
  /** The durable state as of the last applied edit (nextRunId as written). */
  #state: ManifestState;
  /** The next run id to hand out; never below #state.nextRunId. */
  #nextRunId: number;
  #publicState: Readonly<ManifestState> | undefined;
  #repairedCopies = 0;
  #failure: StoreFailedError | undefined;
  #closed = false;
  /** Asked before each append (confirmBeforeAppends). */
  #confirmHolder: (() => Promise<boolean>) | undefined;

  private constructor(
    fileSystem: FileSystem,
    storeDirectory: string,
    hash: Hash64,
    editsMax: number,
    state: ManifestState,
    highestGeneration: number,
    recovery: ManifestRecovery,
  ) {
    this.#fileSystem = fileSystem;
    this.#hash = hash;
    this.#state = state;
    this.#nextRunId = state.nextRunId;
    const assertLocked = (): void => this.#lock.assertHeld();
    this.#files = new ManifestFiles({ fileSystem, storeDirectory, hash, highestGeneration, assertLocked });
    this.#chain = new ManifestEditChain({ hash, editsMax, assertLocked });
    this.recovery = recovery;
  }

  /** True when `<store>/manifest/` holds a manifest copy (what open({ create: false }) needs). */
  static async exists(fileSystem: FileSystem, storeDirectory: string): Promise<boolean> {
    return Manifest.listed(await Manifest.list(fileSystem, storeDirectory));
  }

  /**
   * The names in `<store>/manifest/` (none when the directory is missing): what exists()
   * and open() read. A caller that needs both lists once and hands the names to open()
   * (`ManifestOpenOptions.names`): each listing is a thread-pool round trip, and at a
   * reopen on a busy machine each such wait was milliseconds (issue 7).
   */
  static async list(fileSystem: FileSystem, storeDirectory: string): Promise<string[]> {
    const directory = joinPath(storeDirectory, MANIFEST_DIRECTORY_NAME);
    try {
      return await fileSystem.readdir(directory);
    } catch (error) {
      if (isFileSystemError(error, 'ENOENT')) return [];
      throw asTypedError(error, `list ${directory}`);
    }
  }

  /** True when a listing of the manifest directory (list()) names a manifest copy. */
  static listed(names: readonly string[]): boolean {
    return chooseGeneration(names).chosen !== undefined;
  }

  /**
   * Reads the manifest without writing a byte (ladybug verify): the state, what an open
   * would repair, and which of that no crash explains (damage at rest: see MergedChain).
   * Throws CorruptionError as open() does.
   */
  static async inspect(fileSystem: FileSystem, storeDirectory: string, hash: Hash64): Promise<{
    state: ManifestState; recovery: ManifestRecovery; damagedCopies: number; unexplainedDamage: string[]; path: string;
  }> {
    const directory = joinPath(storeDirectory, MANIFEST_DIRECTORY_NAME);
    const names = await Manifest.list(fileSystem, storeDirectory);
    const choice = chooseGeneration(names);
    if (choice.chosen === undefined) throw new CorruptionError(directory, 0, 'manifest missing: no MANIFEST-<generation>.a or .b');
    const images = await readCopies(fileSystem, directory, choice.chosen.generation, choice.chosen.copies);
    const chain = mergeCopies(images, hash);
    const path = images[0]?.path ?? directory;
    const state = replayChain(chain.records, choice.chosen.generation, path);
    return {
      state, recovery: { repaired: chain.repaired, truncatedTail: chain.truncatedTail }, damagedCopies: chain.damagedCopies.size,
      unexplainedDamage: chain.unexplained, path,
    };
  }

  /**
   * Opens the manifest of the store in `storeDirectory`: reads and merges its two copies,
   * rewrites it when a copy was missing, damaged or torn, removes orphans (temporary
   * files, older and unfinished generations). With `create` and no manifest, writes a
   * new one holding `initial`. Throws CorruptionError (naming file and offset) when the
   * manifest is missing (without `create`), over MANIFEST_BYTES_MAX, or damaged in both copies.
   */
  static async open(
    fileSystem: FileSystem,
    storeDirectory: string,
    hash: Hash64,
    options: ManifestOpenOptions,
  ): Promise<Manifest> {
    const editsMax = checkOpenOptions(options);
    const directory = joinPath(storeDirectory, MANIFEST_DIRECTORY_NAME);
    let manifest: Manifest | undefined;
    try {
      const names = options.names ?? (await Manifest.list(fileSystem, storeDirectory));
      const choice = chooseGeneration(names);
      if (choice.chosen === undefined) {
        if (!options.create) throw new CorruptionError(directory, 0, 'manifest missing: no MANIFEST-<generation>.a or .b');
        const initial = initialState(options.initial);
        const recovery = { repaired: [], truncatedTail: false };
        manifest = new Manifest(fileSystem, storeDirectory, hash, editsMax, initial, choice.highestGeneration, recovery);
        await manifest.#create(names);
        return manifest;
      }
      const images = await readCopies(fileSystem, directory, choice.chosen.generation, choice.chosen.copies);
      const chain = mergeCopies(images, hash);
      const firstPath = images[0]?.path ?? directory;
      const state = replayChain(chain.records, choice.chosen.generation, firstPath);
      const recovery = { repaired: chain.repaired, truncatedTail: chain.truncatedTail };
      manifest = new Manifest(fileSystem, storeDirectory, hash, editsMax, state, choice.highestGeneration, recovery);
      manifest.#chain.resumeAt(chain.records.at(-1)?.sequence ?? 0);
      const wholeAndEqual = images.every((image) => image.bytes?.length === chain.endOffset);
      if (chain.damagedCopies.size > 0 || !wholeAndEqual) {
        manifest.#repairedCopies = Math.max(1, chain.damagedCopies.size);
        const opened = manifest;
        await opened.#lock.runExclusive(() => opened.#writeGeneration(opened.#chain.nextSequence, state));
      } else {
        await manifest.#files.adopt(choice.chosen.generation, chain.endOffset);
        manifest.#chain.adoptTail(chain.records.length - 1, chain.endOffset - (chain.records[0]?.sizeBytes ?? 0));
      }
      await manifest.#files.removeOrphans(names);
      return manifest;
    } catch (error) {
      if (manifest !== undefined) await manifest.#files.close();
      // ENOSPC at open is DiskFullError (asTypedError), whatever step it struck.
      throw asTypedError(error instanceof ManifestEditNotWritten ? error.cause : error, `open manifest in ${directory}`);
    }
  }

  /** The current state: after every applied edit, with nextRunId counting handed-out ids. */
  get state(): Readonly<ManifestState> {
    this.#publicState ??= deepFreeze({ ...copyState(this.#state), nextRunId: this.#nextRunId });
    return this.#publicState;
  }

  /** Hands out the next run id (synchronous); the next apply() persists the counter. */
  allocateRunId(): number {
    const runId = this.#nextRunId;
    assert(Number.isSafeInteger(runId + 1), 'run ids stay safe integers');
    this.#nextRunId = runId + 1;
    this.#publicState = undefined;
    return runId;
  }

  /** Makes every later allocateRunId() return at least `minimum` (the store passes one past the largest run id on disk). */
  raiseNextRunId(minimum: number): void {
    if (!Number.isSafeInteger(minimum) || minimum < 0) throw new RangeError(`minimum must be a non-negative integer, got ${minimum}`);
    if (minimum <= this.#nextRunId) return;
    this.#nextRunId = minimum;
    this.#publicState = undefined;
  }

  /**
   * Applies `edit` and makes it durable (both copies) before resolving. Rejects with
   * TypeError/RangeError for an edit that does not apply (nothing written), with
   * StoreClosedError after close(), with StoreFailedError after an I/O failure (this
   * one or an earlier one: the manifest must be reopened).
   */
  async apply(edit: ManifestEdit): Promise<void> {
    const shape = editProblem(edit);
    if (shape !== undefined) throw new TypeError(`manifest edit: ${shape}`);
    this.#checkUsable();
    await this.#lock.runExclusive(async () => {
      this.#checkUsable();
      const plan = this.#chain.plan(this.#state, this.#nextRunId, edit);
      try {
        if (plan.record === undefined) await this.#writeGeneration(plan.sequence, plan.next);
        else {
          await this.#refuseIfTakenOver();
          await this.#files.append(plan.record);
        }
      } catch (error) {
        if (error instanceof ManifestEditNotWritten) {
          this.#chain.withdraw(plan.sequence);
          throw new DiskFullError(error.path, 'the manifest edit was not written (nothing of it is durable; the manifest stays usable)', { cause: error.cause });
        }
        this.#failure = new StoreFailedError(`a manifest write failed (${String(error)})`, { cause: error });
        throw this.#failure;
      }
      this.#state = plan.next;
      this.#nextRunId = Math.max(this.#nextRunId, plan.next.nextRunId);
      this.#publicState = undefined;
    });
  }

  stats(): ManifestStats {
    return {
      editsSinceRewrite: this.#chain.editsSinceRewrite,
      rewrites: this.#files.rewrites,
      fileBytes: this.#files.fileBytes,
      repairedCopies: this.#repairedCopies,
    };
  }

  /**
   * Scrub (src/stripe/scrub.ts): reads both copies of the current generation and merges
   * them as open would. A copy that is missing, damaged or shorter than what this handle
   * wrote is repaired (with `repair`) the way open repairs it: the whole state is written
   * as a new generation, both copies. It is written from the state held here, which is
   * exactly what the good copy replays to (the class invariant), so even both copies
   * damaged at one record (which a reopen could not survive) is repaired while the store
   * is open. Runs under the manifest lock, so no append is in flight. A failed rewrite
   * is fail-stop, as in apply().
   */
  async scrub(repair: boolean): Promise<ManifestScrubResult> {
    return this.#lock.runExclusive(async () => {
      if (this.#closed) throw new StoreClosedError('scrub the manifest');
      const files = this.#files;
      const result = await checkManifestCopies({
        fileSystem: this.#fileSystem, directory: files.directory, hash: this.#hash, generation: files.generation, writtenBytes: files.fileBytes,
      });
      if (result.damaged.length === 0 || !repair || this.#failure !== undefined) return result;
      try {
        await this.#writeGeneration(this.#chain.nextSequence, this.#state);
      } catch (error) {
        if (error instanceof ManifestEditNotWritten) throw new DiskFullError(error.path, 'the manifest repair was not written (the damaged copy stays as it was)', { cause: error.cause });
        this.#failure = new StoreFailedError(`a manifest rewrite by scrub failed (${String(error)})`, { cause: error });
        throw this.#failure;
      }
      this.#repairedCopies += 1;
      result.repaired = true;
      return result;
    });
  }

  /**
   * Waits for an apply() in flight, rewrites a long edit chain as one full state (see
   * the module header; not with `compactChain: false`, nor after a failure), then
   * closes the files. Later apply() calls reject. A failed rewrite is fail-stop (the
   * files are closed and close rejects with StoreFailedError; the chain on disk is
   * still whole: the old generation is deleted only after the new one is durable).
   */
  async close(options: { compactChain?: boolean } = {}): Promise<void> {
    await this.#lock.runExclusive(async () => {
      const rewrite = (options.compactChain ?? true) && !this.#closed && this.#failure === undefined && this.#chain.wantsRewriteAtClose;
      this.#closed = true;
      try {
        if (rewrite) await this.#writeGeneration(this.#chain.nextSequence, { ...this.#state, nextRunId: this.#nextRunId });
      } catch (error) {
        // Only a shorter chain for the next open: the chain on disk is whole, nothing of the rewrite durable.
        if (error instanceof ManifestEditNotWritten) return;
        this.#failure = new StoreFailedError(`the manifest rewrite at close failed (${String(error)})`, { cause: error });
        throw this.#failure;
      } finally {
        await this.#files.close();
      }
    });
  }

  /**
   * Every append first asks `confirm` whether the directory lock is still ours (lockStillHeld):
   * a new holder adopts this generation and appends at the end it read, so our append after
   * a takeover overwrote its edit in both copies (docs/ARCHITECTURE.md, the takeover window).
   * A new generation's creates and renames are confirmed by the file system.
   */
  confirmBeforeAppends(confirm: () => Promise<boolean>): void {
    this.#confirmHolder = confirm;
  }

  /** Throws (LOCK_LOST_CODE; apply() then fails the manifest) when the holder is not confirmed. */
  async #refuseIfTakenOver(): Promise<void> {
    const confirm = this.#confirmHolder;
    if (confirm !== undefined && !(await confirm())) throw fileSystemError(LOCK_LOST_CODE, 'write', this.#files.directory);
  }

  #checkUsable(): void {
    if (this.#closed) throw new StoreClosedError('apply a manifest edit');
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** A new generation holding `state` (ManifestFiles.writeGeneration); the edit chain starts over at `sequence`. */
  async #writeGeneration(sequence: number, state: ManifestState): Promise<void> {
    this.#lock.assertHeld();
    await this.#files.writeGeneration(sequence, state);
    this.#chain.startedOver(sequence);
  }

  /** First write of a new manifest: the directory (made durable in the store directory), then generation 1 or above. */
  async #create(names: readonly string[]): Promise<void> {
    await this.#files.makeDirectory();
    await this.#lock.runExclusive(() => this.#writeGeneration(1, this.#state));
    await this.#files.removeOrphans(names);
  }
}

function checkOpenOptions(options: ManifestOpenOptions): number {
  if (typeof options !== 'object' || options === null) throw new TypeError('manifest open options must be an object');
  if (typeof options.create !== 'boolean') throw new TypeError('manifest open option create must be a boolean');
  const editsMax = options.editsMax ?? MANIFEST_EDITS_MAX;
  if (!Number.isSafeInteger(editsMax) || editsMax < 1 || editsMax > MANIFEST_EDITS_MAX) {
    throw new RangeError(`manifest open option editsMax must be an integer in 1..${MANIFEST_EDITS_MAX}, got ${editsMax}`);
  }
  return editsMax;
}

function initialState(initial: Partial<ManifestState> | undefined): ManifestState {
  const state = { ...copyState(EMPTY_MANIFEST_STATE), ...initial };
  const problem = stateProblem(state);
  if (problem !== undefined) throw new RangeError(`manifest initial state: ${problem}`);
  return copyState(state);
}

function deepFreeze(state: ManifestState): Readonly<ManifestState> {
  state.runs.forEach((run) => Object.freeze(run));
  Object.freeze(state.runs);
  return Object.freeze(state);
}
