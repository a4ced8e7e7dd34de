/**
 * The crash-test parent's model of the store: what each key must hold, built only
 * from what the workers announced and acknowledged.
 *
 * - `newest(key)`: the newest history entry of the key as verified after the last
 *   recovery (its version and the commit that wrote it). Everything up to it was
 *   in the recovered store; a later recovery must still have it.
 * - The current cycle's commits, in announcement order: each intent (its writes)
 *   and, once acknowledged, its version. An intent without an ack is in flight:
 *   after the kill it may or may not be in the store, but only as a whole.
 *
 * Because every key is written by one writer, one commit at a time (see
 * crash-protocol.ts), the commits touching a key are totally ordered and at most
 * one of them is in flight, which is what makes the check exact.
 */
import type { Acknowledgement, Intent, WorkerEvent, WriteDescription } from './crash-protocol.js';

export interface KnownEntry {
  version: number;
  /** The commit that wrote the entry; undefined for a delete (tombstones carry no value). */
  writeId: string | undefined;
  deleted: boolean;
  value: unknown;
}

export interface CommitRecord {
  writeId: string;
  writes: readonly WriteDescription[];
  /** Set by the acknowledgement; undefined while in flight. */
  version: number | undefined;
}

export class CrashModel {
  readonly keys: readonly string[];
  readonly #keySet: ReadonlySet<string>;
  readonly #newest = new Map<string, KnownEntry>();
  #commits: CommitRecord[] = [];
  #byWriteId = new Map<string, CommitRecord>();
  #writesPerKey = new Map<string, number>();
  #protocolErrors: string[] = [];

  constructor(keys: readonly string[]) {
    this.keys = keys;
    this.#keySet = new Set(keys);
  }

  hasKey(key: string): boolean {
    return this.#keySet.has(key);
  }

  /** Forgets the last cycle's commits (their effects are in `newest` by now). */
  beginCycle(): void {
    this.#commits = [];
    this.#byWriteId = new Map();
    this.#writesPerKey = new Map();
  }

  apply(event: WorkerEvent): void {
    if (event.type === 'intent') this.#recordIntent(event.intent);
    else this.#recordAck(event.ack);
  }

  #recordIntent(intent: Intent): void {
    if (this.#byWriteId.has(intent.writeId)) return this.#protocolError(`intent ${intent.writeId} announced twice`);
    const record: CommitRecord = { writeId: intent.writeId, writes: intent.writes, version: undefined };
    this.#commits.push(record);
    this.#byWriteId.set(intent.writeId, record);
    for (const write of intent.writes) {
      if (!this.#keySet.has(write.key)) this.#protocolError(`intent ${intent.writeId} writes unknown key ${write.key}`);
      this.#writesPerKey.set(write.key, (this.#writesPerKey.get(write.key) ?? 0) + 1);
    }
  }

  #recordAck(ack: Acknowledgement): void {
    const record = this.#byWriteId.get(ack.writeId);
    if (record === undefined) return this.#protocolError(`ack of ${ack.writeId}, which was never announced`);
    if (record.version !== undefined) return this.#protocolError(`${ack.writeId} acknowledged twice`);
    record.version = ack.version;
  }

  #protocolError(message: string): void {
    this.#protocolErrors.push(message);
  }

  /** This cycle's commits in announcement order. */
  get commits(): readonly CommitRecord[] {
    return this.#commits;
  }

  get acknowledgedCount(): number {
    return this.#commits.filter((commit) => commit.version !== undefined).length;
  }

  /** How many of this cycle's commits write `key`. */
  writesThisCycle(key: string): number {
    return this.#writesPerKey.get(key) ?? 0;
  }

  newest(key: string): KnownEntry | undefined {
    return this.#newest.get(key);
  }

  setNewest(key: string, entry: KnownEntry | undefined): void {
    if (entry === undefined) this.#newest.delete(key);
    else this.#newest.set(key, entry);
  }

  /** Protocol violations seen since the last call (a worker bug, reported as inconsistencies). */
  takeProtocolErrors(): string[] {
    const errors = this.#protocolErrors;
    this.#protocolErrors = [];
    return errors;
  }
}
