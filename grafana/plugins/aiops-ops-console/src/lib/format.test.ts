import {
  describeValue,
  formatDuration,
  formatParameters,
  formatPercent,
  formatRelative,
  formatTime,
  formatValue,
  humanize,
  shortId,
} from './format';

describe('formatting', () => {
  test('times are shown in UTC whatever the offset they came with', () => {
    expect(formatTime('2026-11-24T15:05:09+02:00')).toBe('2026-11-24 13:05:09 UTC');
    expect(formatTime(null)).toBe('—');
    expect(formatTime('not a time')).toBe('—');
  });

  test('relative times step from minutes to hours to days', () => {
    const now = new Date('2026-11-24T12:00:00Z');
    expect(formatRelative('2026-11-24T11:59:30Z', now)).toBe('just now');
    expect(formatRelative('2026-11-24T11:55:00Z', now)).toBe('5 min ago');
    expect(formatRelative('2026-11-24T09:00:00Z', now)).toBe('3 h ago');
    expect(formatRelative('2026-11-22T12:00:00Z', now)).toBe('2 d ago');
    expect(formatRelative('2026-11-24T12:00:30Z', now)).toBe('just now');
  });

  test('durations pick a unit that keeps a few significant digits', () => {
    expect(formatDuration(0.42)).toBe('0.42 ms');
    expect(formatDuration(12.34)).toBe('12.3 ms');
    expect(formatDuration(1250)).toBe('1.25 s');
    expect(formatDuration(125000)).toBe('2 min 5 s');
    expect(formatDuration(120000)).toBe('2 min');
    expect(formatDuration(null)).toBe('—');
  });

  test('ratios become whole percentages', () => {
    expect(formatPercent(0.823)).toBe('82%');
    expect(formatPercent(undefined)).toBe('—');
  });

  test('identifiers read as words', () => {
    expect(humanize('link_degradation')).toBe('Link degradation');
    expect(humanize('pending_approval')).toBe('Pending approval');
    expect(humanize('')).toBe('');
  });

  test('values and parameters read on one line, keys sorted', () => {
    expect(formatValue('vsat')).toBe('vsat');
    expect(formatValue(false)).toBe('false');
    expect(formatValue(null)).toBe('—');
    expect(formatValue([1, 2])).toBe('[1,2]');
    expect(formatParameters({ ssid: 'guest', rate_kbps: 512 })).toBe('rate_kbps=512, ssid=guest');
    expect(formatParameters({})).toBe('—');
  });

  test('long values are described, not printed', () => {
    expect(describeValue([1, 2, 3])).toBe('list of 3');
    expect(describeValue({ a: 1 })).toBe('object with 1 key');
    expect(describeValue('x'.repeat(100))).toHaveLength(58);
  });

  test('uuids are shortened to their ends', () => {
    expect(shortId('3cc9d8d7-2a4d-4c93-8204-be29924407bb')).toBe('3cc9d8d7…07bb');
    expect(shortId('short')).toBe('short');
  });
});
