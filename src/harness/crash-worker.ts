/**
 * The crash harness's worker process:
 *
 *   node dist/src/harness/crash-worker.js <dir> <seed> <mode> [cycle]
 *
 * started by src/harness/crash-test.ts with child_process.fork (it needs the IPC
 * channel). It opens the store, sends `ready`, and runs the workload of
 * src/harness/crash-workload.ts until the parent ends it; see crash-protocol.ts
 * for the messages.
 *
 * Modes
 * - kill: the store runs on the real file system and the parent SIGKILLs this
 *   process at a random moment. The page cache survives, so this tests recovery
 *   from a process death: torn tails, half-created segments, stale locks.
 * - power-loss: the store runs on a FaultFileSystem loaded from the directory's
 *   files (all durable, as after a boot), its fsyncs slowed to a disk's pace
 *   (slow-sync-file-system.ts). Instead of SIGKILL, the parent sends
 *   `power-loss { crashMode, operationsBeforeCrash }` at the random moment; the
 *   worker lets that many more file-system calls through (so the cut can fall
 *   between any two calls, e.g. between a WAL write and its fdatasync), then calls
 *   `crash(crashMode)`, writes the rebooted image (what survived: synced data and
 *   entries, plus whatever the mode keeps of the rest) over the directory, sends
 *   `crashed` and exits. The parent then recovers from that image.
 *
 *   Why this design: a FaultFileSystem lives in this process's memory, so a real
 *   SIGKILL would take its state with it; persisting the image at every sync point
 *   would mean reimplementing the fault file system on disk. Crashing in-process at
 *   the parent's signal keeps the honest part: the workload, the acknowledgements
 *   and their IPC ordering are exactly those of kill mode, every ack sent was sent
 *   after its commit's fdatasync succeeded in the fault file system, and what is
 *   not durable when `crash()` runs is really lost (or torn) before the parent ever
 *   opens the store. Nothing can be acknowledged after the crash: every later
 *   file-system call fails.
 *
 * Both modes: every ACTIVITY_POLL_MS the worker reads stats() and sends the parent
 * any change in the store's background work (flush or compaction running, flushes,
 * compactions and WAL deletions so far), so the parent can count the kills that
 * landed during a flush or a compaction (crash-test.ts). A change in the last
 * millisecond before a SIGKILL may go unreported; power-loss mode sends the
 * activity as of the crash itself.
 */
import { resolve } from 'node:path';
import { FaultFileSystem } from '../fs/fault-file-system.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import {
  CRASH_TEST_MODES,
  type CrashTestMode,
  decodeStoreSettings,
  harnessStoreOptions,
  type HarnessStoreSettings,
  type ParentMessage,
  sameActivity,
  type StoreActivity,
} from './crash-protocol.js';
import { CrashWorkload } from './crash-workload.js';
import { loadDirectoryImage, saveDirectoryImage } from './file-system-image.js';
import { ParentChannel } from './parent-channel.js';
import { SlowSyncFileSystem } from './slow-sync-file-system.js';

/** How long a power loss waits for the workload to reach the chosen file-system call. */
const POWER_LOSS_WAIT_MS = 100;
/** Power-loss mode: how long each fsync takes (see slow-sync-file-system.ts). */
const POWER_LOSS_SYNC_DELAY_MS = 1;
const POLL_INTERVAL_MS = 1;
/** How often the store's background work is looked at (stats() does no I/O). */
const ACTIVITY_POLL_MS = 1;

interface WorkerArguments {
  directory: string;
  seed: number;
  mode: CrashTestMode;
  cycle: number;
  storeSettings: HarnessStoreSettings;
}

function parseWorkerArguments(argv: readonly string[]): WorkerArguments {
  const [directory, seedText, modeText, cycleText = '0', storeSettingsText] = argv;
  const seed = Number(seedText);
  const cycle = Number(cycleText);
  if (directory === undefined || !Number.isInteger(seed) || !Number.isInteger(cycle) || !CRASH_TEST_MODES.includes(modeText as CrashTestMode)) {
    throw new Error(`usage: crash-worker <dir> <seed> <${CRASH_TEST_MODES.join('|')}> [cycle] [store-settings-json]; got ${argv.join(' ')}`);
  }
  return { directory: resolve(directory), seed, mode: modeText as CrashTestMode, cycle, storeSettings: decodeStoreSettings(storeSettingsText) };
}

async function main(): Promise<void> {
  const settings = parseWorkerArguments(process.argv.slice(2));
  const channel = new ParentChannel();
  const fileSystem = settings.mode === 'power-loss' ? await faultFileSystemFor(settings) : undefined;
  const storeFileSystem = fileSystem === undefined ? undefined : new SlowSyncFileSystem(fileSystem, POWER_LOSS_SYNC_DELAY_MS);
  const storeOptions = harnessStoreOptions(settings.storeSettings);
  const store = await openStore(settings.directory, { ...storeOptions, ...(storeFileSystem === undefined ? {} : { fileSystem: storeFileSystem }) });
  const workload = new CrashWorkload(store, channel, settings.cycle, settings.seed, (error) => {
    void channel.send({ type: 'error', message: describeError(error) });
  });
  process.on('unhandledRejection', (reason) => {
    if (!workload.failuresExpected) void channel.send({ type: 'error', message: `unhandled rejection: ${describeError(reason)}` });
  });
  const activity = new ActivityReporter(store, channel);
  if (fileSystem !== undefined) listenForPowerLoss(fileSystem, workload, channel, settings.directory, activity);
  await channel.send({ type: 'ready', version: store.version });
  activity.start();
  await workload.run();
}

async function faultFileSystemFor(settings: WorkerArguments): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(settings.seed);
  await loadDirectoryImage(fileSystem, settings.directory);
  return fileSystem;
}

function listenForPowerLoss(fileSystem: FaultFileSystem, workload: CrashWorkload, channel: ParentChannel, directory: string, activity: ActivityReporter): void {
  process.on('message', (message: ParentMessage) => {
    if (message.type !== 'power-loss') return;
    simulatePowerLoss(fileSystem, workload, channel, directory, message, activity).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`power-loss simulation failed: ${describeError(error)}\n`);
        process.exit(2);
      },
    );
  });
}

async function simulatePowerLoss(
  fileSystem: FaultFileSystem,
  workload: CrashWorkload,
  channel: ParentChannel,
  directory: string,
  message: ParentMessage,
  activity: ActivityReporter,
): Promise<void> {
  workload.expectFailures();
  const lastAllowed = fileSystem.operationCount + message.operationsBeforeCrash;
  fileSystem.crashAfterOperations(message.operationsBeforeCrash);
  await waitUntil(() => fileSystem.operationCount > lastAllowed, POWER_LOSS_WAIT_MS);
  const rebooted = fileSystem.crash(message.crashMode);
  activity.stop();
  await activity.report();
  await saveDirectoryImage(rebooted, directory);
  await channel.send({ type: 'crashed', crashMode: message.crashMode });
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) {
    await new Promise((resolveTimer) => setTimeout(resolveTimer, POLL_INTERVAL_MS));
  }
}

/** Sends the parent each change in the store's background work, polled from stats(). */
class ActivityReporter {
  readonly #store: Store;
  readonly #channel: ParentChannel;
  #last: StoreActivity | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(store: Store, channel: ParentChannel) {
    this.#store = store;
    this.#channel = channel;
  }

  start(): void {
    void this.report();
    this.#timer = setInterval(() => void this.report(), ACTIVITY_POLL_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Sends the activity now if it changed since the last one sent. */
  async report(): Promise<void> {
    const storage = this.#store.stats().storage;
    const activity: StoreActivity = {
      flushes: storage.flushes,
      compactions: storage.compaction.compactions,
      walSegmentsDeleted: storage.walSegmentsDeleted,
      flushing: storage.immutableMemtables > 0,
      compacting: storage.compaction.runningCount > 0,
    };
    if (this.#last !== undefined && sameActivity(this.#last, activity)) return;
    this.#last = activity;
    await this.#channel.send({ type: 'activity', activity }).catch(() => process.exit(1)); // the parent is gone
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

main().catch((error: unknown) => {
  process.stderr.write(`crash worker failed: ${describeError(error)}\n`);
  process.exit(1);
});
