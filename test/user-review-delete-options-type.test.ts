/**
 * New-user review (installed tarball, tsc --strict): store.delete()'s options were typed
 * as put's (WriteOptions, with `lease`), so `store.delete(key, { lease })` compiled and
 * then rejected at run time with InvalidOptionError ('delete takes no lease', as the
 * README says). The type now leaves `lease` out, so the compiler refuses what the store
 * refuses; `fence` still type-checks. Checked with the TypeScript checker on a consumer
 * snippet against src/index.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterAll(() => removeTemporaryDirectories());

const entry = join(import.meta.dirname, '..', 'src', 'index.js');

function diagnostics(body: string): string[] {
  const directory = temporaryDirectory('ladybug-delete-type-');
  const file = join(directory, 'usage.ts');
  writeFileSync(file, `import type { Store, LeaseReference } from ${JSON.stringify(entry)};\ndeclare const store: Store;\ndeclare const lease: LeaseReference;\n${body}\n`);
  const program = ts.createProgram([file], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true, types: [] });
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
}

describe('user review: the type of store.delete() options matches what it accepts', () => {
  it('lease is a type error on delete; fence is not; put keeps both', () => {
    expect(diagnostics(`void store.delete('k', { lease });`).join('\n')).toMatch(/lease/);
    expect(diagnostics(`void store.delete('k', { fence: lease });\nvoid store.put('k', 1, { lease, fence: lease });\nvoid store.batch([], { lease });`)).toEqual([]);
  }, 60_000);
});
