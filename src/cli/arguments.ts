/**
 * The `ladybug` command's arguments: numbers, directories, and the exit statuses
 * (README, "The `ladybug` command"). A bad argument or a missing store is a usage
 * error, exit 2, told in one line before or instead of the work; a failure of the
 * work (a locked store, corruption, an I/O error) exits 1.
 */
import { Buffer } from 'node:buffer';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { internalKey } from '../codec/keys.js';
import { BackupError, ErrorCode, InvalidOptionError } from '../errors.js';
import { SCRUB_BYTES_PER_SECOND_MAX } from '../stripe/scrub.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import { refuseBackupDirectory } from '../store/open-store.js';
import { backupMarkIn } from '../backup/backup-marks.js';
import { BACKUP_MANIFEST_NAME } from '../backup/backup-manifest.js';
import { keyJsonForm } from './output.js';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** `verify <backup>`: the backup is damaged, but restore rebuilds the damage from parity and restores it exactly. */
export const EXIT_DAMAGED_RESTORABLE = 3;

/** A bad argument: one line on stderr, exit 2. */
export class UsageError extends Error {}

/**
 * Errors of the store that can only come from what the command line passed it (a key,
 * an option value such as --max-versions-per-key 0 or a backup target inside the store):
 * bad arguments, exit 2, as the checks made here before the store is opened.
 */
const ARGUMENT_ERROR_CODES: ReadonlySet<string> = new Set([ErrorCode.InvalidKey, ErrorCode.InvalidOption]);

export function isArgumentError(error: unknown): boolean {
  return error instanceof Error && ARGUMENT_ERROR_CODES.has((error as { code?: unknown }).code as string);
}

/**
 * The one grammar of the integer options: decimal digits only (no sign, blank, fraction,
 * exponent, hex, '_' or trailing text: '', ' 16', '1.5', '-1', '0x10', '1e3', '16abc' are
 * refused; Number('') is 0 and Number('0x10') 16), a safe integer, at least `min`. A refusal
 * is InvalidOptionError naming the flag (exit 2, LADYBUG_INVALID_OPTION), thrown while the
 * arguments are parsed, before any store is opened.
 */
function integerOption(flag: string, text: string, what: string, min = 0): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value)) throw new InvalidOptionError(flag, `not ${what}: ${JSON.stringify(text)} (decimal digits only)`);
  if (value < min) throw new InvalidOptionError(flag, `not ${what}: ${JSON.stringify(text)}`);
  return value;
}

/**
 * A key given as the hex of its bytes (`--hex`), the form dump prints a key whose bytes are
 * not UTF-8 in ({"$bytes": "<hex>"}), so every key dump shows can be read back by get,
 * history and dump's bounds. An odd length or a character that is no hex digit is a usage
 * error: Buffer.from(text, 'hex') would stop at it and address a shorter key.
 */
export function hexKey(text: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(text)) throw new UsageError(`not a key in hex (--hex): ${JSON.stringify(text)}`);
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

/** A commander parser of a version number given with `flag`. */
export function versionOption(flag: string): (text: string) => number {
  return (text) => integerOption(flag, text, 'a version number');
}

/** A commander parser of a count given with `flag`. */
export function countOption(flag: string): (text: string) => number {
  return (text) => integerOption(flag, text, 'a count');
}

/**
 * A commander parser of a positive rate up to the scrub's limit, in the same grammar (store.scrub()
 * refused one past the limit only after the open, whose close had checkpointed the WAL: a refused
 * argument rewrote files).
 */
export function rateOption(flag: string): (text: string) => number {
  return (text) => {
    const value = integerOption(flag, text, 'a positive rate', 1);
    if (value > SCRUB_BYTES_PER_SECOND_MAX) throw new InvalidOptionError(flag, `${text} is past the scrub's limit, ${SCRUB_BYTES_PER_SECOND_MAX} bytes per second`);
    return value;
  };
}

/** What to give instead of a path that holds no store. */
const STORE_DIRECTORY_HINT = 'give the directory the store was created in (the path given to openStore), which holds wal/ and manifest/';

/**
 * The absolute path of the store at `directory`, or a usage error when there is none, saying
 * which of missing, a file, or a directory without a store's files the path is.
 */
export function requireStore(directory: string): string {
  const absolute = resolve(directory);
  if (holdsStore(absolute)) return absolute;
  const found = !existsSync(absolute) ? 'no such file or directory' : isDirectory(absolute) ? 'the directory holds no wal/ or manifest/' : 'it is a file';
  throw new UsageError(`no ladybug store at ${absolute}: ${found}; ${STORE_DIRECTORY_HINT}`);
}

/**
 * The absolute path of the store at `directory`, refused first, as the store's open refuses it,
 * when it is a backup directory (LADYBUG_BACKUP 'not-a-store', exit 1): one with BACKUP.json, or
 * only a mark of a backup or restore cut short (BACKUP-INCOMPLETE, or an earlier release's
 * BACKUP-INCOMPLETE.tmp beside no store: src/backup/backup-marks.ts decides), which has no wal/
 * and was told "no ladybug store" (exit 2) while the open, README and verify took it for a backup.
 */
export async function storeDirectory(directory: string): Promise<string> {
  const absolute = resolve(directory);
  if (isDirectory(absolute)) await refuseBackupDirectory(new NodeFileSystem(), absolute);
  return requireStore(absolute);
}

/** Whether `path` is a directory (false when it is missing or a file). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // missing, or a file on the way (ENOTDIR)
  }
}

/** Whether `directory` holds a store: wal/, or a manifest copy without it (a damaged store the commands report, exit 1, not a missing one). */
function holdsStore(directory: string): boolean {
  return existsSync(join(directory, 'wal')) || holdsManifestCopy(directory);
}

function holdsManifestCopy(directory: string): boolean {
  try {
    return readdirSync(join(directory, 'manifest')).some((name) => /^MANIFEST-\d+\.[ab]$/.test(name));
  } catch {
    return false;
  }
}

/**
 * The absolute path of an existing backup directory, or a usage error (missing, or a file). A
 * directory with no backup's mark (backup-marks.ts) is refused as restore refuses it, "backup
 * incomplete" (LADYBUG_BACKUP, exit 1), but saying what it is: a store given for its backup, or
 * an empty directory (the arguments swapped), not a backup that crashed there.
 */
export async function requireBackupDirectory(directory: string): Promise<string> {
  const absolute = resolve(directory);
  if (!existsSync(absolute)) throw new UsageError(`no backup at ${absolute}`);
  if (!statSync(absolute).isDirectory()) throw new UsageError(`${absolute} is a file, not a backup directory`);
  if (await backupMarkIn(new NodeFileSystem(), absolute) !== undefined) return absolute;
  if (holdsStore(absolute)) {
    throw new BackupError('incomplete', absolute, 'no BACKUP.json: this is a ladybug store, not a backup of one: '
      + `take a backup of it with \`ladybug backup ${absolute} <target>\` and restore that`);
  }
  if (readdirSync(absolute).length === 0) {
    throw new BackupError('incomplete', absolute, 'no BACKUP.json: an empty directory, not a backup: give the directory `ladybug backup` wrote first');
  }
  return absolute; // anything else: restore says what it finds (a directory of other files, no BACKUP.json)
}

/**
 * The absolute path of a directory to write into: missing (it is created) or a directory, never a
 * file. One holding the mark a killed backup or restore left (backup-marks.ts) is refused as
 * any other non-empty target is (LADYBUG_BACKUP target-not-empty, exit 1), saying it is that
 * leftover and that deleting it is the way on, before the store is opened.
 */
export async function targetDirectory(directory: string, command: 'backup' | 'restore'): Promise<string> {
  const absolute = resolve(directory);
  if (existsSync(absolute) && !statSync(absolute).isDirectory()) throw new UsageError(`${absolute} is a file, not a directory`);
  if (!isDirectory(absolute)) return absolute;
  const mark = await backupMarkIn(new NodeFileSystem(), absolute);
  if (mark === undefined || mark === BACKUP_MANIFEST_NAME) return absolute;
  throw new BackupError('target-not-empty', absolute, `the ${command} target must be missing or empty; `
    + `it holds ${mark}, left by a backup or restore cut short: delete ${absolute} and run the ${command} again`);
}

/**
 * A version given with `flag` that the store has reached. One past it is a usage error: for
 * --as-of rather than the API's "option asOf" error; for --retain-from rather than a floor
 * silently capped at the newest version, which drops every older version of every key
 * (a mistyped 999 for 99 would have cost the store its history).
 */
export function versionWithin(flag: string, version: number | undefined, storeVersion: number): number | undefined {
  if (version !== undefined && version > storeVersion) throw new UsageError(`${flag} ${version} is past the store's newest version, ${storeVersion}`);
  return version;
}

export interface HexOption {
  hex?: boolean;
}

export const HEX_KEY_HELP = '<key> is the key\'s bytes in hex (the form dump prints a key that is not UTF-8 in: {"$bytes": "<hex>"})';

/**
 * The key a command addresses, and the form it prints it in (as dump does: a string, or {"$bytes": hex}).
 * A key the store refuses (empty, over its length limit) is its InvalidKeyError here, before the
 * store is opened: refused by the read, it came after the open and the close's checkpoint.
 */
export function keyArgument(text: string, options: HexOption): { key: string | Uint8Array; keyForm: unknown } {
  const key = options.hex === true ? hexKey(text) : text;
  internalKey(key);
  return { key, keyForm: typeof key === 'string' ? key : keyJsonForm(key) };
}

export function keyTitle(keyForm: unknown): string {
  return typeof keyForm === 'string' ? keyForm : JSON.stringify(keyForm);
}

/**
 * The keys that start with `prefix`, as byte bounds: from the prefix's UTF-8 bytes up to
 * the next byte string that does not start with them (the last byte below 0xff raised,
 * the 0xff bytes after it dropped; no upper bound when every byte is 0xff). A string
 * bound `prefix + "\uffff"` left out the keys whose next character is U+FFFF or beyond
 * U+FFFF (UTF-8 bytes 0xf0-0xf4) and binary keys whose next byte is 0xf0 or more.
 */
export function prefixRange(prefix: string | undefined): { gte?: Uint8Array; lt?: Uint8Array } {
  if (prefix === undefined || prefix === '') return {};
  const gte = new TextEncoder().encode(prefix);
  let end = gte.length;
  while (end > 0 && gte[end - 1] === 0xff) end--;
  if (end === 0) return { gte };
  const lt = gte.slice(0, end);
  lt[end - 1] = gte[end - 1]! + 1;
  return { gte, lt };
}
