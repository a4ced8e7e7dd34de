/**
 * The fault controller of FaultFileSystem (src/fs/fault-file-system.ts), shared by
 * the file system and its handles: counts calls, injects faults, simulates the
 * machine going down, and numbers writes.
 *
 * Invariants
 * - Every FileSystem and FileHandle call is counted (countOperation) before its
 *   fault check and before it changes anything, failed calls included.
 * - An injected fault fails the nth matching call from when it was injected (or
 *   every matching call from then on if persistent) with a Node-style error. The
 *   callers check for the fault before changing any state, so a failed call
 *   changes nothing (a failed write writes no byte, a failed rename renames nothing);
 *   the one exception is a failed datasync/sync, which the handle turns into lost
 *   pending writes (fsyncgate, see fault-file-handle.ts).
 * - When several faults match one call, each counts the match; the first one due
 *   fires and the others that are due stay due for the next matching call.
 * - crashAfter(n) lets n more calls through; every later call fails with code
 *   'ESIMULATEDCRASH' (isSimulatedCrash). After kill() every call fails so,
 *   including calls on handles opened before.
 * - Write sequence numbers start at 1 and increase by one per write made anywhere
 *   on this file system; `lastWriteSequence` names the last one (0 if none).
 */
import { fileSystemError, isFileSystemError, type FileSystemError } from '../file-system.js';

const SIMULATED_CRASH_CODE = 'ESIMULATEDCRASH';

export type FaultOperation =
  | 'open'
  | 'read'
  | 'write'
  | 'datasync'
  | 'sync'
  | 'truncate'
  | 'rename'
  | 'link'
  | 'unlink'
  | 'removeDirectory'
  | 'syncDirectory'
  | 'mkdir'
  | 'readFile'
  | 'readdir';

export interface FaultInjection {
  operation: FaultOperation;
  /** The error code to fail with: 'EIO', 'ENOSPC' or any errno string. */
  error: string;
  /** Only calls on this path (exact, after normalisation) or matching this RegExp; rename and link match either path. */
  path?: string | RegExp;
  /** Fail the nth matching call from now (1-based); default 1. */
  nth?: number;
  /** Keep failing every matching call after the nth; default false. */
  persistent?: boolean;
}

export interface InjectedFault {
  /** How many calls this fault has failed so far. */
  readonly triggeredCount: number;
  /** Disarms the fault. */
  remove(): void;
}

export function isSimulatedCrash(error: unknown): boolean {
  return isFileSystemError(error, SIMULATED_CRASH_CODE);
}

function simulatedCrashError(syscall: string, path: string): FileSystemError {
  const error = new Error(`simulated crash: ${syscall} '${path}'`) as FileSystemError;
  error.code = SIMULATED_CRASH_CODE;
  return error;
}

class ArmedFault implements InjectedFault {
  triggeredCount = 0;
  private remainingMatches: number;

  constructor(
    private readonly injection: FaultInjection,
    private readonly onRemove: (fault: ArmedFault) => void,
  ) {
    const nth = injection.nth ?? 1;
    if (!Number.isSafeInteger(nth) || nth < 1) throw new RangeError(`nth must be a positive integer, got ${nth}`);
    this.remainingMatches = nth;
  }

  matches(operation: string, paths: readonly string[]): boolean {
    if (operation !== this.injection.operation) return false;
    const pattern = this.injection.path;
    if (pattern === undefined) return true;
    return paths.some((path) => (typeof pattern === 'string' ? path === pattern : path.search(pattern) >= 0));
  }

  /** Counts one matching call; true once the fault is due (it stays due until it fires). */
  countMatch(): boolean {
    if (this.remainingMatches > 1) {
      this.remainingMatches -= 1;
      return false;
    }
    return true;
  }

  fire(syscall: string, path: string): FileSystemError {
    this.triggeredCount += 1;
    if (this.injection.persistent !== true) this.remove();
    return fileSystemError(this.injection.error, syscall, path);
  }

  remove(): void {
    this.onRemove(this);
  }
}

/** Shared by a FaultFileSystem and its handles: counts calls, injects faults, numbers writes. */
export class FaultController {
  operationCount = 0;
  lastWriteSequence = 0;
  private crashThreshold: number | undefined;
  private dead = false;
  private faults: ArmedFault[] = [];

  /** Counts a call; throws the simulated crash if the machine is down. */
  countOperation(syscall: string, path: string): void {
    this.assertAlive(syscall, path);
    this.operationCount += 1;
    if (this.crashThreshold !== undefined && this.operationCount > this.crashThreshold) {
      throw simulatedCrashError(syscall, path);
    }
  }

  assertAlive(syscall: string, path: string): void {
    if (this.dead) throw simulatedCrashError(syscall, path);
  }

  /** The injected error this call must fail with, if any. */
  takeFault(operation: string, paths: readonly string[]): FileSystemError | undefined {
    let chosen: FileSystemError | undefined;
    for (const fault of [...this.faults]) {
      if (!fault.matches(operation, paths) || !fault.countMatch()) continue;
      chosen ??= fault.fire(operation, paths.join(' -> '));
    }
    return chosen;
  }

  throwFault(operation: string, paths: readonly string[]): void {
    const fault = this.takeFault(operation, paths);
    if (fault !== undefined) throw fault;
  }

  addFault(injection: FaultInjection): InjectedFault {
    const fault = new ArmedFault(injection, (removed) => {
      this.faults = this.faults.filter((candidate) => candidate !== removed);
    });
    this.faults.push(fault);
    return fault;
  }

  clearFaults(): void {
    this.faults = [];
  }

  crashAfter(operationCount: number): void {
    this.crashThreshold = this.operationCount + operationCount;
  }

  nextWriteSequence(): number {
    this.lastWriteSequence += 1;
    return this.lastWriteSequence;
  }

  kill(): void {
    this.dead = true;
  }
}
