import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { ACTION_ID, action } from '../testing/fixtures';
import { query, routes, type Call } from '../testing/mockFetch';
import { renderConsole } from '../testing/renderConsole';

function api(items = [action()]) {
  let pending = items;
  return routes({
    'GET /approvals': (call: Call) => ({ body: { items: query(call).get('scope') === 'pending' ? pending : [] } }),
    [`POST /approvals/${ACTION_ID}`]: (call: Call) => {
      const { decision, comment } = call.body as { decision: 'approved' | 'rejected'; comment: string };
      pending = [];
      return {
        body: action({
          status: decision === 'approved' ? 'approved' : 'rejected',
          approved_by: decision === 'approved' ? ['officer'] : [],
          approvals: [
            {
              approval_id: 'ap-1',
              action_id: ACTION_ID,
              approver: 'officer',
              decision,
              comment,
              at: '2026-11-24T10:05:00Z',
            },
          ],
        }),
      };
    },
  });
}

describe('ApprovalsPage', () => {
  test('shows each pending action with its risk, parameters, checks and progress', async () => {
    renderConsole('/approvals', api());
    const card = await screen.findByRole('region', { name: 'Restart service on res-app-01' });
    expect(within(card).getByText('Medium risk')).toBeInTheDocument();
    expect(within(card).getByText('service=reservations-api')).toBeInTheDocument();
    expect(within(card).getByText('service exists on the device')).toBeInTheDocument();
    expect(within(card).getByText('0 of 1 approval')).toBeInTheDocument();
  });

  test('approving posts the decision with the comment and clears the card', async () => {
    const { calls } = renderConsole('/approvals', api());
    const card = await screen.findByRole('region', { name: 'Restart service on res-app-01' });
    fireEvent.change(within(card).getByRole('textbox'), { target: { value: 'restart in the quiet hour' } });
    fireEvent.click(within(card).getByRole('button', { name: 'Approve' }));
    expect(
      await screen.findByText(/Approved Restart service on res-app-01: now approved \(1 of 1 approval\)/)
    ).toBeInTheDocument();
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({
      decision: 'approved',
      comment: 'restart in the quiet hour',
    });
    await waitFor(() =>
      expect(screen.queryByRole('region', { name: 'Restart service on res-app-01' })).not.toBeInTheDocument()
    );
  });

  test('rejecting posts a rejection', async () => {
    const { calls } = renderConsole('/approvals', api());
    const card = await screen.findByRole('region', { name: 'Restart service on res-app-01' });
    fireEvent.click(within(card).getByRole('button', { name: 'Reject' }));
    await screen.findByText(/Rejected Restart service/);
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ decision: 'rejected', comment: '' });
  });

  test('the requester cannot approve their own action and is told why', async () => {
    renderConsole('/approvals', api([action({ requested_by: 'officer' })]));
    const card = await screen.findByRole('region', { name: 'Restart service on res-app-01' });
    expect(within(card).getByRole('button', { name: 'Approve' })).toBeDisabled();
    expect(within(card).getByText(/You requested this action/)).toBeInTheDocument();
  });

  test('a refusal from the API is shown on the card', async () => {
    const handler = routes({
      'GET /approvals': { body: { items: [action()] } },
      [`POST /approvals/${ACTION_ID}`]: { status: 409, body: { detail: 'officer already decided on this action' } },
    });
    renderConsole('/approvals', handler);
    const card = await screen.findByRole('region', { name: 'Restart service on res-app-01' });
    fireEvent.click(within(card).getByRole('button', { name: 'Approve' }));
    expect(await within(card).findByText(/officer already decided on this action/)).toBeInTheDocument();
  });
});
