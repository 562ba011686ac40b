import { describe, expect, test } from 'vitest';
import { count, isAddress, parseUsd, percent, shortAddress, usd, usdText } from './money';

describe('money', () => {
  test('micro-USDC shown as dollars, exactly', () => {
    expect(usd(5_000_000)).toBe('$5.00');
    expect(usd(1_234_567)).toBe('$1.234567');
    expect(usd(10)).toBe('$0.00001');
    expect(usd(1_000_000_000_000)).toBe('$1,000,000.00');
    expect(usd(-2_500_000)).toBe('−$2.50');
    expect(usd(null)).toBe('—');
  });

  test('typed amounts parse digit by digit, never through a float', () => {
    expect(parseUsd('5')).toEqual({ micro: 5_000_000n });
    expect(parseUsd('$0.25')).toEqual({ micro: 250_000n });
    expect(parseUsd('1,000.000001')).toEqual({ micro: 1_000_000_001n });
    expect(parseUsd('0.1')).toEqual({ micro: 100_000n });
    for (const bad of ['', '0', '-1', '1.0000001', '1e3', 'abc', '0.000000']) {
      expect(parseUsd(bad)).toHaveProperty('error');
    }
    expect(usdText(5_000_000n)).toBe('5');
    expect(usdText(250_000n)).toBe('0.25');
  });

  test('other formats', () => {
    expect(count(1234567)).toBe('1,234,567');
    expect(percent(0.987)).toBe('98.7%');
    expect(percent(1)).toBe('100%');
    expect(shortAddress('0x70997970C51812dc3A010C7d01b50e0d17dc79C8')).toBe('0x7099…79C8');
    expect(isAddress('0x70997970C51812dc3A010C7d01b50e0d17dc79C8')).toBe(true);
    expect(isAddress('0x7099')).toBe(false);
  });
});
