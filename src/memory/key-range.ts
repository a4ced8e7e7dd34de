/**
 * Key bounds of a scan over the memory index, in internal (byte string) form.
 *
 * A module of its own rather than part of chain-tree.ts: memory-index.ts re-exports it,
 * so it reaches the published declaration files, and chain-tree.ts's types name
 * sorted-btree's class through a default import, which a user's compiler resolves
 * differently under nodenext and bundler module resolution
 * (test/level-package-install.test.ts type-checks the packed package under both).
 */
export interface KeyRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
}
