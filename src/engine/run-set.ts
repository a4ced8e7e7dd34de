/**
 * The live runs, in install order, each opened lazily.
 *
 * A run listed in the manifest is opened (footer, index and filter read and
 * checked) the first time a read needs it, not at store open: a clean reopen of a
 * large store reads the manifest and nothing else. Two reads that need a run at
 * once share one open.
 *
 * Invariants:
 * - `runs` is in install order (oldest first); their version ranges ascend and do
 *   not overlap (seed race 6: runs are installed in memtable order, asserted by
 *   `install`).
 * - The list is replaced, never mutated in place, so a read view that captured it
 *   keeps reading the same runs.
 */
import type { FileSystem } from '../fs/file-system.js';
import type { Hash64 } from '../wal/wal-format.js';
import type { KeyRange } from '../memory/memory-index.js';
import type { BlockCache } from '../run/block-cache.js';
import type { RunDescriptor, RunEntry } from '../run/run-descriptor.js';
import type { RunCursor } from '../run/run-cursor.js';
import { RunReader } from '../run/run-reader.js';
import { assert } from '../util/assert.js';

export interface RunSetConfig {
  fileSystem: FileSystem;
  runsDirectory: string;
  hash: Hash64;
  cache: BlockCache;
}

export class RunHandle {
  readonly descriptor: RunDescriptor;
  readonly #config: RunSetConfig;
  #opening: Promise<RunReader> | undefined;
  #reader: RunReader | undefined;

  constructor(config: RunSetConfig, descriptor: RunDescriptor, reader?: RunReader) {
    this.#config = config;
    this.descriptor = descriptor;
    this.#reader = reader;
  }

  /** The reader, opening the run on first use. A failed open is retried by the next read. */
  reader(): RunReader | Promise<RunReader> {
    if (this.#reader !== undefined) return this.#reader;
    this.#opening ??= RunReader.open(this.#config.fileSystem, this.#config.runsDirectory, this.descriptor, this.#config.hash, this.#config.cache)
      .then((reader) => {
        this.#reader = reader;
        return reader;
      })
      .finally(() => {
        this.#opening = undefined;
      });
    return this.#opening;
  }

  /** Memory the open reader holds (index and filter), 0 while unopened. */
  get memoryBytes(): number {
    return this.#reader?.memoryBytes ?? 0;
  }

  get opened(): boolean {
    return this.#reader !== undefined;
  }

  /** The key's entries in this run, newest first (empty when the filter or the key range rules it out). */
  async versionsOf(key: string): Promise<RunEntry[]> {
    const { smallestKey, largestKey } = this.descriptor;
    if (key < smallestKey || key > largestKey) return [];
    const reader = await this.reader();
    if (!reader.mayContain(key)) return [];
    return reader.versions(key);
  }

  async cursor(range: KeyRange, reverse: boolean): Promise<RunCursor> {
    const reader = await this.reader();
    return reader.cursor(range, reverse);
  }

  async close(): Promise<void> {
    const reader = this.#reader ?? (await this.#opening?.catch(() => undefined));
    this.#reader = undefined;
    await reader?.close();
  }
}

export class RunSet {
  readonly config: RunSetConfig;
  #runs: readonly RunHandle[] = [];

  constructor(config: RunSetConfig, descriptors: readonly RunDescriptor[]) {
    this.config = config;
    this.#runs = descriptors.map((descriptor) => new RunHandle(config, descriptor));
  }

  /** Live runs, oldest first. The array is never mutated: capture it freely. */
  get runs(): readonly RunHandle[] {
    return this.#runs;
  }

  /** Live runs newest first (a fresh array). */
  newestFirst(): RunHandle[] {
    return this.#runs.slice().reverse();
  }

  /** Adds a newly written run above every live one. Synchronous. */
  install(descriptor: RunDescriptor, reader?: RunReader): RunHandle {
    const newest = this.#runs.at(-1);
    assert(newest === undefined || newest.descriptor.maxVersion < descriptor.minVersion, `run ${descriptor.runId} installed out of version order`);
    const handle = new RunHandle(this.config, descriptor, reader);
    this.#runs = [...this.#runs, handle];
    return handle;
  }

  get memoryBytes(): number {
    let total = 0;
    for (const run of this.#runs) total += run.memoryBytes;
    return total;
  }

  get fileBytes(): number {
    let total = 0;
    for (const run of this.#runs) total += run.descriptor.fileBytes;
    return total;
  }

  async close(): Promise<void> {
    for (const run of this.#runs) await run.close();
  }
}
