/** Where the incident-api serves the standalone console, and where its API lives (same origin). */
export const STANDALONE_BASENAME = '/console';
export const API_BASE = '/api/v3';
