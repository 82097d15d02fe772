import React from 'react';
import { render } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { OpsApi, fetchTransport } from '../api/client';
import type { Identity } from '../api/types';
import { ConsoleProvider } from '../components/ConsoleContext';
import { ConsoleRoutes } from '../routes/ConsoleRoutes';
import { mockFetch, type Handler } from './mockFetch';

export const approver: Identity = { name: 'officer', role: 'approver' };

/** Renders the console's routes at `path` with an API backed by `handler`. */
export function renderConsole(path: string, handler: Handler, me: Identity | null = approver) {
  const { fetchImpl, calls } = mockFetch(handler);
  const api = new OpsApi(fetchTransport({ baseUrl: '/api/v3', token: () => 'aiops_test', fetchImpl }));
  const utils = render(
    <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
      <ConsoleProvider env={{ api, me, basePath: '' }}>
        <ConsoleRoutes />
      </ConsoleProvider>
    </MemoryRouter>
  );
  return { ...utils, calls };
}
