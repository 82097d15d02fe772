import { overridesIn } from './policy';

const diff = ['notify.channels.webhook.enabled', 'notify.quiet_hours.start_time', 'detect', 'detector.x'].map(
  (path) => ({
    path,
    default: null,
    effective: null,
  })
);

test('overrides are counted per segment by path prefix, not by a shared word start', () => {
  expect(overridesIn('notify', diff)).toBe(2);
  expect(overridesIn('detect', diff)).toBe(1);
  expect(overridesIn('slo', diff)).toBe(0);
});
