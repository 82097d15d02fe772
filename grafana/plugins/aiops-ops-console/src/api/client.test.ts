import { ApiError, OpsApi, detailMessage, fetchTransport, queryString } from './client';
import { mockFetch, routes } from '../testing/mockFetch';

describe('queryString', () => {
  test('drops empty filters and keeps the rest in order', () => {
    expect(queryString({ status: 'open', severity: '', ship_id: undefined, limit: 25, offset: 0, x: null })).toBe(
      '?status=open&limit=25&offset=0'
    );
  });

  test('is empty when nothing is chosen', () => {
    expect(queryString({ status: '' })).toBe('');
    expect(queryString(undefined)).toBe('');
  });
});

describe('detailMessage', () => {
  test('takes a string detail as it is', () => {
    expect(detailMessage({ detail: 'cannot go from resolved to open' }, 'x')).toBe('cannot go from resolved to open');
  });

  test('joins validation errors with where they apply', () => {
    expect(
      detailMessage(
        {
          detail: [
            { loc: ['body', 'comment'], msg: 'too long' },
            { loc: 'path.id', msg: 'must be a UUID' },
          ],
        },
        'x'
      )
    ).toBe('body.comment: too long; path.id: must be a UUID');
  });

  test('falls back when the body has no detail', () => {
    expect(detailMessage(undefined, 'Bad Gateway')).toBe('Bad Gateway');
    expect(detailMessage({ error: 'x' }, 'Bad Gateway')).toBe('Bad Gateway');
  });
});

describe('fetchTransport', () => {
  test('sends the bearer token and a JSON body, and parses the answer', async () => {
    const { fetchImpl, calls } = mockFetch(() => ({ body: { status: 'acknowledged' } }));
    const transport = fetchTransport({ baseUrl: '/api/v3/', token: () => 'aiops_abc', fetchImpl });
    const answer = await transport.request('PATCH', '/incidents/1', { body: { status: 'acknowledged' } });
    expect(answer).toEqual({ status: 'acknowledged' });
    expect(calls[0].url).toBe('/api/v3/incidents/1');
    expect(calls[0].headers.authorization).toBe('Bearer aiops_abc');
    expect(calls[0].headers['content-type']).toBe('application/json');
    expect(calls[0].body).toEqual({ status: 'acknowledged' });
  });

  test('sends no authorization header without a token', async () => {
    const { fetchImpl, calls } = mockFetch(() => ({ body: {} }));
    await fetchTransport({ baseUrl: '/api/v3', token: () => null, fetchImpl }).request('GET', '/whoami');
    expect(calls[0].headers.authorization).toBeUndefined();
  });

  test('turns an HTTP error into an ApiError with the API detail', async () => {
    const { fetchImpl } = mockFetch(() => ({ status: 409, body: { detail: 'already decided by officer' } }));
    const transport = fetchTransport({ baseUrl: '/api/v3', token: () => 't', fetchImpl });
    const error = (await transport.request('POST', '/approvals/x', { body: {} }).catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(409);
    expect(error.detail).toBe('already decided by officer');
  });

  test('reports a 401 so the console can sign out, and only a 401', async () => {
    const onUnauthorized = jest.fn();
    const statuses = [403, 401];
    const { fetchImpl } = mockFetch(() => ({ status: statuses.shift(), body: { detail: 'no' } }));
    const transport = fetchTransport({ baseUrl: '/api/v3', token: () => 't', onUnauthorized, fetchImpl });
    await expect(transport.request('GET', '/whoami')).rejects.toThrow('403');
    expect(onUnauthorized).not.toHaveBeenCalled();
    await expect(transport.request('GET', '/whoami')).rejects.toThrow('401');
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });
});

describe('OpsApi', () => {
  const api = (handler: Parameters<typeof mockFetch>[0]) => {
    const mock = mockFetch(handler);
    return {
      api: new OpsApi(fetchTransport({ baseUrl: '/api/v3', token: () => 't', fetchImpl: mock.fetchImpl })),
      calls: mock.calls,
    };
  };

  test('lists incidents with the chosen filters only', async () => {
    const { api: client, calls } = api(routes({ 'GET /incidents': { body: { items: [], total: 0 } } }));
    await client.listIncidents({ status: 'open', severity: '', incident_type: 'comms_outage', limit: 25, offset: 0 });
    expect(calls[0].url).toBe('/api/v3/incidents?status=open&incident_type=comms_outage&limit=25&offset=0');
  });

  test('decides on an approval with POST /approvals/{id} and the comment', async () => {
    const { api: client, calls } = api(routes({ 'POST /approvals/a-1': { body: { status: 'approved' } } }));
    await client.decide('a-1', 'approved', 'go ahead');
    expect(calls[0]).toMatchObject({
      method: 'POST',
      url: '/api/v3/approvals/a-1',
      body: { decision: 'approved', comment: 'go ahead' },
    });
  });

  test('patches an incident status and encodes ids into the path', async () => {
    const { api: client, calls } = api(() => ({ body: {} }));
    await client.patchIncident('a/b', { status: 'resolved', comment: 'fixed', resolution: 'modem reboot' });
    expect(calls[0]).toMatchObject({
      method: 'PATCH',
      url: '/api/v3/incidents/a%2Fb',
      body: { status: 'resolved', comment: 'fixed', resolution: 'modem reboot' },
    });
  });

  test('reads approvals, actions, policies, audit and traces from their routes', async () => {
    const { api: client, calls } = api(() => ({ body: { items: [] } }));
    await client.approvals('mine');
    await client.listActions({ incident_id: 'i-1', status: '' });
    await client.policies();
    await client.policies('example-ship');
    await client.audit({ actor: 'officer', limit: 50 });
    await client.trace('t-1');
    expect(calls.map((c) => c.url)).toEqual([
      '/api/v3/approvals?scope=mine',
      '/api/v3/actions?incident_id=i-1',
      '/api/v3/policies',
      '/api/v3/policies?ship_id=example-ship',
      '/api/v3/audit?actor=officer&limit=50',
      '/api/v3/trace/t-1',
    ]);
  });
});
