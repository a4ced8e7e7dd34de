/**
 * xxHash64 checksums (xxhash-wasm). The WebAssembly module loads asynchronously,
 * once per process; `loadHash64()` resolves to the hashing function every format
 * module takes as a parameter, so nothing hashes before it is ready.
 */
import xxhash from 'xxhash-wasm';
import type { Hash64 } from '../wal/wal-format.js';

let loading: Promise<Hash64> | undefined;

export function loadHash64(): Promise<Hash64> {
  loading ??= xxhash().then((api) => (bytes: Uint8Array) => api.h64Raw(bytes));
  return loading;
}
