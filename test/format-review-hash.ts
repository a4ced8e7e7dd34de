/**
 * xxHash64 with seed 0 (docs/FORMAT.md, "Conventions"), from the xxhash-wasm package
 * rather than the store's own implementation, for the decoders written from the text.
 */
import xxhash from 'xxhash-wasm';

export type Problems = string[];

let h64: ((input: Uint8Array, seed?: bigint) => bigint) | undefined;

export async function loadHash(): Promise<void> {
  h64 ??= (await xxhash()).h64Raw;
}

export function xxh64(bytes: Uint8Array): bigint {
  if (h64 === undefined) throw new Error('loadHash() first');
  return h64(bytes, 0n);
}
