/**
 * New-user review (installed tarball, tsc --strict): types a user meets in the public
 * API could not be imported, so a wrapper could not name them. compact()'s options and
 * result (CompactOptions, StoreCompactionResult, its onProgress CompactionProgress),
 * checkpoint()'s CheckpointResult, the parts of stats() (SinceOpenStats, LifetimeStats,
 * EngineStats, CompactionStats, ManifestRecovery, CompactionPolicyName), StoreOptions'
 * SyncMode, the readSeconds keys of metrics() (ReadSource), restoreBackup()'s
 * RestoreRepair, and the error fields' types (InvalidKeyReason, ConflictRange,
 * LockViolationKind, ErrorCodeValue) were declared in the package's .d.ts files but
 * not exported from 'ladybug-store'.
 *
 * The check walks, with the TypeScript checker, every type reachable from what the
 * entry point exports (properties, call parameters and results, type arguments),
 * starting from openStore()'s Store, the backup functions and the error classes, and
 * asserts that every named type declared in src/ it meets is exported. Left out on
 * purpose: Store's constructor (a Store comes from openStore) and symbol-keyed members,
 * and LeaseManager's entry points for the store's own write path (fence, write).
 */
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const source = join(root, 'src');
/** Members that are public in the class for the store's own use, not API. */
const INTERNAL_MEMBERS = new Set(['LeaseManager.fence', 'LeaseManager.write']);

function unexportedTypes(): string[] {
  const entry = join(source, 'index.ts');
  const program = ts.createProgram([entry], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true });
  const checker = program.getTypeChecker();
  const exported = new Set<ts.Symbol>();
  for (const symbol of checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!)) {
    exported.add(symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);
  }
  const ours = (symbol: ts.Symbol) => (symbol.declarations ?? []).some((declaration) => declaration.getSourceFile().fileName.startsWith(source));
  const seen = new Set<ts.Type>();
  const missing = new Map<string, string>();
  const anonymous = ts.SymbolFlags.TypeLiteral | ts.SymbolFlags.ObjectLiteral | ts.SymbolFlags.Method | ts.SymbolFlags.Function | ts.SymbolFlags.Property | ts.SymbolFlags.TypeParameter;
  const visit = (type: ts.Type, via: string, depth: number): void => {
    if (depth > 10 || seen.has(type)) return;
    seen.add(type);
    const symbol = type.aliasSymbol ?? type.getSymbol();
    if (symbol !== undefined && ours(symbol) && (symbol.flags & anonymous) === 0 && !exported.has(symbol) && !symbol.getName().startsWith('__')) {
      if (!missing.has(symbol.getName())) missing.set(symbol.getName(), via);
    }
    for (const argument of type.aliasTypeArguments ?? []) visit(argument, via, depth + 1);
    if (type.isUnionOrIntersection()) for (const member of type.types) visit(member, via, depth + 1);
    if ((type.flags & ts.TypeFlags.Object) === 0) return;
    if (((type as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) !== 0) {
      for (const argument of checker.getTypeArguments(type as ts.TypeReference)) visit(argument, via, depth + 1);
    }
    if (symbol !== undefined && !ours(symbol)) return; // a library's or the platform's type: not walked into
    const owner = symbol?.getName() ?? '';
    for (const property of checker.getPropertiesOfType(type)) {
      const name = property.getName();
      if (name.startsWith('__@') || name.startsWith('#') || INTERNAL_MEMBERS.has(`${owner}.${name}`)) continue;
      const declaration = property.valueDeclaration ?? property.declarations?.[0];
      if (declaration !== undefined && (ts.getCombinedModifierFlags(declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0) continue;
      visit(checker.getTypeOfSymbol(property), `${via}.${name}`, depth + 1);
    }
    for (const signature of checker.getSignaturesOfType(type, ts.SignatureKind.Call)) {
      for (const parameter of signature.getParameters()) visit(checker.getTypeOfSymbol(parameter), `${via}(${parameter.getName()})`, depth + 1);
      visit(signature.getReturnType(), `${via}()`, depth + 1);
    }
    for (const index of checker.getIndexInfosOfType(type)) visit(index.type, `${via}[]`, depth + 1);
  };
  for (const symbol of exported) {
    if (symbol.flags & ts.SymbolFlags.Class) visit(checker.getDeclaredTypeOfSymbol(symbol), symbol.getName(), 0); // instances; not the constructor
    else if (symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) visit(checker.getDeclaredTypeOfSymbol(symbol), symbol.getName(), 0);
    else visit(checker.getTypeOfSymbol(symbol), symbol.getName(), 0);
  }
  return [...missing].map(([name, via]) => `${name} (via ${via})`).sort();
}

describe('user review: the public API names only types a user can import', () => {
  it('every named type reachable from the entry point is exported from it', () => {
    expect(unexportedTypes()).toEqual([]);
  }, 60_000);
});
