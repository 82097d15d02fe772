import React, { createContext, useContext } from 'react';
import type { OpsApi } from '../api/client';
import type { Identity } from '../api/types';

/**
 * What a page needs from its host (the Grafana app root or the standalone shell): the API client,
 * who is signed in, and where the console's routes live, so the same page components run in both.
 */
export interface ConsoleEnv {
  api: OpsApi;
  me: Identity | null;
  /** Prefix of the console's routes: "/a/<plugin id>" in Grafana, "" under the standalone router. */
  basePath: string;
  /** Told after a page changed something (a decision, a status), so the host can refresh its own views. */
  onMutation?: () => void;
}

const ConsoleContext = createContext<ConsoleEnv | null>(null);

export function ConsoleProvider({ env, children }: { env: ConsoleEnv; children: React.ReactNode }) {
  return <ConsoleContext.Provider value={env}>{children}</ConsoleContext.Provider>;
}

export function useConsole(): ConsoleEnv {
  const env = useContext(ConsoleContext);
  if (!env) {
    throw new Error('useConsole() outside <ConsoleProvider>');
  }
  return env;
}

/** The link to a console route, e.g. consolePath("/a/x", "incidents", id) → "/a/x/incidents/<id>". */
export function consolePath(basePath: string, ...segments: string[]): string {
  return [basePath.replace(/\/+$/, ''), ...segments.map(encodeURIComponent)].join('/');
}
