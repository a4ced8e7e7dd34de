/**
 * An unknown option of a lease call is named in a message that reads right for every
 * operation ("is not an option of acquire", where it said "is not a acquire option").
 */
import { describe, expect, it } from 'vitest';
import { useMemoryStores } from './support/memory-stores.js';
import { optionRefusal } from './support/option-refusal.js';

const memoryStore = useMemoryStores();

describe('lease option refusals', () => {
  it('name the option and the operation', async () => {
    const store = await memoryStore();
    const acquire = await optionRefusal(() => store.leases.acquire('job', { ttlMs: 1000, wait: 5 } as never));
    expect(acquire.option).toBe('wait');
    expect(acquire.message).toMatch(/is not an option of acquire \(/);
    const put = await optionRefusal(() => store.put('k', 1, { leases: 'x' } as never));
    expect(put.option).toBe('leases');
    expect(put.message).toMatch(/is not an option of put \(lease, fence\)/);
  });
});
