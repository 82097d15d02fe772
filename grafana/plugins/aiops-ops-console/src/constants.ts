import pluginJson from './plugin.json';

export const PLUGIN_ID = pluginJson.id;
export const PLUGIN_BASE_URL = `/a/${PLUGIN_ID}`;

/** The console's pages, as paths relative to the app root (Grafana) or to /console (standalone). */
export enum ROUTES {
  Incidents = 'incidents',
  Approvals = 'approvals',
  Actions = 'actions',
  Policies = 'policies',
}

export const PAGE_TITLES: Record<ROUTES, string> = {
  [ROUTES.Incidents]: 'Incidents',
  [ROUTES.Approvals]: 'Approvals',
  [ROUTES.Actions]: 'Actions history',
  [ROUTES.Policies]: 'Policy viewer',
};
