import React, { type ReactElement } from 'react';
import { Navigate, Route, Routes } from 'react-router-dom';
import { consolePath, useConsole } from '../components/ConsoleContext';
import { PAGE_TITLES, ROUTES } from '../constants';
import { ActionsPage } from '../pages/ActionsPage';
import { ApprovalsPage } from '../pages/ApprovalsPage';
import { IncidentDetailPage } from '../pages/IncidentDetailPage';
import { IncidentsPage } from '../pages/IncidentsPage';
import { PoliciesPage } from '../pages/PoliciesPage';

export interface PageInfo {
  title: string;
  /** A page under one of the four (the incident detail), shown with a breadcrumb back to its list. */
  subPage?: boolean;
}

/** Wraps a page in its host's chrome: Grafana's PluginPage, or nothing under the standalone shell. */
export type PageFrame = (info: PageInfo, page: ReactElement) => ReactElement;

const bare: PageFrame = (_info, page) => page;

/** The four pages (and the incident detail), with paths relative to the console's root. */
export function ConsoleRoutes({ frame = bare }: { frame?: PageFrame }) {
  const { basePath } = useConsole();
  return (
    <Routes>
      <Route
        path={`${ROUTES.Incidents}/:incidentId`}
        element={frame({ title: 'Incident', subPage: true }, <IncidentDetailPage />)}
      />
      <Route path={ROUTES.Incidents} element={frame({ title: PAGE_TITLES[ROUTES.Incidents] }, <IncidentsPage />)} />
      <Route path={ROUTES.Approvals} element={frame({ title: PAGE_TITLES[ROUTES.Approvals] }, <ApprovalsPage />)} />
      <Route path={ROUTES.Actions} element={frame({ title: PAGE_TITLES[ROUTES.Actions] }, <ActionsPage />)} />
      <Route path={ROUTES.Policies} element={frame({ title: PAGE_TITLES[ROUTES.Policies] }, <PoliciesPage />)} />
      <Route path="*" element={<Navigate to={consolePath(basePath, ROUTES.Incidents)} replace />} />
    </Routes>
  );
}
