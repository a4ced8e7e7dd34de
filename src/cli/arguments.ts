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
import { ErrorCode, InvalidOptionError } from '../errors.js';
import { SCRUB_BYTES_PER_SECOND_MAX } from '../stripe/scrub.js';
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

/** The absolute path of the store at `directory`, or a usage error when there is none. */
export function requireStore(directory: string): string {
  const absolute = resolve(directory);
  // A manifest copy without wal/ is a damaged store (the commands report it, exit 1), not a missing one.
  if (!existsSync(join(absolute, 'wal')) && !holdsManifestCopy(absolute)) throw new UsageError(`no ladybug store at ${absolute}`);
  return absolute;
}

function holdsManifestCopy(directory: string): boolean {
  try {
    return readdirSync(join(directory, 'manifest')).some((name) => /^MANIFEST-\d+\.[ab]$/.test(name));
  } catch {
    return false;
  }
}

/** The absolute path of an existing backup directory, or a usage error (missing, or a file). */
export function requireBackupDirectory(directory: string): string {
  const absolute = resolve(directory);
  if (!existsSync(absolute)) throw new UsageError(`no backup at ${absolute}`);
  if (!statSync(absolute).isDirectory()) throw new UsageError(`${absolute} is a file, not a backup directory`);
  return absolute;
}

/** The absolute path of a directory to write into: missing (it is created) or a directory, never a file. */
export function targetDirectory(directory: string): string {
  const absolute = resolve(directory);
  if (existsSync(absolute) && !statSync(absolute).isDirectory()) throw new UsageError(`${absolute} is a file, not a directory`);
  return absolute;
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
