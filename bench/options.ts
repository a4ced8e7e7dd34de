/**
 * Command-line options (node:util parseArgs):
 *
 *   --quick                 CI smoke profile (1 round, tiny durations)
 *   --only <id,...>         workloads to run; an id or a prefix ("sequential-put")
 *   --engines <id,...>      engines to run; an id or a prefix ("raw")
 *   --dir <path>            parent of the scratch directory (default bench/results/tmp)
 *   --rounds <n>            override the profile's number of rounds
 *   --baseline <id>         engine whose ratio to the others is reported (default ladybug)
 *   --key-order <order>     random (default) or sequential insert order
 *   --ladybug-options <json> extra openStore options, e.g. '{"syncMode":"inline"}'
 *   --help
 */
import { parseArgs } from 'node:util';
import type { KeyOrder } from './data.js';
import type { ProfileName } from './profile.js';

export interface CommandOptions {
  readonly profileName: ProfileName;
  readonly workloadFilter: readonly string[] | undefined;
  readonly engineFilter: readonly string[] | undefined;
  readonly scratchParent: string | undefined;
  readonly rounds: number | undefined;
  readonly baselineEngineId: string;
  readonly keyOrder: KeyOrder | undefined;
  readonly ladybugStoreOptions: Readonly<Record<string, unknown>>;
  readonly help: boolean;
}

export const USAGE = `Usage: node dist/bench/main.js [--quick] [--only <workload,...>] [--engines <engine,...>]
                              [--dir <path>] [--rounds <n>] [--baseline <engine>] [--key-order random|sequential]
                              [--ladybug-options <json>]
Filters take ids or id prefixes, e.g. --only sequential-put,hot-get --engines ladybug,lmdb,raw`;

/** A mistake on the command line: reported as a message plus usage, without a stack. */
export class UsageError extends Error {}

export function parseCommandOptions(argumentList: readonly string[]): CommandOptions {
  try {
    return parseValidated(argumentList);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function parseValidated(argumentList: readonly string[]): CommandOptions {
  const { values } = parseArgs({
    args: [...argumentList],
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      engines: { type: 'string' },
      dir: { type: 'string' },
      rounds: { type: 'string' },
      baseline: { type: 'string', default: 'ladybug' },
      'key-order': { type: 'string' },
      'ladybug-options': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    profileName: values.quick ? 'quick' : 'full',
    workloadFilter: splitList(values.only),
    engineFilter: splitList(values.engines),
    scratchParent: values.dir,
    rounds: parseRounds(values.rounds),
    baselineEngineId: values.baseline,
    keyOrder: parseKeyOrder(values['key-order']),
    ladybugStoreOptions: parseJsonObject('--ladybug-options', values['ladybug-options']),
    help: values.help,
  };
}

function splitList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
}

function parseJsonObject(name: string, value: string | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  const parsed: unknown = JSON.parse(value);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${name} must be a JSON object`);
  return parsed as Record<string, unknown>;
}

function parseKeyOrder(value: string | undefined): KeyOrder | undefined {
  if (value === undefined || value === 'random' || value === 'sequential') return value;
  throw new Error(`--key-order must be random or sequential, got ${value}`);
}

function parseRounds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  // Decimal digits only, as the ladybug CLI's numeric options: Number() took '0x10', '1e1' and ' 3'.
  const rounds = /^[1-9][0-9]{0,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(rounds)) throw new Error(`--rounds must be a positive integer, got ${value}`);
  return rounds;
}

/**
 * Keeps the items whose id matches a filter term exactly or as a prefix
 * followed by "-"; throws on a term that matches nothing.
 */
export function applyFilter<Item extends { readonly id: string }>(
  items: readonly Item[],
  terms: readonly string[] | undefined,
  kind: string,
): Item[] {
  if (terms === undefined) return [...items];
  for (const term of terms) {
    if (!items.some((item) => matches(item.id, term))) {
      throw new UsageError(`unknown ${kind} "${term}"; known: ${items.map((item) => item.id).join(', ')}`);
    }
  }
  return items.filter((item) => terms.some((term) => matches(item.id, term)));
}

function matches(id: string, term: string): boolean {
  return id === term || id.startsWith(`${term}-`);
}
