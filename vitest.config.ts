import { defineConfig } from 'vitest/config';

// Every test run enables debug mode: the lock-order checker and the expensive
// consistency assertions are on (see src/debug.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    env: { LADYBUG_DEBUG: '1' },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
