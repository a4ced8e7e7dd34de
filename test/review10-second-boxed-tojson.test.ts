/**
 * Review 10, second engineer: af88a76 refused every boxed primitive, also one whose
 * class has a toJSON. msgpackr writes such a value as what toJSON returns (as it does
 * for any class instance with toJSON, and as JSON.stringify does), so it read back
 * exactly that before af88a76 (class Money extends Number { toJSON() { return
 * this.valueOf(); } }: new Money(5) read back as 5). Refusing it broke code that stored
 * such values. Those values are accepted again and read back as toJSON's value; boxed
 * primitives without toJSON (new Number(5), new String('ab')) stay refused.
 */
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

class Money extends Number {
  toJSON(): number {
    return this.valueOf();
  }
}

class Label extends String {
  toJSON(): string {
    return this.toString();
  }
}

class Flag extends Boolean {
  toJSON(): { flag: boolean } {
    return { flag: this.valueOf() };
  }
}

describe('review10 second: boxed primitives with a toJSON are stored as what toJSON returns', () => {
  it('put, batch and transaction accept them, top level and nested, and read back toJSON\'s value', async () => {
    const store = await memoryStore();
    await store.put('money', new Money(5));
    await store.batch([{ type: 'put', key: 'label', value: { name: new Label('ab'), tags: [new Label('x')] } }]);
    await store.transaction(async (transaction) => {
      transaction.put('flag', new Flag(false));
    });
    expect(await store.get('money')).toBe(5);
    expect(await store.get('label')).toEqual({ name: 'ab', tags: ['x'] });
    expect(await store.get('flag')).toEqual({ flag: false });
  });

  it('what toJSON returns is checked like any value', async () => {
    class Lonely extends String {
      toJSON(): string {
        return '\ud800';
      }
    }
    const store = await memoryStore();
    await expect(store.put('k', new Lonely('a'))).rejects.toBeInstanceOf(InvalidValueError);
  });

  it('boxed primitives without toJSON are still refused', async () => {
    const store = await memoryStore();
    await expect(store.put('k', new Number(5))).rejects.toBeInstanceOf(InvalidValueError);
    await expect(store.put('k', { nested: new String('ab') })).rejects.toBeInstanceOf(InvalidValueError);
  });
});
