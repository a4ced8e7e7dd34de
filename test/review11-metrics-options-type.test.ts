/**
 * Outside review (new user, tsc --strict against the installed package): the package
 * exports `MetricsOptions` (`{ format?: 'data' | 'prometheus' }`, the option of
 * `store.metrics()`), but `Store#metrics` declared only two overloads, one for
 * `{ format?: 'data' }` and one for `{ format: 'prometheus' }`, so a value of the
 * exported type itself was refused: a wrapper that forwards its caller's options,
 * `(options: MetricsOptions) => store.metrics(options)`, failed to compile with TS2769
 * "No overload matches this call", though the call works at run time.
 *
 * The check compiles such a wrapper against src/index.ts with the TypeScript checker
 * (strict, NodeNext) and expects no diagnostics, and runs it for both formats.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type MetricsOptions } from '../src/index.js';

const entry = join(import.meta.dirname, '..', 'src', 'index.js');
const directories: string[] = [];

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function scratch(): string {
  const directory = mkdtempSync(join(tmpdir(), 'review11-metrics-'));
  directories.push(directory);
  return directory;
}

function diagnosticsOf(source: string): string[] {
  const file = join(scratch(), 'wrapper.ts');
  writeFileSync(file, source);
  const program = ts.createProgram([file], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true, types: ['node'] });
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('store.metrics() takes the exported MetricsOptions', () => {
  it('type-checks a wrapper that forwards MetricsOptions', () => {
    const source = [
      `import type { MetricsOptions, Store, StoreMetrics } from ${JSON.stringify(entry)};`,
      'export function metricsOf(store: Store, options: MetricsOptions): StoreMetrics | string {',
      '  return store.metrics(options);',
      '}',
      'export function narrowed(store: Store): [StoreMetrics, StoreMetrics, string] {',
      "  return [store.metrics(), store.metrics({ format: 'data' }), store.metrics({ format: 'prometheus' })];",
      '}',
    ].join('\n');
    expect(diagnosticsOf(source)).toEqual([]);
  });

  it('answers a forwarded MetricsOptions in the format it names', async () => {
    const store = await openStore(scratch());
    try {
      await store.put('a', 1);
      const forward = (options: MetricsOptions) => store.metrics(options);
      expect(typeof forward({ format: 'prometheus' })).toBe('string');
      expect(forward({ format: 'data' })).toMatchObject({ commitsTotal: 1 });
      expect(forward({})).toMatchObject({ commitsTotal: 1 });
    } finally {
      await store.close();
    }
  });
});
