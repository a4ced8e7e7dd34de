/**
 * xxHash64 checksums (xxhash-wasm). The WebAssembly module loads asynchronously,
 * once per process; `loadHash64()` resolves to the hashing function every format
 * module takes as a parameter, so nothing hashes before it is ready.
 *
 * An input over HASH_CHUNK_BYTES (a large batch's WAL record, a block holding a
 * large value) is hashed in chunks of that size with the streaming hasher, the same
 * digest: the one-shot h64Raw copies its whole input into the WebAssembly memory,
 * which never shrinks, so one 40 MiB record kept 40 MiB of the process for good,
 * outside the memory budget and every stats() figure.
 */
import xxhash from 'xxhash-wasm';
import type { Hash64 } from '../wal/wal-format.js';

/** Largest input hashed in one piece (the WebAssembly memory grows to about this). */
export const HASH_CHUNK_BYTES = 1024 * 1024;

let loading: Promise<Hash64> | undefined;

export function loadHash64(): Promise<Hash64> {
  loading ??= xxhash().then((api) => (bytes: Uint8Array) => {
    if (bytes.length <= HASH_CHUNK_BYTES) return api.h64Raw(bytes);
    const hasher = api.create64();
    for (let offset = 0; offset < bytes.length; offset += HASH_CHUNK_BYTES) hasher.update(bytes.subarray(offset, offset + HASH_CHUNK_BYTES));
    return hasher.digest();
  });
  return loading;
}
