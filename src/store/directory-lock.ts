/**
 * The directory lock: one live handle per store directory, across processes.
 *
 * Lock files are generations: `LOCK.<generation>` (generation zero-padded). The
 * holder is the file with the highest generation; its JSON body names the pid,
 * host, process start time and a random token. A lock file only appears complete:
 * it is written and fsynced under a temporary name, then hard-linked into place
 * with `link`, which fails if the name exists. That is the whole protocol:
 *
 *   acquire: read the highest generation G.
 *     - G's holder is alive and has not released it -> StoreLockedError(pid).
 *     - otherwise (no lock, holder dead, or released): link our file as G+1.
 *       EEXIST means another opener won G+1: start over (and find it alive).
 *     - after linking, if any generation above ours exists, we lost a race against
 *       a slower opener's view: remove ours and start over.
 *     - won: remove lower generations (they are dead), fsync the directory.
 *   release: rewrite our generation as released (temp file + rename), never delete
 *     it, so generations only grow and a slow opener holding an old view can never
 *     create a generation that beats a newer holder.
 *
 * Several processes racing for one stale lock: `link` of G+1 succeeds for exactly
 * one of them (the stale lock-file check-then-delete race of the source system designed out). A holder in
 * this process is known by its token, so a handle left open in-process (or lost to
 * a simulated crash in tests) is told apart from a live one without signals.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { StoreLockedError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { isFileSystemError, joinPath } from '../fs/file-system.js';
import { assert } from '../util/assert.js';

const LOCK_NAME = /^LOCK\.(\d{12})$/;
const ACQUIRE_ATTEMPTS_MAX = 100;
export const LOCK_FORMAT_VERSION = 1;

export interface LockBody {
  formatVersion: number;
  pid: number;
  host: string;
  /** Process start time from /proc (clock ticks since boot), or 0 where unknown: guards against pid reuse. */
  processStart: number;
  token: string;
  acquiredAt: string;
  released: boolean;
}

/** Tokens of the locks held by live handles in this process. */
const heldInThisProcess = new Set<string>();

function lockFileName(generation: number): string {
  return `LOCK.${String(generation).padStart(12, '0')}`;
}

function processStartTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19] ?? 0);
  } catch {
    return 0;
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the holder named by `body` still holds the lock. */
export function isHolderLive(body: LockBody): boolean {
  if (body.released) return false;
  if (body.host !== hostname()) return true;
  if (body.pid === process.pid) return heldInThisProcess.has(body.token);
  if (!isProcessAlive(body.pid)) return false;
  return body.processStart === 0 || processStartTicks(body.pid) === body.processStart;
}

async function listGenerations(fileSystem: FileSystem, dir: string): Promise<number[]> {
  const generations: number[] = [];
  for (const name of await fileSystem.readdir(dir)) {
    const match = LOCK_NAME.exec(name);
    if (match) generations.push(Number(match[1]));
  }
  return generations.sort((left, right) => left - right);
}

async function readBody(fileSystem: FileSystem, path: string): Promise<LockBody | undefined> {
  try {
    return JSON.parse(Buffer.from(await fileSystem.readFile(path)).toString('utf8')) as LockBody;
  } catch (error) {
    if (isFileSystemError(error, 'ENOENT')) return undefined;
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

async function writeDurably(fileSystem: FileSystem, path: string, body: LockBody): Promise<void> {
  const handle = await fileSystem.open(path, 'createExclusive');
  try {
    await handle.write(Buffer.from(JSON.stringify(body), 'utf8'), 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class DirectoryLock {
  readonly #fileSystem: FileSystem;
  readonly #dir: string;
  readonly #generation: number;
  readonly #body: LockBody;
  #released = false;

  private constructor(fileSystem: FileSystem, dir: string, generation: number, body: LockBody) {
    this.#fileSystem = fileSystem;
    this.#dir = dir;
    this.#generation = generation;
    this.#body = body;
  }

  get path(): string {
    return joinPath(this.#dir, lockFileName(this.#generation));
  }

  /** Takes the lock on `dir` or throws StoreLockedError naming the live holder. */
  static async acquire(fileSystem: FileSystem, dir: string): Promise<DirectoryLock> {
    const body: LockBody = {
      formatVersion: LOCK_FORMAT_VERSION, pid: process.pid, host: hostname(),
      processStart: processStartTicks(process.pid), token: randomBytes(12).toString('hex'),
      acquiredAt: new Date().toISOString(), released: false,
    };
    try {
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS_MAX; attempt++) {
        const generation = await DirectoryLock.#nextGeneration(fileSystem, dir);
        if (await DirectoryLock.#tryLink(fileSystem, dir, generation, body)) {
          const lock = new DirectoryLock(fileSystem, dir, generation, body);
          if (await lock.#confirmHighest()) return lock;
        }
      }
    } catch (error) {
      // An acquisition that failed half-way (I/O error, simulated crash) must not
      // leave its token counted as a live holder in this process.
      heldInThisProcess.delete(body.token);
      throw error;
    }
    throw new Error(`could not take the lock on ${dir} after ${ACQUIRE_ATTEMPTS_MAX} attempts`);
  }

  /** The generation to claim, or throws StoreLockedError when the newest holder is live. */
  static async #nextGeneration(fileSystem: FileSystem, dir: string): Promise<number> {
    const generations = await listGenerations(fileSystem, dir);
    const newest = generations[generations.length - 1];
    if (newest === undefined) return 1;
    const path = joinPath(dir, lockFileName(newest));
    const holder = await readBody(fileSystem, path);
    if (holder !== undefined && isHolderLive(holder)) throw new StoreLockedError(path, holder.pid, holder.host);
    return newest + 1;
  }

  static async #tryLink(fileSystem: FileSystem, dir: string, generation: number, body: LockBody): Promise<boolean> {
    const temporary = joinPath(dir, `LOCK.tmp-${body.token}-${generation}`);
    await writeDurably(fileSystem, temporary, body);
    try {
      await fileSystem.link(temporary, joinPath(dir, lockFileName(generation)));
      heldInThisProcess.add(body.token);
      return true;
    } catch (error) {
      if (isFileSystemError(error, 'EEXIST')) return false;
      throw error;
    } finally {
      await fileSystem.unlink(temporary);
    }
  }

  /** After linking: keep the lock only if no higher generation exists; then clear older ones. */
  async #confirmHighest(): Promise<boolean> {
    const generations = await listGenerations(this.#fileSystem, this.#dir);
    if (generations.some((generation) => generation > this.#generation)) {
      heldInThisProcess.delete(this.#body.token);
      await this.#fileSystem.unlink(this.path);
      return false;
    }
    for (const generation of generations) {
      if (generation < this.#generation) {
        await this.#fileSystem.unlink(joinPath(this.#dir, lockFileName(generation))).catch(() => undefined);
      }
    }
    await this.#fileSystem.syncDirectory(this.#dir);
    return true;
  }

  /** Marks the lock released on disk (temp file + rename + directory fsync). Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    heldInThisProcess.delete(this.#body.token);
    const temporary = joinPath(this.#dir, `LOCK.tmp-${this.#body.token}-release`);
    // A release that failed half-way may have left its temporary file: start clean.
    await this.#fileSystem.unlink(temporary).catch((error: unknown) => {
      if (!isFileSystemError(error, 'ENOENT')) throw error;
    });
    await writeDurably(this.#fileSystem, temporary, { ...this.#body, released: true });
    await this.#fileSystem.rename(temporary, this.path);
    await this.#fileSystem.syncDirectory(this.#dir);
    this.#released = true;
  }

  /** Forgets the lock without touching disk (a simulated crash: the holder is gone). */
  abandon(): void {
    assert(!this.#released, 'abandon a held lock');
    this.#released = true;
    heldInThisProcess.delete(this.#body.token);
  }
}
