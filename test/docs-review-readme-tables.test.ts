/**
 * The README's option table (Options) and error-code tables (Errors; Leases, fenced writes
 * and the change feed) are the reference users read; the code's lists are
 * src/store/options.ts (KNOWN_OPTIONS, resolveOptions) and src/error-codes.ts (ErrorCode).
 * This check parses the tables and holds them to the code:
 * - options: the same names; each default the table gives as a value is what
 *   resolveOptions({}) resolves; each range the table gives ("A to B", "A or more",
 *   a boolean, a list of quoted strings) is accepted at its ends and refused just past
 *   them (InvalidOptionError naming the option);
 * - error codes: every ErrorCode has a row and every row a code; the class a row names is
 *   exported by the package, its instances carry that code, and it extends what the row
 *   says (TypeError, RangeError, otherwise LadybugError);
 * - dependencies (Dependencies, and why): a row for every runtime dependency of
 *   package.json and no other, each imported under src/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';
import { ErrorCode, InvalidOptionError, LadybugError } from '../src/errors.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { resolveOptions } from '../src/store/options.js';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The rows of the markdown table whose header line is `header`, as trimmed cells (a `\|` stays inside its cell). */
function tableRows(header: string): string[][] {
  const lines = readme.split('\n');
  const start = lines.indexOf(header);
  expect(start, `README has a table headed ${header}`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.replaceAll('\\|', '\u0000').split('|').slice(1, -1).map((cell) => cell.trim().replaceAll('\u0000', '|')));
  }
  return rows;
}

const UNITS: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** "16 MiB" -> 16777216, "60,000" -> 60000, "32 MiB/s" -> 33554432; undefined when the text is not a number. */
function quantity(text: string): number | undefined {
  const match = /^([\d,]+)(?: ([KMG]iB)(?:\/s)?)?$/.exec(text.trim());
  if (match === null) return undefined;
  return Number((match[1] as string).replaceAll(',', '')) * (match[2] === undefined ? 1 : UNITS[match[2]] as number);
}

/** The cell without its parenthesised remarks. */
function withoutRemarks(cell: string): string {
  return cell.replace(/\s*\([^()]*\)/g, '').trim();
}

function knownOptions(): string[] {
  const source = readFileSync(join(root, 'src/store/options.ts'), 'utf8');
  const list = /const KNOWN_OPTIONS = new Set\(\[([^\]]*)\]\)/.exec(source);
  expect(list).not.toBeNull();
  return [...(list?.[1] as string).matchAll(/'([A-Za-z]+)'/g)].map((match) => match[1] as string).sort();
}

function refusal(options: Record<string, unknown>): unknown {
  try {
    resolveOptions(options);
    return undefined;
  } catch (error) {
    return error;
  }
}

function expectRefused(name: string, value: unknown): void {
  const error = refusal({ [name]: value });
  expect(error, `${name}: ${String(value)} is refused`).toBeInstanceOf(InvalidOptionError);
  expect((error as InvalidOptionError).option).toBe(name);
}

function expectAccepted(name: string, value: unknown): void {
  expect(refusal({ [name]: value }), `${name}: ${String(value)} is accepted`).toBeUndefined();
}

describe("the README's option table is the code's", () => {
  const rows = tableRows('| option | default | accepted | meaning |');
  const byName = new Map(rows.map((cells) => [(cells[0] as string).replaceAll('`', ''), cells]));

  it('names every option openStore takes, and no other', () => {
    expect([...byName.keys()].sort()).toEqual(knownOptions());
    expectRefused('notAnOption', 1);
  });

  it('gives the defaults resolveOptions resolves', () => {
    const resolved = resolveOptions({}) as unknown as Record<string, unknown>;
    let checked = 0;
    for (const [name, cells] of byName) {
      const text = withoutRemarks(cells[1] as string);
      if (name === 'syncMode') continue; // held inside the default file system; its default is in options.ts's oneOf call
      let expected: unknown;
      if (text === '`Infinity`') expected = Infinity;
      else if (text === '`true`') expected = true;
      else if (text === '`false`') expected = false;
      else if (/^`'[a-z0-9]+'`$/.test(text)) expected = text.slice(2, -2);
      else if (text === 'none') expected = undefined;
      else if (text === 'off') expected = name === 'scrubIntervalMs' ? undefined : 0;
      else if (text === 'the real one') {
        expect(resolved[name]).toBeInstanceOf(NodeFileSystem);
        checked++;
        continue;
      } else {
        expected = quantity(text);
        expect(expected, `${name}: the default "${cells[1]}" is understood`).not.toBeUndefined();
      }
      expect(resolved[name], `${name}: default "${cells[1]}"`).toBe(expected);
      checked++;
    }
    expect(checked).toBe(byName.size - 1);
  });

  it('gives the ranges resolveOptions accepts', () => {
    let checked = 0;
    for (const [name, cells] of byName) {
      const text = withoutRemarks(cells[2] as string);
      if (text === 'boolean') {
        expectAccepted(name, true);
        expectAccepted(name, false);
        expectRefused(name, 1);
        checked++;
        continue;
      }
      if (/^`'/.test(text)) {
        for (const match of text.matchAll(/`'([a-z0-9]+)'`/g)) expectAccepted(name, match[1]);
        expectRefused(name, 'none-of-these');
        checked++;
        continue;
      }
      const range = /^([\d,]+(?: [KMG]iB)?) (?:to ([\d,]+(?: [KMG]iB)?)|or more)(?:,|$)/.exec(text);
      if (range === null) continue;
      const low = quantity(range[1] as string) as number;
      expectAccepted(name, low);
      expectRefused(name, low - 1);
      if (range[2] !== undefined) {
        const high = quantity(range[2]) as number;
        expectAccepted(name, high);
        expectRefused(name, high + 1);
      }
      expectRefused(name, low + 0.5);
      if (text.includes('or `Infinity`')) expectAccepted(name, Infinity);
      else expectRefused(name, Infinity);
      checked++;
    }
    // Every option but authorize and fileSystem, whose cells name a kind of object.
    expect(checked).toBe(byName.size - 2);
  });
});

describe("the README's error-code tables are the code's", () => {
  const rows = [...tableRows('| code | class | when |'), ...tableRows('| code | error | when |')];
  const exported = api as unknown as Record<string, unknown>;

  /** An instance of `Class`, built with whichever of a few argument lists its constructor takes. */
  function instance(Class: new (...args: unknown[]) => Error): Error {
    const argumentLists: unknown[][] = [['what', 'detail', 'more', 1, 2, 3], [[], [], 1, 1], ['/file', 1, 1, [0], [1], 'detail']];
    for (const argumentList of argumentLists) {
      try {
        return new Class(...argumentList);
      } catch {
        // the next list
      }
    }
    throw new Error(`cannot build a ${Class.name}`);
  }

  it('documents every code, and only codes that exist', () => {
    const documented = new Set(rows.map((cells) => (cells[0] as string).replaceAll('`', '')));
    expect([...documented].sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it('names for each code an exported class whose errors carry it, of the kind the row says', () => {
    for (const [codeCell, classCell] of rows) {
      const code = (codeCell as string).replaceAll('`', '');
      const name = /^`([A-Za-z]+)`/.exec(classCell as string)?.[1] as string;
      const Class = exported[name];
      expect(typeof Class, `${name} is exported`).toBe('function');
      const error = instance(Class as new (...args: unknown[]) => Error);
      expect(error.name).toBe(name);
      expect((error as Error & { code: string }).code, `${name}'s code`).toBe(code);
      const kind = /\((TypeError|RangeError)\b/.exec(classCell as string)?.[1];
      if (kind === 'TypeError') expect(error).toBeInstanceOf(TypeError);
      else if (kind === 'RangeError') expect(error).toBeInstanceOf(RangeError);
      else expect(error).toBeInstanceOf(LadybugError);
    }
  });
});

describe("the README's dependency table is package.json's", () => {
  it('has a row for every runtime dependency, and each is imported by the package', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const documented = tableRows('| package | why |').map((cells) => cells[0] as string).sort();
    expect(documented).toEqual(Object.keys(manifest.dependencies).sort());
    const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((path) => path.endsWith('.ts'))
      .map((path) => readFileSync(join(root, 'src', path), 'utf8'))
      .join('\n');
    for (const name of documented) expect(sources, `${name} is imported under src/`).toMatch(new RegExp(`from '${name}(/[^']*)?'`));
  });
});
