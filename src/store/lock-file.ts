/**
 * The directory lock's file (src/store/directory-lock.ts has the protocol; the format is
 * in docs/FORMAT.md, "Lock file"): generation names, the JSON body, and its reads and
 * writes through the store's file system. Nothing here decides who holds the lock.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { UnsupportedFormatError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { isFileSystemError, unlinkIfPresent } from '../fs/file-system.js';
import { type LockHolder, ownPidNamespace, ownProcessStartTicks, ownThread } from './lock-liveness.js';

/** `LOCK.<generation>`: twelve digits, zero padded; more (without a leading zero) once generations pass 999,999,999,999. */
export const LOCK_NAME = /^LOCK\.(\d{12}|[1-9]\d{12,})$/;
export const LOCK_FORMAT_VERSION = 2;

export interface LockBody extends LockHolder {
  formatVersion: number;
  /** Process start time from /proc (clock ticks since boot), or 0 where unknown: guards against pid reuse. */
  processStart: number;
  acquiredAt: string;
}

export function lockFileName(generation: number): string {
  return `LOCK.${String(generation).padStart(12, '0')}`;
}

export async function listGenerations(fileSystem: FileSystem, dir: string): Promise<number[]> {
  return generationsIn(await fileSystem.readdir(dir));
}

/** The lock generations a directory listing names, ascending. */
export function generationsIn(names: readonly string[]): number[] {
  const generations: number[] = [];
  for (const name of names) {
    const match = LOCK_NAME.exec(name);
    if (match) generations.push(Number(match[1]));
  }
  return generations.sort((left, right) => left - right);
}

function isLockBody(value: unknown): value is LockBody {
  if (value === null || typeof value !== 'object') return false;
  const body = value as Record<string, unknown>;
  return Number.isSafeInteger(body.pid) && typeof body.host === 'string' && typeof body.token === 'string' &&
    typeof body.released === 'boolean' && (body.processStart === undefined || typeof body.processStart === 'number') &&
    (body.pidNamespace === undefined || typeof body.pidNamespace === 'string') &&
    (body.heartbeatAt === undefined || typeof body.heartbeatAt === 'string') &&
    (body.threadId === undefined || Number.isSafeInteger(body.threadId)) &&
    (body.threadStart === undefined || Number.isSafeInteger(body.threadStart));
}

/**
 * The body of a lock file; undefined if it is gone or not a lock body (a crash left it empty).
 * Read through a handle, not readFile: over the real file system open, size, read and
 * close are calls on this thread (node-file-system.ts), where readFile is four
 * thread-pool round trips, each a wait for a CPU on a busy machine (issue 7: reopen).
 */
export async function readBody(fileSystem: FileSystem, path: string): Promise<LockBody | undefined> {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(await readWhole(fileSystem, path)).toString('utf8'));
    // A newer release's lock (whatever its fields): its holder cannot be judged here, so it is never taken over.
    const formatVersion = (parsed as { formatVersion?: unknown } | null)?.formatVersion;
    if (typeof formatVersion === 'number' && formatVersion > LOCK_FORMAT_VERSION) {
      throw new UnsupportedFormatError(path, 0, `lock format version ${formatVersion}`, `lock format versions 1 and ${LOCK_FORMAT_VERSION}`);
    }
    return isLockBody(parsed) ? { ...parsed, processStart: parsed.processStart ?? 0 } : undefined;
  } catch (error) {
    if (isFileSystemError(error, 'ENOENT')) return undefined;
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Every byte of the file at `path` (a lock body: a few hundred bytes), as far as reads return them. */
async function readWhole(fileSystem: FileSystem, path: string): Promise<Uint8Array> {
  const handle = await fileSystem.open(path, 'read');
  try {
    const bytes = new Uint8Array(await handle.size());
    let filled = 0;
    while (filled < bytes.length) {
      const count = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (count === 0) break;
      filled += count;
    }
    return bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/** Writes `body` as a new file at `path`; fsynced when `durable` (heartbeat and release, not acquire). */
export async function writeBody(fileSystem: FileSystem, path: string, body: LockBody, durable: boolean): Promise<void> {
  const handle = await fileSystem.open(path, 'createExclusive');
  try {
    await handle.write(Buffer.from(JSON.stringify(body), 'utf8'), 0);
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `target` with `body`: temporary file (removed first if a crash left it), fsync, rename. */
export async function rewrite(fileSystem: FileSystem, temporary: string, target: string, body: LockBody): Promise<void> {
  await unlinkIfPresent(fileSystem, temporary);
  await writeBody(fileSystem, temporary, body, true);
  await fileSystem.rename(temporary, target);
}

export function newBody(): LockBody {
  const now = new Date().toISOString();
  return {
    formatVersion: LOCK_FORMAT_VERSION, pid: process.pid, host: hostname(), pidNamespace: ownPidNamespace(),
    processStart: ownProcessStartTicks(), token: randomBytes(12).toString('hex'),
    acquiredAt: now, heartbeatAt: now, released: false,
    ...ownThread(), // threadId, threadStart: which thread of this process holds it (lock-liveness.ts, rule 3)
  };
}
