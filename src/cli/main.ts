#!/usr/bin/env node
/**
 * The `ladybug` command line: look inside a store, check it, repair it, and run
 * the benchmark and the crash-recovery harness.
 *
 * `unlock --force` removes the lock of a dead or stale holder (src/store/directory-lock.ts).
 * `repair` repairs the WAL (open with repair), then the runs' reserved entry counts
 * that `verify` reports wrong (src/store/repair-reserved-counts.ts).
 *
 * Every command builds one result object; `--json` prints it as JSON, otherwise it
 * is rendered as text from the same object, so both always report the same facts.
 * The checking commands' title lines are report-titles.ts (repair's, repair-report.ts).
 * Errors (bad arguments, no store, a store locked by another process, corruption)
 * print one clear line to stderr and exit non-zero, never a stack trace.
 */
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { isLadybugError, type KeyEncoding, openStore } from '../index.js';
import { asTypedError } from '../errors.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import { enableDebug } from '../util/debug.js';
import { DirectoryLock } from '../store/directory-lock.js';
import { checkName } from '../lease/lease-record.js';
import { verifyStore } from '../store/verify-store.js';
import { WATCH_CATCH_UP_BATCH_CHANGES_MAX } from '../limits.js';
import { backupMarkIn } from '../backup/backup-marks.js';
import { openWithoutTrustingCounts, repairReservedEntryCounts } from '../store/repair-reserved-counts.js';
import { repairDryRunOutput, repairTitle, unrecoverableExplanations } from './repair-report.js';
import { backupVerifyTitle, scrubTitle, verifyTitle } from './report-titles.js';
import { verifyBackup } from '../backup/restore-backup.js';
import { restoreStoreBackup } from '../backup/backup-api.js';
import { createProgress } from './progress.js';
import { dumpLine, jsonForm, keyJsonForm, keyText, type Output, printableJson, printResult, valueText } from './output.js';
import { guardStdout, OutputClosedError, stdoutFailure, stdoutReaderGone, writeOut } from './stdout.js';
import { watchStdoutReader } from './stdout-reader.js';
import { printWarningsAsLines } from './warnings.js';
import { commanderErrorLine, packageVersion, runScript } from './program-support.js';
import { interruptible, interruptState, onInterrupt, reportInterruption, signalTurns, stopReads } from './interrupt.js';
import {
  EXIT_DAMAGED_RESTORABLE, EXIT_FAILURE, EXIT_USAGE, HEX_KEY_HELP, type HexOption, isArgumentError, keyArgument, keyTitle, prefixRange, countOption, rateOption, versionOption,
  requireBackupDirectory, requireStore, storeDirectory, isDirectory, targetDirectory, UsageError, versionWithin,
} from './arguments.js';

interface JsonOption {
  json?: boolean;
}

async function withStore<T>(
  directory: string, run: (store: Awaited<ReturnType<typeof openStore>>) => Promise<T>, repair = false, keyEncoding: KeyEncoding = 'utf8',
): Promise<T> {
  const store = await openStore(await storeDirectory(directory), { repair, keyEncoding });
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

function emit(options: JsonOption, output: Output): void {
  printResult(output, options.json === true);
}

function buildProgram(): Command {
  const program = new Command('ladybug')
    .description('ladybug-store: inspect, verify and repair a store; benchmark; crash-test')
    .version(packageVersion(), '-V, --version', 'print the version of ladybug-store')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(commanderErrorLine(text)) });

  program.command('stats <dir>').description('figures of a store: lifetime, and since open (this command opens the store, which replays the WAL)')
    .option('--json', 'print JSON')
    .action(async (dir: string, options: JsonOption) => {
      const stats = await withStore(dir, async (store) => store.stats());
      emit(options, { title: `stats of ${resolve(dir)}`, data: stats });
    });

  program.command('verify <dir>').description('check every WAL checksum without changing any data; of a backup directory, every file, '
    + 'and whether restore rebuilds a damaged run from parity (exit 1 if restore would refuse it, 3 if damaged but restorable exactly)')
    .option('--json', 'print JSON')
    .action(async (dir: string, options: JsonOption) => {
      const signal = interruptible(() => 'verify stopped before it finished: nothing changed, nothing left locked');
      if (isDirectory(resolve(dir)) && await backupMarkIn(new NodeFileSystem(), resolve(dir)) !== undefined) {
        // A backup directory (ladybug backup; one cut short is marked, take-backup.ts; backup-marks.ts decides, as for the
        // store's open, which refuses it): check BACKUP.json and every file's checksum.
        const progress = createProgress('verify backup', 'files');
        // Typed as the public verifyBackup's and restore's failures are: an I/O error is LADYBUG_IO, not the raw Node error.
        const report = await verifyBackup(stopReads(new NodeFileSystem(), signal), resolve(dir), (step) => progress.update(step.filesDone, step.filesTotal))
          .catch((error: unknown) => { throw asTypedError(error, `verify backup ${resolve(dir)}`); }).finally(progress.stop);
        signal.throwIfAborted();
        emit(options, { title: backupVerifyTitle(report), data: report });
        if (!report.restorable) process.exitCode = EXIT_FAILURE;
        else if (!report.ok) process.exitCode = EXIT_DAMAGED_RESTORABLE;
        return;
      }
      const progress = createProgress('verify', 'segments');
      const report = await verifyStore(requireStore(dir), { fileSystem: stopReads(new NodeFileSystem(), signal), onProgress: progress.update })
        .finally(progress.stop);
      signal.throwIfAborted();
      emit(options, { title: verifyTitle(report), data: report });
      if (!report.ok) process.exitCode = EXIT_FAILURE;
    });

  program.command('repair <dir>')
    .description('open with repair: keep the valid prefix of a corrupt WAL (every commit after the damage is dropped; --dry-run, '
      + 'or verify, says which first), report what was dropped; the open reads every run '
      + 'whatever its reserved entry count says (dead leases expire, released ones stay ended); '
      + 'then scrub: rebuild every damaged run block parity can rebuild, and name (never drop) one it cannot, with the keys it holds (exit 1); '
      + 'then recount each run\'s reserved entries and, if a count is wrong, rewrite the runs (a compaction)')
    .option('--json', 'print JSON')
    .option('--dry-run', 'change nothing: report what repair would drop from the WAL and the run blocks verify finds damaged (exit 1 if any)')
    .action(async (dir: string, options: JsonOption & { dryRun?: boolean }) => {
      if (options.dryRun === true) {
        // A backup: refused as repair's open refuses it (openStore's own check), before verifyStore writes a lock file into it.
        const store = await storeDirectory(dir);
        const signal = interruptible(() => 'repair --dry-run stopped before it finished: nothing changed, nothing left locked');
        const report = await verifyStore(store, { fileSystem: stopReads(new NodeFileSystem(), signal) });
        signal.throwIfAborted();
        emit(options, repairDryRunOutput(report));
        if (!report.ok) process.exitCode = EXIT_FAILURE;
        return;
      }
      // Reserved entry counts not trusted: a wrong one must not steer this open's lease restart rule (repair-reserved-counts.ts).
      const signal = interruptible(() => 'repair stopped before it opened the store: nothing changed');
      const directory = await storeDirectory(dir);
      const store = await openWithoutTrustingCounts(directory, { repair: true });
      const opened = { version: store.version, ...store.stats().recovery, leaseExpiries: store.leases.stats().expiries };
      interruptState(() => `repair stopped after its open (${opened.repair === undefined ? 'the WAL needed no repair' : 'the WAL was repaired'}), `
        + 'its scrub cut short (blocks it rebuilt stay rewritten), reserved entry counts not checked: run repair again to finish; the store is closed, its lock released');
      const scrub = await store.scrub({ signal }).finally(() => store.close());
      signal.throwIfAborted();
      interruptState(() => 'repair stopped after its WAL repair and scrub, while it rechecked reserved entry counts (that step finished); the store is closed, its lock released');
      const reservedCounts = await repairReservedEntryCounts(directory);
      const title = repairTitle({
        droppedWal: opened.repair !== undefined, manifestRepaired: opened.manifest.repaired.length, counts: reservedCounts, leaseExpiries: opened.leaseExpiries, scrub,
      });
      const unrecoverable = unrecoverableExplanations(scrub);
      emit(options, { title, data: { ...opened, scrub: { runs: scrub.runs, blocksChecked: scrub.blocksChecked, repaired: scrub.repaired }, unrecoverable, reservedCounts } });
      if (reservedCounts.remaining.length > 0 || unrecoverable.length > 0) process.exitCode = EXIT_FAILURE;
    });

  program.command('scrub <dir>')
    .description('check every run block (bad ones rebuilt from parity and rewritten), the manifest\'s two copies (a damaged one rewritten) '
      + 'and every sealed WAL segment (damage reported, never dropped); exit 1 if anything is unrecoverable')
    .option('--json', 'print JSON')
    .option('--bytes-per-second <n>', 'average read rate to stay under', rateOption('--bytes-per-second'))
    .action(async (dir: string, options: JsonOption & { bytesPerSecond?: number }) => {
      const progress = createProgress('scrub', 'runs');
      const signal = interruptible(() => 'scrub stopped before it began: nothing changed; the store is closed, its lock released');
      const report = await withStore(dir, async (store) => {
        const scrubbed = await store.scrub({ bytesPerSecond: options.bytesPerSecond, onProgress: progress.update, signal });
        interruptState(() => `scrub stopped after checking ${scrubbed.blocksChecked} blocks (${scrubbed.repaired.length} rebuilt stay rewritten); `
          + `the rest of its ${scrubbed.runs} runs are unchecked; the store is closed, its lock released`);
        // This command's open rewrote a damaged manifest copy from its twin before the scrub
        // ran (Manifest.open), so the scrub found both whole: the open's repair is reported here.
        const manifestDirectory = join(resolve(dir), 'manifest');
        for (const reason of store.stats().recovery.manifest.repaired) {
          scrubbed.repaired.push({ runId: -1, file: manifestDirectory, kind: 'manifest', logicalOffset: 0, stripe: -1, outcome: 'repaired', reason: `at open: ${reason}` });
        }
        return scrubbed;
      }).finally(progress.stop);
      signal.throwIfAborted();
      emit(options, { title: scrubTitle(report), data: report });
      if (report.unrecoverable.length > 0) process.exitCode = EXIT_FAILURE;
    });

  program.command('compact <dir>').description('merge the runs now, dropping versions retention no longer keeps (checkpoints first); '
    + 'remove the WAL\'s spare segments (walSegmentsReleased, walBytesReleased in the report)')
    .option('--json', 'print JSON')
    .option('--max-versions-per-key <n>', 'retention to compact with (default: keep every version)', countOption('--max-versions-per-key'))
    .option('--retain-versions-ms <n>', 'also keep every version readable as of any time in the last n ms (default 0: off)', countOption('--retain-versions-ms'))
    .option('--retain-from <version>', 'raise the retention floor first: as-of reads below it are refused from then on, for every key', countOption('--retain-from'))
    .action(async (dir: string, options: JsonOption & { maxVersionsPerKey?: number; retainVersionsMs?: number; retainFrom?: number }) => {
      const progress = createProgress('compact', 'entries');
      const signal = interruptible(() => 'compact stopped before it opened the store: nothing changed');
      const store = await openStore(await storeDirectory(dir), {
        ...(options.maxVersionsPerKey === undefined ? {} : { maxVersionsPerKey: options.maxVersionsPerKey }),
        ...(options.retainVersionsMs === undefined ? {} : { retainVersionsMs: options.retainVersionsMs }),
      });
      let report;
      interruptState(() => 'compact stopped: the compaction was cancelled and installed nothing (every run and version is as it was); '
        + 'the store is closed, its lock released');
      onInterrupt(signal, () => void store.close().catch(() => undefined)); // close() cancels a running compaction
      try {
        const retainFrom = versionWithin('--retain-from', options.retainFrom, store.version);
        await store.checkpoint();
        const retain = retainFrom === undefined ? {} : { retainFrom };
        const result = await store.compact({ ...retain, onProgress: progress.update }).finally(progress.stop);
        interruptState(() => `compact stopped after its compaction finished (${result.outcome}); the store is closed, its lock released`);
        const storage = store.stats().storage;
        report = { ...result, runs: storage.runs, bytesOnDisk: storage.runBytes, runsPerLevel: storage.compaction.runsPerLevel };
      } finally {
        await store.close();
      }
      signal.throwIfAborted();
      const floor = report.retentionFloor === 0 ? '' : `, retention floor ${report.retentionFloor}`;
      emit(options, { title: `compact: ${report.outcome}, ${report.runsIn} runs into ${report.runsOut}, ${report.entriesDropped} entries dropped${floor}`, data: report });
    });

  program.command('unlock <dir>').description('remove a lock whose holder is dead or whose heartbeat is stale (refused while it is fresh)')
    .option('--force', 'required: the lock is replaced by a released one')
    .option('--json', 'print JSON')
    .action(async (dir: string, options: JsonOption & { force?: boolean }) => {
      if (options.force !== true) throw new UsageError('unlock removes the directory lock: pass --force (a live holder is refused anyway)');
      const result = await DirectoryLock.unlock(new NodeFileSystem(), await storeDirectory(dir));
      const title = result.releasedGeneration === undefined ? `unlock: not locked (${result.reason})` : `unlock: removed the lock (${result.reason})`;
      emit(options, { title, data: result });
    });

  program.command('get <dir> <key>').description('the value of a key, now or as of a version')
    .option('--as-of <version>', 'read as of this version', versionOption('--as-of'))
    .option('--hex', HEX_KEY_HELP)
    .option('--json', 'print JSON')
    .action(async (dir: string, keyGiven: string, options: JsonOption & HexOption & { asOf?: number }) => {
      const { key, keyForm } = keyArgument(keyGiven, options);
      const result = await withStore(dir, async (store) => {
        const version = versionWithin('--as-of', options.asOf, store.version) ?? store.version;
        const value = await store.get(key, { asOf: version });
        // dump's lossless forms: bytes, bigints, NaN, dates... each tell apart from a string or from null; `found` from a stored null.
        return { key: keyForm, version, found: value !== undefined, value: value === undefined ? null : jsonForm(value) };
      });
      emit(options, { title: `get ${keyTitle(keyForm)}`, data: result });
    });

  program.command('history <dir> <key>').description("a key's retained versions, newest first")
    .option('--limit <count>', 'at most this many versions', countOption('--limit'))
    .option('--hex', HEX_KEY_HELP)
    .option('--json', 'print JSON')
    .action(async (dir: string, keyGiven: string, options: JsonOption & HexOption & { limit?: number }) => {
      const { key, keyForm } = keyArgument(keyGiven, options);
      const history = await withStore(dir, (store) => store.history(key, { limit: options.limit }));
      const versions = history.map((entry) => ({ version: entry.version, value: entry.deleted ? null : jsonForm(entry.value), deleted: entry.deleted }));
      emit(options, { title: `history ${keyTitle(keyForm)}`, data: { key: keyForm, versions } });
    });

  program.command('dump <dir>').description('every live key and value (one JSON object per line with --json)')
    .option('--gte <key>', 'from this key').option('--lt <key>', 'up to, not including, this key')
    .option('--limit <count>', 'at most this many entries', countOption('--limit'))
    .option('--as-of <version>', 'as of this version', versionOption('--as-of'))
    .option('--hex', '--gte and --lt are the bounds\' bytes in hex (the form dump prints a key that is not UTF-8 in)')
    .option('--json', 'print JSON lines')
    .action(async (dir: string, options: JsonOption & HexOption & { gte?: string; lt?: string; limit?: number; asOf?: number }) => {
      const gte = options.gte === undefined ? undefined : keyArgument(options.gte, options).key;
      const lt = options.lt === undefined ? undefined : keyArgument(options.lt, options).key;
      let entries = 0;
      const signal = interruptible(() => `dump stopped after ${entries} entries (its output is incomplete); the store, only read, is closed, its lock released`);
      // Binary keys: every key dumps (dumpLine prints UTF-8 ones as strings, others as {"$bytes": hex}).
      await withStore(dir, async (store) => {
        const scan = store.scan({ gte, lt, limit: options.limit, asOf: versionWithin('--as-of', options.asOf, store.version) });
        const turn = signalTurns(); // Ctrl-C reaches its handler while stdout is a file or a terminal
        for await (const [key, value] of scan) {
          if (signal.aborted) break;
          await writeOut(dumpLine(key, value, options.json === true), signal); // paced by the reader
          entries++;
          await turn();
        }
      }, false, 'binary');
    });

  program.command('leases <dir> [action] [name]').description('live leases: list (default, --prefix) or status NAME; opening the store expires every earlier lease (restart rule)')
    .option('--prefix <prefix>', 'only names starting with this')
    .option('--json', 'print JSON')
    .action(async (dir: string, action: string | undefined, name: string | undefined, options: JsonOption & { prefix?: string }) => {
      if (action !== undefined && action !== 'list' && action !== 'status') throw new UsageError(`unknown leases action: ${action} (list or status NAME)`);
      if (action === 'status' && name === undefined) throw new UsageError('leases status needs a NAME');
      if (action !== 'status' && name !== undefined) throw new UsageError(`leases list takes no NAME (got ${name}): use --prefix, or leases status NAME`);
      if (action === 'status' && options.prefix !== undefined) throw new UsageError('--prefix applies to leases list, not to leases status NAME');
      // A name or prefix the store refuses, before the open (and its close's checkpoint): leases.list checks a prefix as a name.
      if (action === 'status') checkName(name);
      else if (options.prefix !== undefined && options.prefix !== '') checkName(options.prefix);
      // Text and JSON render this one object: the same expiry filter (only live holders) applies to both.
      const result = await withStore(dir, async (store) => action === 'status'
        ? { name, holder: (await store.leases.get(name!)) ?? null }
        : { leases: await store.leases.list({ prefix: options.prefix }) });
      emit(options, { title: action === 'status' ? `lease ${name!}` : 'leases', data: result });
    });

  program.command('watch <dir>').description('changes after --since (default 0) in version order, one per line; --follow keeps waiting')
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--since <version>', 'changes after this version (past the newest: only with --follow)', versionOption('--since'))
    .option('--follow', 'keep waiting for new commits (only this process can write while it holds the store)')
    .option('--json', 'print one JSON object per line')
    .action(async (dir: string, options: JsonOption & { prefix?: string; since?: number; follow?: boolean }) => {
      // Binary keys, as dump: every key prints (a UTF-8 one as its string, another as {"$bytes": hex}) instead of
      // the feed stopping at the first key that is not UTF-8.
      // --follow ends on SIGINT or SIGTERM (Ctrl-C) through the feed's signal, so the store is closed and its lock
      // released; without this the process died holding the lock (a holder in another PID namespace counts as live
      // until its heartbeat is 60 s old).
      // So does a reader gone while the feed waits (`--follow | head -1`, idle store): found without a write (stdout-reader.ts).
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      let changes = 0;
      // Without --follow a signal cuts the output short: reported as the other commands' (interrupt.ts), exit 130/143.
      if (options.follow === true) for (const name of ['SIGINT', 'SIGTERM'] as const) process.once(name, onSignal);
      else onInterrupt(interruptible(() => `watch stopped after ${changes} changes (its output is incomplete); the store, only read, is closed, its lock released`), onSignal);
      const stopWatchingReader = watchStdoutReader(() => {
        stdoutReaderGone();
        stop.abort();
      });
      await withStore(dir, async (store) => {
        // Past the newest version: nothing can come without --follow (it exited 0, silent); --follow waits, as store.watch does.
        const since = options.follow === true ? options.since : versionWithin('--since', options.since, store.version);
        // The largest catch-up batch: each is a pass over the whole history (1M keys: 19 passes, 256 s; 300 at the default, about 53 min).
        const feed = store.watch({
          ...prefixRange(options.prefix), sinceVersion: since ?? 0, untilVersion: options.follow === true ? undefined : store.version, signal: stop.signal,
          catchUpBatchChanges: WATCH_CATCH_UP_BATCH_CHANGES_MAX,
        });
        const turn = signalTurns(); // as dump's
        for await (const change of feed) {
          const key = keyJsonForm(change.key);
          const line = options.json === true
            ? JSON.stringify({ version: change.version, key, deleted: change.deleted, value: change.deleted ? null : jsonForm(change.value) })
            : `${change.version} ${change.deleted ? 'delete' : 'put'} ${keyText(key)}${change.deleted ? '' : ` ${valueText(change.value)}`}`;
          await writeOut(`${line}\n`, stop.signal);
          changes++;
          await turn();
        }
      }, false, 'binary').catch((error: unknown) => {
        if (!stop.signal.aborted || error !== stop.signal.reason) throw error;
      }).finally(() => {
        stopWatchingReader();
        for (const name of ['SIGINT', 'SIGTERM'] as const) process.off(name, onSignal);
      });
    });

  program.command('backup <dir> <target>').description('copy the store, as of one version, into an empty or new target directory (writes may continue)')
    .option('--json', 'print JSON')
    .option('--copy', 'copy the runs even where a hard link would do (the backup then shares no bytes with the store)')
    .action(async (dir: string, target: string, options: JsonOption & { copy?: boolean }) => {
      const into = await targetDirectory(target, 'backup');
      const progress = createProgress('backup', 'runs');
      const signal = interruptible(() => `backup stopped: what it had made in ${into} was removed; the store is closed, its lock released`);
      const onProgress = (step: { filesDone: number; filesTotal: number }): void => progress.update(step.filesDone, step.filesTotal);
      // A failed backup removes what it created itself (src/backup/backup-undo.ts).
      const result = await withStore(dir, async (store) => {
        const taken = await store.backup(into, { onProgress, link: options.copy !== true, signal });
        interruptState(() => `backup stopped after it finished: version ${taken.version} in ${taken.directory}; the store is closed, its lock released`);
        return taken;
      }).finally(progress.stop);
      signal.throwIfAborted();
      emit(options, { title: `backup of version ${result.version} in ${result.directory}`, data: result });
    });

  program.command('restore <backup> <dir>').description('check a backup and restore it into an empty or new directory; a damaged run block parity '
    + 'rebuilds is rebuilt in the restored copy and reported (the backup is not changed); damage beyond parity is refused (exit 1), nothing written')
    .option('--json', 'print JSON')
    .action(async (backup: string, dir: string, options: JsonOption) => {
      const from = await requireBackupDirectory(backup);
      const into = await targetDirectory(dir, 'restore');
      const progress = createProgress('restore', 'files');
      const signal = interruptible(() => `restore stopped: what it had written into ${into} was removed; the backup is unchanged`);
      const result = await restoreStoreBackup(from, into, { onProgress: (step) => progress.update(step.filesDone, step.filesTotal), signal })
        .finally(progress.stop);
      interruptState(() => `restore stopped after it finished: version ${result.version} in ${result.directory}; the backup is unchanged`);
      signal.throwIfAborted();
      const rebuilt = result.repaired.length === 0 ? '' : `, ${result.repaired.length} damaged blocks of the backup rebuilt from parity`;
      emit(options, { title: `restored version ${result.version} into ${result.directory}${rebuilt}`, data: result });
    });

  program.command('bench').description('run the benchmark against the peers (npm run bench; --help for its options)')
    .argument('[arguments...]').allowUnknownOption().allowExcessArguments().helpOption(false)
    .action((forwarded: string[]) => runScript('../../bench/main.js', forwarded,
      'the benchmark is not part of the installed package: run it from a clone of the repository (npm ci && npm run bench)'));

  program.command('crash-test').description('kill writer processes mid-write and verify recovery (npm run crash-test; --help for its options)')
    .argument('[arguments...]').allowUnknownOption().allowExcessArguments().helpOption(false)
    .action((forwarded: string[]) => runScript('../harness/crash-test-main.js', forwarded, 'the crash-test harness is missing from this build'));

  // Before the command's store opens: debug mode is read as the store works (src/util/debug.ts reads LADYBUG_DEBUG itself).
  program.option('--debug', 'debug mode: lock-order and full consistency checks, slower (as LADYBUG_DEBUG=1)')
    .hook('preAction', () => { if (program.opts<{ debug?: boolean }>().debug === true) enableDebug(); });
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  guardStdout();
  printWarningsAsLines();
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    if (reportInterruption(printableJson)) return;
    const failed = stdoutFailure();
    if (failed !== undefined) throw failed;
  } catch (error) {
    // The work stopped for a signal (interrupt.ts): whatever error it ended with, the line says what state it left.
    if (reportInterruption(printableJson)) return;
    if (error instanceof OutputClosedError) {
      if (error.readerGone) return; // `| head`: the reader stopped; the status stays what the command set
      process.stderr.write(`ladybug: ${printableJson(error.message)}\n`);
      process.exitCode = EXIT_FAILURE;
      return;
    }
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`ladybug: ${printableJson(error.message)}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    if (isLadybugError(error)) {
      process.stderr.write(`ladybug: ${printableJson(error.message)} [${error.code}]\n`);
      process.exitCode = isArgumentError(error) ? EXIT_USAGE : EXIT_FAILURE;
      return;
    }
    process.stderr.write(`ladybug: ${printableJson(error instanceof Error ? error.message : String(error))}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}

await main(process.argv.slice(2));
