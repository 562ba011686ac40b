import { expect, test } from 'vitest';
import { dayRange, pivot } from './charts';

test('every day of the range is present, oldest first', () => {
  expect(dayRange(3, new Date('2026-03-01T12:00:00Z'))).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
});

test('rows pivot into one series per name, summed per day', () => {
  const labels = ['2026-01-01', '2026-01-02'];
  const rows = [
    { day: '2026-01-01', model: 'b', v: 2 },
    { day: '2026-01-02', model: 'a', v: 1 },
    { day: '2026-01-02', model: 'a', v: 4 },
    { day: '2025-12-31', model: 'a', v: 100 },
  ];
  expect(pivot(rows, labels, (r) => r.day, (r) => r.model, (r) => r.v)).toEqual([
    { label: 'a', values: [0, 5] },
    { label: 'b', values: [2, 0] },
  ]);
});
