import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { INCIDENT_ID, TRACKING_ID, action, incident, trace } from '../testing/fixtures';
import { routes, type Call } from '../testing/mockFetch';
import { renderConsole } from '../testing/renderConsole';

function api(current = incident()) {
  let state = current;
  return routes({
    [`GET /incidents/${INCIDENT_ID}`]: () => ({ body: state }),
    [`PATCH /incidents/${INCIDENT_ID}`]: (call: Call) => {
      const body = call.body as { status: typeof state.status };
      state = { ...state, status: body.status, version: state.version + 1 };
      return { body: state };
    },
    [`GET /trace/${TRACKING_ID}`]: { body: trace },
    'GET /actions': { body: { items: [action()], total: 1 } },
  });
}

describe('IncidentDetailPage', () => {
  test('shows facts, the AI insight, the timeline and the trace of the first log', async () => {
    renderConsole(`/incidents/${INCIDENT_ID}`, api());
    expect(await screen.findByRole('heading', { level: 2, name: 'Comms outage on vsat-modem-01' })).toBeInTheDocument();
    const insight = screen.getByRole('region', { name: 'AI insight' });
    expect(within(insight).getByText('VSAT modem hung after a firmware memory leak')).toBeInTheDocument();
    expect(within(insight).getByText('Fallback (runbooks and similar incidents)')).toBeInTheDocument();
    expect(within(insight).getByText('Fail over to Starlink')).toBeInTheDocument();
    expect(within(insight).getByRole('link', { name: 'Carrier lost off Cozumel' })).toBeInTheDocument();
    expect(within(screen.getByRole('region', { name: 'Timeline' })).getByText(/RX carrier lost/)).toBeInTheDocument();
    const stages = await screen.findByRole('table', { name: 'Trace stages' });
    expect(within(stages).getAllByText('correlation')).toHaveLength(2); // stage and service
    expect(within(stages).getByText('81.1 ms')).toBeInTheDocument();
    expect(
      await within(screen.getByRole('region', { name: 'Remediation' })).findByText('Restart service')
    ).toBeInTheDocument();
  });

  test('says when there is no insight yet', async () => {
    renderConsole(`/incidents/${INCIDENT_ID}`, api(incident({ insight: null, tracking_ids: [] })));
    expect(await screen.findByText(/No insight yet/)).toBeInTheDocument();
    expect(screen.getByText(/nothing to trace/)).toBeInTheDocument();
  });

  test('acknowledge sends the status and comment, then offers resolve and reopen', async () => {
    const { calls } = renderConsole(`/incidents/${INCIDENT_ID}`, api());
    await screen.findByRole('heading', { level: 2 });
    fireEvent.change(screen.getByLabelText('Status comment'), { target: { value: 'bridge informed' } });
    fireEvent.click(screen.getByRole('button', { name: 'Acknowledge' }));
    expect(await screen.findByText('Incident is now acknowledged.')).toBeInTheDocument();
    const patch = calls.find((c) => c.method === 'PATCH');
    expect(patch?.body).toEqual({ status: 'acknowledged', comment: 'bridge informed' });
    await waitFor(() => expect(screen.getByRole('button', { name: 'Reopen' })).toBeInTheDocument());
    expect(screen.queryByRole('button', { name: 'Acknowledge' })).not.toBeInTheDocument();
  });

  test('resolve carries the resolution for later similar incidents', async () => {
    const { calls } = renderConsole(`/incidents/${INCIDENT_ID}`, api());
    await screen.findByRole('heading', { level: 2 });
    fireEvent.change(screen.getByLabelText('Resolution'), { target: { value: 'modem rebooted' } });
    fireEvent.click(screen.getByRole('button', { name: 'Resolve' }));
    await screen.findByText('Incident is now resolved.');
    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({
      status: 'resolved',
      comment: '',
      resolution: 'modem rebooted',
    });
  });

  test('a refused transition shows the API reason', async () => {
    const handler = routes({
      [`GET /incidents/${INCIDENT_ID}`]: { body: incident() },
      [`PATCH /incidents/${INCIDENT_ID}`]: { status: 409, body: { detail: 'incident is already acknowledged' } },
      [`GET /trace/${TRACKING_ID}`]: { body: trace },
      'GET /actions': { body: { items: [], total: 0 } },
    });
    renderConsole(`/incidents/${INCIDENT_ID}`, handler);
    fireEvent.click(await screen.findByRole('button', { name: 'Acknowledge' }));
    expect(await screen.findByText('incident is already acknowledged (HTTP 409)')).toBeInTheDocument();
  });

  test('a viewer sees the incident but no status buttons', async () => {
    renderConsole(`/incidents/${INCIDENT_ID}`, api(), { name: 'bridge', role: 'viewer' });
    await screen.findByRole('heading', { level: 2 });
    expect(screen.getByText(/needs the operator role/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Acknowledge' })).not.toBeInTheDocument();
  });
});
