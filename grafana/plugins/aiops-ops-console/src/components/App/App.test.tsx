import React from 'react';
import { of, throwError } from 'rxjs';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import type { AppRootProps } from '@grafana/data';
import { getBackendSrv } from '@grafana/runtime';
import { render, screen } from '@testing-library/react';
import { incident } from '../../testing/fixtures';
import App from './App';

jest.mock('@grafana/runtime', () => ({
  getBackendSrv: jest.fn(),
  PluginPage: ({ children }: { children: React.ReactNode }) => <div data-testid="plugin-page">{children}</div>,
}));

const fetchMock = jest.fn();
(getBackendSrv as jest.Mock).mockReturnValue({ fetch: fetchMock });

function renderApp() {
  return render(
    <MemoryRouter
      initialEntries={['/a/aiops-opsconsole-app/incidents']}
      future={{ v7_startTransition: true, v7_relativeSplatPath: true }}
    >
      {/* Grafana mounts an app root under /a/<plugin id>/*; the console's routes are relative to it. */}
      <Routes>
        <Route path="/a/aiops-opsconsole-app/*" element={<App {...({} as AppRootProps)} />} />
      </Routes>
    </MemoryRouter>
  );
}

describe('Grafana app root', () => {
  beforeEach(() => fetchMock.mockReset());

  test('renders the incidents page through the plugin proxy inside a PluginPage', async () => {
    fetchMock.mockImplementation(({ url }: { url: string }) => {
      if (url.endsWith('/whoami')) {
        return of({ data: { name: 'grafana', role: 'approver' } });
      }
      return of({ data: { items: [incident()], total: 1, limit: 25, offset: 0 } });
    });
    renderApp();
    const link = await screen.findByRole('link', { name: 'Comms outage on vsat-modem-01' });
    expect(link).toHaveAttribute('href', `/a/aiops-opsconsole-app/incidents/${incident().incident_id}`);
    expect(screen.getByTestId('plugin-page')).toBeInTheDocument();
    expect(
      fetchMock.mock.calls.every(([request]) => request.url.startsWith('/api/plugin-proxy/aiops-opsconsole-app/api/'))
    ).toBe(true);
  });

  test('points to the configuration page when the incident-api cannot be reached', async () => {
    fetchMock.mockReturnValue(throwError(() => ({ status: 502, statusText: 'Bad Gateway', data: {}, config: {} })));
    renderApp();
    expect(await screen.findByText('The incident-api is not reachable through Grafana')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'configuration page' })).toHaveAttribute(
      'href',
      '/plugins/aiops-opsconsole-app'
    );
  });
});
