/**
 * The crash-test harness's claim on its store directory (crash-test.ts): it runs only
 * on a store of its own, marked with a file beside wal/ and runs/ (docs/FORMAT.md,
 * "Files"), because it writes, overwrites and deletes its own keys there and reports
 * every other key as a problem.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidOptionError } from '../errors.js';

/** The file that marks a directory as a store this harness made (at its top, beside wal/ and runs/). */
export const CRASH_TEST_MARKER = 'CRASH-TEST';

/**
 * Makes sure the harness runs only on a store of its own: it writes its keys into the
 * store, deletes and overwrites them, and reports every other key as a problem. A new
 * or empty directory is created and marked (CRASH_TEST_MARKER: temporary name, fsync,
 * rename, directory fsync); a marked one is taken over (a later run on a kept store);
 * any other (an application's store, a directory of other files) is refused with
 * InvalidOptionError before anything in it is opened or written.
 */
export function claimDirectory(directory: string): void {
  if (existsSync(directory) && !statSync(directory).isDirectory()) {
    throw new InvalidOptionError('directory', `${directory} is not a directory`);
  }
  // A marker's temporary alone is a marking a crash cut short: the directory is still empty.
  const entries = existsSync(directory) ? readdirSync(directory).filter((name) => name !== `${CRASH_TEST_MARKER}.tmp`) : [];
  if (entries.includes(CRASH_TEST_MARKER)) return;
  if (entries.length > 0) {
    throw new InvalidOptionError('directory', `${directory} is not empty and is not a store an earlier crash-test made (no ${CRASH_TEST_MARKER} file in it): `
      + 'the harness writes, overwrites and deletes its own keys in the store it runs on, so it runs only on a new or empty directory or on a store it made');
  }
  mkdirSync(directory, { recursive: true });
  const temporary = join(directory, `${CRASH_TEST_MARKER}.tmp`);
  const descriptor = openSync(temporary, 'w');
  try {
    writeSync(descriptor, 'a store made by ladybug crash-test: its keys are the harness\'s own\n');
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
  renameSync(temporary, join(directory, CRASH_TEST_MARKER));
  const directoryDescriptor = openSync(directory, 'r');
  try {
    fsyncSync(directoryDescriptor);
  } finally {
    closeSync(directoryDescriptor);
  }
}
