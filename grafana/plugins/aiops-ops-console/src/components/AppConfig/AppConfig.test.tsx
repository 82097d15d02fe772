import React from 'react';
import { of } from 'rxjs';
import type { AppPluginMeta, PluginConfigPageProps, PluginMeta } from '@grafana/data';
import { getBackendSrv } from '@grafana/runtime';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import AppConfig, { normalizeApiUrl, type AppConfigProps } from './AppConfig';
import { testIds } from '../testIds';

jest.mock('@grafana/runtime', () => ({ getBackendSrv: jest.fn() }));

function props(meta: Partial<PluginMeta>): AppConfigProps {
  return {
    plugin: {
      meta: { id: 'aiops-opsconsole-app', enabled: true, pinned: true, jsonData: {}, ...meta } as AppPluginMeta,
    },
    query: {},
  } as unknown as PluginConfigPageProps<AppPluginMeta>;
}

describe('AppConfig', () => {
  test('the URL is stored without a trailing slash or /api/v3, which the proxy route appends', () => {
    expect(normalizeApiUrl(' http://aiops-node:8081/ ')).toBe('http://aiops-node:8081');
    expect(normalizeApiUrl('http://aiops-node:8081/api/v3/')).toBe('http://aiops-node:8081');
  });

  test('saves the URL in jsonData and the token only in secureJsonData', async () => {
    const fetchMock = jest.fn().mockReturnValue(of({ data: {} }));
    (getBackendSrv as jest.Mock).mockReturnValue({ fetch: fetchMock });
    Object.defineProperty(window, 'location', { value: { reload: jest.fn() }, writable: true });
    render(<AppConfig {...props({})} />);
    expect(screen.getByTestId(testIds.appConfig.submit)).toBeDisabled();
    fireEvent.change(screen.getByTestId(testIds.appConfig.apiUrl), { target: { value: 'http://aiops-node:8081/' } });
    fireEvent.change(screen.getByTestId(testIds.appConfig.apiToken), { target: { value: 'aiops_secret' } });
    fireEvent.click(screen.getByTestId(testIds.appConfig.submit));
    await waitFor(() => expect(fetchMock).toHaveBeenCalled());
    const { url, data } = fetchMock.mock.calls[0][0];
    expect(url).toBe('/api/plugins/aiops-opsconsole-app/settings');
    expect(data.jsonData).toEqual({ apiUrl: 'http://aiops-node:8081' });
    expect(data.secureJsonData).toEqual({ apiToken: 'aiops_secret' });
  });

  test('a saved token is not sent again when only the URL changes', async () => {
    const fetchMock = jest.fn().mockReturnValue(of({ data: {} }));
    (getBackendSrv as jest.Mock).mockReturnValue({ fetch: fetchMock });
    render(<AppConfig {...props({ jsonData: { apiUrl: 'http://old:8081' }, secureJsonFields: { apiToken: true } })} />);
    fireEvent.change(screen.getByTestId(testIds.appConfig.apiUrl), { target: { value: 'http://new:8081' } });
    fireEvent.click(screen.getByTestId(testIds.appConfig.submit));
    await waitFor(() => expect(fetchMock).toHaveBeenCalled());
    expect(fetchMock.mock.calls[0][0].data.secureJsonData).toBeUndefined();
  });
});
