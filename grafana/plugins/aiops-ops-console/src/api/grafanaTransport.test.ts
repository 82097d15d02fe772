import { of, throwError } from 'rxjs';
import { getBackendSrv } from '@grafana/runtime';
import { ApiError } from './client';
import { PROXY_BASE, grafanaTransport } from './grafanaTransport';

jest.mock('@grafana/runtime', () => ({ getBackendSrv: jest.fn() }));

const fetchMock = jest.fn();
(getBackendSrv as jest.Mock).mockReturnValue({ fetch: fetchMock });

describe('grafanaTransport', () => {
  beforeEach(() => fetchMock.mockReset());

  test('calls the plugin proxy route, never carrying a token itself', async () => {
    fetchMock.mockReturnValue(of({ data: { name: 'grafana', role: 'approver' } }));
    const answer = await grafanaTransport().request('GET', '/incidents', { query: { status: 'open', severity: '' } });
    expect(answer).toEqual({ name: 'grafana', role: 'approver' });
    const request = fetchMock.mock.calls[0][0];
    expect(PROXY_BASE).toBe('/api/plugin-proxy/aiops-opsconsole-app/api');
    expect(request.url).toBe(`${PROXY_BASE}/incidents?status=open`);
    expect(request.method).toBe('GET');
    expect(request.headers).toBeUndefined();
    expect(request.showErrorAlert).toBe(false);
  });

  test('sends the body of a mutation', async () => {
    fetchMock.mockReturnValue(of({ data: {} }));
    await grafanaTransport().request('POST', '/approvals/a-1', { body: { decision: 'rejected', comment: 'not now' } });
    expect(fetchMock.mock.calls[0][0]).toMatchObject({
      method: 'POST',
      data: { decision: 'rejected', comment: 'not now' },
    });
  });

  test('turns a Grafana fetch error into an ApiError with the incident-api detail', async () => {
    fetchMock.mockReturnValue(
      throwError(() => ({ status: 403, data: { detail: 'role viewer may not do this' }, config: {} }))
    );
    const error = (await grafanaTransport()
      .request('PATCH', '/incidents/1', { body: {} })
      .catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(403);
    expect(error.detail).toBe('role viewer may not do this');
  });
});
