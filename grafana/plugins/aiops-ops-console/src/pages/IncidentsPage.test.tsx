import { fireEvent, screen, waitFor } from '@testing-library/react';
import { incident } from '../testing/fixtures';
import { query, routes } from '../testing/mockFetch';
import { renderConsole } from '../testing/renderConsole';

const list = (
  items = [
    incident(),
    incident({
      incident_id: 'b6f1c1d2-0000-4000-8000-000000000001',
      title: 'Guest Wi-Fi DHCP pool exhausted',
      severity: 'high',
      incident_type: 'network_issue',
      insight: null,
    }),
  ]
) => routes({ 'GET /incidents': { body: { items, total: items.length, limit: 25, offset: 0 } } });

describe('IncidentsPage', () => {
  test('lists incidents with severity, type, status and a link to each', async () => {
    renderConsole('/incidents', list());
    const link = await screen.findByRole('link', { name: 'Comms outage on vsat-modem-01' });
    expect(link).toHaveAttribute('href', `/incidents/${incident().incident_id}`);
    expect(screen.getByRole('link', { name: 'Guest Wi-Fi DHCP pool exhausted' })).toBeInTheDocument();
    expect(screen.getByText('Comms outage')).toBeInTheDocument();
    expect(screen.getAllByText('Open')).not.toHaveLength(0);
    expect(screen.getByText('2 incidents')).toBeInTheDocument();
  });

  test('a filter asks the API again with only that filter set', async () => {
    const { calls } = renderConsole('/incidents', list());
    await screen.findByRole('link', { name: 'Comms outage on vsat-modem-01' });
    expect(query(calls[0]).has('severity')).toBe(false);
    fireEvent.click(screen.getByRole('radio', { name: 'Critical' }));
    await waitFor(() => expect(calls.length).toBeGreaterThan(1));
    const last = query(calls[calls.length - 1]);
    expect(last.get('severity')).toBe('critical');
    expect(last.has('status')).toBe(false);
    expect(last.get('offset')).toBe('0');
  });

  test('says so when no incident matches', async () => {
    renderConsole('/incidents', list([]));
    expect(await screen.findByText('No incidents match these filters.')).toBeInTheDocument();
  });

  test('shows the API error instead of an empty list', async () => {
    renderConsole(
      '/incidents',
      routes({ 'GET /incidents': { status: 401, body: { detail: 'invalid or revoked token' } } })
    );
    expect(await screen.findByText(/Not signed in or the token is no longer valid/)).toBeInTheDocument();
    expect(screen.queryByText('No incidents match these filters.')).not.toBeInTheDocument();
  });
});
