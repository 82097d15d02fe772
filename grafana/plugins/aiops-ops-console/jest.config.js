// force timezone to UTC to allow tests to work regardless of local timezone
// generally used by snapshots, but can affect specific tests
process.env.TZ = 'UTC';

const base = require('./.config/jest.config');

module.exports = {
  // Jest configuration provided by Grafana scaffolding
  ...base,
  transform: {
    ...base.transform,
    // d3-color 3.1 (under @grafana/data) ships only an ES module build with the .mjs extension,
    // which the scaffold's transform pattern does not cover.
    '^.+\\.mjs$': base.transform['^.+\\.(t|j)sx?$'],
  },
  // A suite's first render loads and styles @grafana/ui in jsdom, which takes seconds on a busy
  // 2-core machine; the 5 s default would fail on load, not on behaviour.
  testTimeout: 30000,
  // Test doubles and fixtures live beside the code but are not tests themselves.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/src/testing/'],
};
