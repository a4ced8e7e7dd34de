import { describe, expect, it } from 'vitest';
import { parseCommandOptions } from '../bench/options.js';

// `npm run bench -- --rounds N`: decimal digits only, as the ladybug CLI's numeric options
// (e29dc56). Number() accepted '0x10' (16 rounds), '1e1', ' 3' and '3 '.
describe('bench --rounds', () => {
  it('takes a positive decimal integer', () => {
    expect(parseCommandOptions(['--rounds', '3']).rounds).toBe(3);
    expect(parseCommandOptions([]).rounds).toBeUndefined();
  });

  it('refuses a negative count', () => {
    expect(() => parseCommandOptions(['--rounds=-1'])).toThrow(/--rounds must be a positive integer/);
  });

  it.each(['0x10', '1e1', ' 3', '3 ', '3.0', '+3', '0', '', '03', '99999999999999999999'])('refuses %j', (value) => {
    expect(() => parseCommandOptions(['--rounds', value])).toThrow(/--rounds must be a positive integer/);
  });
});
