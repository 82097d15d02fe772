import type { PolicyDiffEntry } from '../api/types';

/** How many overrides touch a policy segment: diff paths start with the segment's name. */
export function overridesIn(segment: string, diff: PolicyDiffEntry[]): number {
  return diff.filter(({ path }) => {
    if (path === segment) {
      return true;
    }
    const next = path.charAt(segment.length);
    return path.startsWith(segment) && next !== '' && '.[/'.includes(next);
  }).length;
}
