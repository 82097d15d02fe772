import { fireEvent, screen, within } from '@testing-library/react';
import { action, auditEvent } from '../testing/fixtures';
import { query, routes, type Call } from '../testing/mockFetch';
import { renderConsole } from '../testing/renderConsole';

const api = routes({
  'GET /actions': {
    body: {
      items: [
        action({
          status: 'succeeded',
          approved_by: ['officer'],
          result: 'dry run: ansible-playbook restart_service.yml',
        }),
        action({
          action_id: 'x-2',
          action: 'failover_path',
          target_device: 'core-rtr-01',
          risk: 'high',
          parameters: { target: 'starlink' },
        }),
      ],
      total: 2,
    },
  },
  'GET /audit': (call: Call) => ({
    body: {
      items: query(call).get('actor') === 'nobody' ? [] : [auditEvent],
      total: query(call).get('actor') === 'nobody' ? 0 : 1,
    },
  }),
});

describe('ActionsPage', () => {
  test('lists actions with status, approvers and result', async () => {
    renderConsole('/actions', api);
    const table = await screen.findByRole('table', { name: 'Actions' });
    expect(await within(table).findByText('Succeeded')).toBeInTheDocument();
    expect(within(table).getByText('officer')).toBeInTheDocument();
    expect(within(table).getByText(/ansible-playbook restart_service.yml/)).toBeInTheDocument();
    expect(within(table).getByText('High risk')).toBeInTheDocument();
    expect(within(table).getByText('target=starlink')).toBeInTheDocument();
  });

  test('the audit tab shows who did what to which target, and filters by actor', async () => {
    const { calls } = renderConsole('/actions', api);
    fireEvent.click(await screen.findByRole('tab', { name: 'Audit log' }));
    const table = await screen.findByRole('table', { name: 'Audit log' });
    expect(await within(table).findByText('action.approve')).toBeInTheDocument();
    expect(within(table).getByText(`action:${auditEvent.target.split(':')[1]}`)).toBeInTheDocument();
    expect(within(table).getByText('{"comment":"go ahead"}')).toBeInTheDocument();
    fireEvent.change(screen.getByLabelText('Audit actor'), { target: { value: 'nobody' } });
    fireEvent.click(screen.getByRole('button', { name: 'Filter' }));
    expect(await screen.findByText('No audit entries.')).toBeInTheDocument();
    expect(query(calls[calls.length - 1]).get('actor')).toBe('nobody');
  });
});
