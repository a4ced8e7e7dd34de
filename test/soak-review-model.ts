/**
 * The soak workload's model (soak-review-workload.ts): every commit it submitted, how it
 * settled, and what the watcher, the snapshot, the long scan and the backups saw. Every
 * value written names its commit (`id`), so a recovered store's history says which
 * commits it holds.
 *
 * Settlement, as README's error table promises:
 * - acknowledged: durable, at its version (a put, delete or batch knows it; a transaction
 *   only that it committed);
 * - rejected with StoreFailedError (LADYBUG_STORE_FAILED), or refused before it was
 *   written (a lease lost, a conflict): certainly absent;
 * - CommitOutcomeUnknownError, or never settled (the crash came first): either whole or absent.
 */
export interface Written { id: string; [field: string]: unknown }

export interface CommitRecord {
  id: string;
  kind: 'put' | 'del' | 'batch' | 'tx' | 'sync';
  /** key -> value, or undefined for a delete. */
  writes: Map<string, Written | undefined>;
  state?: 'pending' | 'acknowledged' | 'absent' | 'unknown';
  version?: number;
  /** The store's version when it was submitted: its own is above it. */
  after?: number;
  error?: string;
}

export interface Delivered { version: number; key: string; deleted: boolean; value?: unknown }

/** Codes of a refusal that certainly wrote nothing. */
const ABSENT_CODES = new Set(['LADYBUG_STORE_FAILED', 'LADYBUG_LEASE_LOST', 'LADYBUG_CONFLICT', 'LADYBUG_STORE_CLOSED']);

export class SoakModel {
  readonly commits: CommitRecord[] = [];
  readonly delivered: Delivered[] = [];
  watchEnded: string | undefined;
  readonly leaseTokens: number[] = [];
  readonly snapshots: number[] = [];
  /** Snapshot version -> every key's value read through the snapshot (undefined: the read failed). */
  readonly snapshotReads = new Map<number, Map<string, unknown> | undefined>();
  scan: { version: number; entries: Array<[string, unknown]> } | undefined;
  readonly backupsStarted: string[] = [];
  /** Backup directory -> the version its backup() resolved with. */
  readonly backups = new Map<string, number>();
  floorRequested = 0;
  boundWritten = false;

  submit(record: CommitRecord, after: number): void {
    record.state = 'pending';
    record.after = after;
    this.commits.push(record);
  }

  acknowledge(record: CommitRecord, version: number | undefined): void {
    record.state = 'acknowledged';
    if (version !== undefined) record.version = version;
  }

  reject(record: CommitRecord, error: unknown): void {
    const code = (error as { code?: string }).code;
    record.error = code ?? String(error);
    record.state = code !== undefined && ABSENT_CODES.has(code) ? 'absent' : 'unknown';
  }

  byId(): Map<string, CommitRecord> {
    return new Map(this.commits.map((record) => [record.id, record]));
  }
}
