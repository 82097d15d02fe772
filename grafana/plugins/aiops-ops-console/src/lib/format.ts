// Formatting shared by every page. Times are shown in UTC: a ship crosses time zones, and the
// bridge, the IT officer and the shore NOC must read the same clock.

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** "2026-11-24 13:05:09 UTC", or "—" for a missing or unreadable timestamp. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return '—';
  }
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) {
    return '—';
  }
  return (
    `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())} ` +
    `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())} UTC`
  );
}

/** "just now", "5 min ago", "3 h ago", "2 d ago" (future times, from clock skew, read "just now"). */
export function formatRelative(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) {
    return '—';
  }
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) {
    return '—';
  }
  const seconds = Math.floor((now.getTime() - at.getTime()) / 1000);
  if (seconds < 60) {
    return 'just now';
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.floor(seconds / 3600)} h ago`;
  }
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** "0.42 ms", "12.3 ms", "1.25 s", "2 min 5 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) {
    return '—';
  }
  if (ms < 10) {
    return `${ms.toFixed(2)} ms`;
  }
  if (ms < 1000) {
    return `${ms.toFixed(1)} ms`;
  }
  if (ms < 60000) {
    return `${(ms / 1000).toFixed(2)} s`;
  }
  const minutes = Math.floor(ms / 60000);
  const seconds = Math.round((ms % 60000) / 1000);
  return seconds ? `${minutes} min ${seconds} s` : `${minutes} min`;
}

/** A 0..1 ratio as a whole percentage: 0.823 → "82%". */
export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) {
    return '—';
  }
  return `${Math.round(ratio * 100)}%`;
}

/** "link_degradation" → "Link degradation". */
export function humanize(value: string | null | undefined): string {
  if (!value) {
    return '';
  }
  const words = value.replace(/[_-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A policy or parameter value in one line: strings as they are, the rest as compact JSON. */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) {
    return '—';
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

/** A one-line description of a long value: "list of 37", "object with 4 keys", or its start. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) {
    return `list of ${value.length}`;
  }
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).length;
    return `object with ${keys} key${keys === 1 ? '' : 's'}`;
  }
  const text = formatValue(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** Action parameters as "key=value" pairs, in key order so two renders read the same. */
export function formatParameters(parameters: Record<string, unknown> | null | undefined): string {
  const keys = Object.keys(parameters ?? {}).sort();
  if (keys.length === 0) {
    return '—';
  }
  return keys.map((key) => `${key}=${formatValue(parameters![key])}`).join(', ');
}

/** "3f2a…9c1d" for a UUID in a tight column; the full id stays in the title attribute. */
export function shortId(id: string | null | undefined): string {
  if (!id) {
    return '—';
  }
  return id.length > 12 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}
