import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { policy } from '../testing/fixtures';
import { query, routes, type Call } from '../testing/mockFetch';
import { renderConsole } from '../testing/renderConsole';

const api = routes({
  'GET /policies': (call: Call) =>
    query(call).get('ship_id') === 'example-ship'
      ? { body: policy }
      : { body: { ship_id: 'ms-aurora', effective: policy.effective, diff: [] } },
});

describe('PoliciesPage', () => {
  test("shows this node's ship and that it runs the defaults", async () => {
    renderConsole('/policies', api);
    expect(await screen.findByRole('heading', { name: 'Effective policy for ms-aurora' })).toBeInTheDocument();
    expect(screen.getByText(/No overrides/)).toBeInTheDocument();
  });

  test('another ship shows its differences, long lists folded, and overrides per segment', async () => {
    const { calls } = renderConsole('/policies', api);
    await screen.findByRole('heading', { name: 'Effective policy for ms-aurora' });
    fireEvent.change(screen.getByLabelText('Policy ship'), { target: { value: 'example-ship' } });
    fireEvent.click(screen.getByRole('button', { name: 'Show policy' }));
    await screen.findByRole('heading', { name: 'Effective policy for example-ship' });
    expect(query(calls[calls.length - 1]).get('ship_id')).toBe('example-ship');
    const diff = screen.getByRole('region', { name: 'Differences from the defaults' });
    expect(within(diff).getByText('notify.channels.webhook.enabled')).toBeInTheDocument();
    expect(within(diff).getByText('false')).toBeInTheDocument();
    expect(within(diff).getByText('true')).toBeInTheDocument();
    expect(within(diff).getByText('list of 19')).toBeInTheDocument();
    expect(within(diff).getByText('list of 15')).toBeInTheDocument();
    expect(screen.getAllByText('1 override')).toHaveLength(2);
  });

  test('a segment opens to show its effective settings', async () => {
    renderConsole('/policies', api);
    await screen.findByRole('heading', { name: 'Effective policy for ms-aurora' });
    fireEvent.click(screen.getByText('slo'));
    await waitFor(() => expect(screen.getByText(/"fast_path_p99_ms": 100/)).toBeInTheDocument());
  });
});
