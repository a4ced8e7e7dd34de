/**
 * FaultFileHandle: an open file of FaultFileSystem (src/fs/fault-file-system.ts).
 *
 * Invariants
 * - A handle refers to the inode, not the path: it keeps working after the file
 *   is renamed or unlinked, as on POSIX. `path` is the name it was opened by, used
 *   in errors and fault matching only.
 * - Every call is counted by the shared FaultController, then checked (EBADF once
 *   closed, or for write/truncate on a handle opened 'read'), then checked for an
 *   injected fault, and only then applied: a failed call changes nothing.
 * - Fsyncgate: a failed datasync/sync (any injected code) drops the file's pending
 *   changes without making them durable, while reads still see them; a later
 *   successful sync does not make them durable, so code that retries fsync and
 *   trusts it loses data here. It is modelled per write, not per page: a lost
 *   write stays lost even if a later synced write touches the same page (Linux
 *   would rewrite the page). datasync and sync are identical.
 * - Writeback errors reach every open description (Linux errseq_t, since 4.13):
 *   when a sync of a file fails, every OTHER handle open on that inode at that
 *   moment records the error code, and its next datasync/sync reports it once
 *   (then it is cleared for that handle). That sync still writes the file's
 *   pending changes durable first, as Linux writes back dirty pages before it
 *   checks the error cursor, then throws. Handles opened after the failure, and
 *   the handle whose sync failed (it has seen the error), are not told. Several
 *   failures before the next sync are reported once, with the latest code.
 *   close() does not report the error and removes the handle from the inode.
 * - Each write takes the next write sequence number from the controller, which
 *   the 'torn-last-write' crash mode uses to find the last write made anywhere.
 */
import { assert } from '../../util/assert.js';
import { fileSystemError, type FileHandle } from '../file-system.js';
import type { FaultController } from './fault-controller.js';
import type { FileNode, WritebackErrorObserver } from './inode-tree.js';

/** Throws a RangeError unless `value` is a safe integer >= 0 (misuse of the API, not an I/O fault). */
export function requireNonNegativeInteger(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

export class FaultFileHandle implements FileHandle, WritebackErrorObserver {
  private closed = false;
  /** The code of a writeback error another handle's sync hit since this handle last synced, unreported. */
  private unseenWritebackErrorCode: string | undefined;

  constructor(
    readonly path: string,
    private readonly file: FileNode,
    private readonly writable: boolean,
    private readonly controller: FaultController,
  ) {
    file.openDescriptions.add(this);
  }

  /** Called by another handle's failed sync on the same inode; reported by this handle's next sync. */
  noteWritebackError(code: string): void {
    assert(!this.closed, `a closed handle of ${this.path} was told of a writeback error`);
    this.unseenWritebackErrorCode = code;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.readSync(buffer, offset, length, position);
  }

  /** read() on the calling thread: counted and faulted as a 'read' (an injected read fault fails either). */
  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.begin('read', false);
    requireNonNegativeInteger(offset, 'offset');
    requireNonNegativeInteger(length, 'length');
    requireNonNegativeInteger(position, 'position');
    if (offset + length > buffer.length) throw new RangeError('offset + length exceeds the buffer');
    return this.file.current.read(buffer, offset, length, position);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.begin('write', true);
    requireNonNegativeInteger(position, 'position');
    this.file.write(data, position, this.controller.nextWriteSequence());
  }

  async datasync(): Promise<void> {
    this.syncFile('datasync');
  }

  async sync(): Promise<void> {
    this.syncFile('sync');
  }

  async truncate(sizeBytes: number): Promise<void> {
    this.begin('truncate', true);
    requireNonNegativeInteger(sizeBytes, 'sizeBytes');
    this.file.truncate(sizeBytes);
  }

  async size(): Promise<number> {
    this.begin('size', false);
    return this.file.current.sizeBytes;
  }

  async close(): Promise<void> {
    this.begin('close', false);
    this.closed = true;
    this.file.openDescriptions.delete(this);
  }

  private begin(operation: string, needsWrite: boolean): void {
    this.countAndCheckOpen(operation, needsWrite);
    this.controller.throwFault(operation, [this.path]);
  }

  private countAndCheckOpen(operation: string, needsWrite: boolean): void {
    this.controller.countOperation(operation, this.path);
    if (this.closed || (needsWrite && !this.writable)) throw fileSystemError('EBADF', operation, this.path);
  }

  private syncFile(operation: 'datasync' | 'sync'): void {
    this.countAndCheckOpen(operation, false);
    const fault = this.controller.takeFault(operation, [this.path]);
    if (fault !== undefined) {
      this.file.discardPending();
      for (const other of this.file.openDescriptions) {
        if (other !== this) other.noteWritebackError(fault.code);
      }
      this.unseenWritebackErrorCode = undefined;
      throw fault;
    }
    this.file.makeDurable();
    const unseen = this.unseenWritebackErrorCode;
    if (unseen !== undefined) {
      this.unseenWritebackErrorCode = undefined;
      throw fileSystemError(unseen, operation, this.path);
    }
  }
}
