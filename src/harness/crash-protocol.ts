/**
 * What the crash harness's parent and worker processes share: the key space, the
 * values written, the store options, and the IPC messages between them.
 *
 * Key space (fixed, so the parent can read back every key that was ever written):
 * - `data/wW/kNNN`: owned by data writer W alone, which issues one commit at a time,
 *   so the commits touching a key are totally ordered and at most one is in flight.
 * - `bank/aNN`: the bank's accounts. A transfer holds the worker's locks on both of
 *   its accounts from reading the balances to the acknowledgement, so the same holds.
 *
 * Every value names the commit that wrote it (`writeId`, unique per run), which is
 * how the parent tells which commits a recovered store holds. Data payloads are a
 * deterministic function of (writeId, key, length), so intents carry only the
 * length and the parent recomputes the exact value it expects.
 *
 * Messages, worker -> parent, in order on the one IPC channel:
 *   ready                          the store is open (the kill clock starts)
 *   events [intent | ack ...]      an intent is sent, and its send completed (the
 *                                  bytes are in the kernel's pipe buffer), before
 *                                  its commit is submitted; an ack only after the
 *                                  commit's promise resolved
 *   activity                       the store's background work changed (a flush or
 *                                  compaction began or ended, or counted one more):
 *                                  the worker polls stats() every millisecond and
 *                                  sends each change, so the last one before its
 *                                  death says what was running when it died
 *   crashed                        power-loss mode: the crash image is on disk (sent
 *                                  after the activity as of the crash)
 *   error                          a writer failed where no failure was expected
 * Parent -> worker (power-loss mode only):
 *   power-loss                     crash after n more file-system calls, in this mode
 */
import type { CrashMode } from '../fs/fault-file-system.js';
import type { StoreOptions } from '../store/options.js';

export type CrashTestMode = 'kill' | 'power-loss';
export const CRASH_TEST_MODES: readonly CrashTestMode[] = ['kill', 'power-loss'];

/** The power-loss outcomes the harness draws from ('keep-all' is what kill mode already covers). */
export const POWER_LOSS_CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write'];

export const DATA_WRITER_COUNT = 5;
export const KEYS_PER_DATA_WRITER = 48;
export const BANK_WRITER_COUNT = 3;
export const ACCOUNT_COUNT = 16;
export const ACCOUNT_BALANCE_INITIAL = 1000;
export const BANK_TOTAL = ACCOUNT_COUNT * ACCOUNT_BALANCE_INITIAL;

/** Small segments, so a few seconds of writes rotate through many of them. */
export const HARNESS_STORE_OPTIONS: StoreOptions = { segmentSizeBytes: 256 * 1024 };

/**
 * What the command line may change of HARNESS_STORE_OPTIONS: a small memory budget
 * makes memtables flush to runs (and checkpoints delete WAL segments) while the
 * kills land. The parent, every worker and every reopen use the same options.
 */
export interface HarnessStoreSettings {
  memoryBudgetBytes?: number;
  segmentSizeBytes?: number;
}

export function harnessStoreOptions(settings: HarnessStoreSettings): StoreOptions {
  return { ...HARNESS_STORE_OPTIONS, ...settings };
}

/** The worker's command-line form of the settings (one JSON argument) and its parser. */
export function encodeStoreSettings(settings: HarnessStoreSettings): string {
  return JSON.stringify(settings);
}

export function decodeStoreSettings(text: string | undefined): HarnessStoreSettings {
  if (text === undefined) return {};
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const settings: HarnessStoreSettings = {};
  for (const name of ['memoryBudgetBytes', 'segmentSizeBytes'] as const) {
    const value = parsed[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new Error(`store setting ${name} must be an integer, got ${String(value)}`);
    settings[name] = value;
  }
  return settings;
}

export function dataKey(writer: number, index: number): string {
  return `data/w${writer}/k${String(index).padStart(3, '0')}`;
}

export function accountKey(index: number): string {
  return `bank/a${String(index).padStart(2, '0')}`;
}

export function isAccountKey(key: string): boolean {
  return key.startsWith('bank/');
}

/** Every key the workload can write, sorted as the store sorts them (UTF-8 byte order = code unit order for ASCII). */
export function allHarnessKeys(): string[] {
  const keys: string[] = [];
  for (let index = 0; index < ACCOUNT_COUNT; index++) keys.push(accountKey(index));
  for (let writer = 0; writer < DATA_WRITER_COUNT; writer++) {
    for (let index = 0; index < KEYS_PER_DATA_WRITER; index++) keys.push(dataKey(writer, index));
  }
  return keys.sort();
}

export type WriteDescription =
  | { kind: 'data'; key: string; payloadBytes: number }
  | { kind: 'account'; key: string; balance: number }
  | { kind: 'delete'; key: string };

export interface DataValue {
  writeId: string;
  payload: string;
}

export interface AccountValue {
  writeId: string;
  balance: number;
}

/** One commit the worker is about to submit: a put or delete (one write) or a batch. */
export interface Intent {
  writeId: string;
  writes: WriteDescription[];
}

export interface Acknowledgement {
  writeId: string;
  version: number;
}

export type WorkerEvent = { type: 'intent'; intent: Intent } | { type: 'ack'; ack: Acknowledgement };

/**
 * The store's background work as a worker saw it in stats(): the counts since its
 * open, and whether a flush (a sealed memtable not yet installed as a run: written,
 * or being installed through the manifest) or a compaction was in progress.
 */
export interface StoreActivity {
  flushes: number;
  compactions: number;
  walSegmentsDeleted: number;
  flushing: boolean;
  compacting: boolean;
}

export function sameActivity(left: StoreActivity, right: StoreActivity): boolean {
  return left.flushes === right.flushes && left.compactions === right.compactions && left.walSegmentsDeleted === right.walSegmentsDeleted &&
    left.flushing === right.flushing && left.compacting === right.compacting;
}

export type WorkerMessage =
  | { type: 'ready'; version: number }
  | { type: 'activity'; activity: StoreActivity }
  | { type: 'events'; events: WorkerEvent[] }
  | { type: 'crashed'; crashMode: CrashMode }
  | { type: 'error'; message: string };

export type ParentMessage = { type: 'power-loss'; crashMode: CrashMode; operationsBeforeCrash: number };

/** A deterministic payload of exactly `payloadBytes` ASCII characters. */
export function payloadFor(writeId: string, key: string, payloadBytes: number): string {
  const unit = `${writeId}@${key};`;
  return unit.repeat(Math.ceil(payloadBytes / unit.length)).slice(0, payloadBytes);
}

/** The value a write stores, or undefined for a delete. */
export function valueOf(writeId: string, write: WriteDescription): DataValue | AccountValue | undefined {
  switch (write.kind) {
    case 'data':
      return { writeId, payload: payloadFor(writeId, write.key, write.payloadBytes) };
    case 'account':
      return { writeId, balance: write.balance };
    case 'delete':
      return undefined;
  }
}

/** The writeId a stored value names, if it is one of the harness's values. */
export function writeIdOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const writeId = (value as { writeId?: unknown }).writeId;
  return typeof writeId === 'string' ? writeId : undefined;
}

export function writeIdFor(cycle: number, writer: string, sequence: number): string {
  return `c${cycle}.${writer}.${sequence}`;
}
