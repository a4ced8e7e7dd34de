// A seeded xorshift32 generator for the child-process drivers written in plain JavaScript
// (zlib-terminate-child.mjs, churn-child.mjs), which run under node without the
// TypeScript helpers of test/support. A seed of 0 counts as 1 (xorshift's fixed point).

/** Returns next(): a number in [0, 1), the same sequence for the same seed. */
export function xorshift32(seedValue) {
  let seed = Number(seedValue) >>> 0 || 1;
  return function next() {
    seed ^= seed << 13; seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5; seed >>>= 0;
    return seed / 2 ** 32;
  };
}
