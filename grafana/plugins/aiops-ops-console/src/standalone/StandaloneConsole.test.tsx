import React from 'react';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { action, incident } from '../testing/fixtures';
import { mockFetch, routes, type Call } from '../testing/mockFetch';
import { StandaloneConsole } from './StandaloneConsole';
import { TOKEN_KEY } from './session';

const GOOD = 'aiops_good';

function api(options: { revoked?: boolean } = {}) {
  const authorized = (call: Call) => !options.revoked && call.headers.authorization === `Bearer ${GOOD}`;
  const guard = (body: unknown) => (call: Call) =>
    authorized(call) ? { body } : { status: 401, body: { detail: 'invalid or revoked token' } };
  return mockFetch(
    routes({
      'GET /whoami': guard({ name: 'officer', role: 'approver' }),
      'GET /incidents': guard({ items: [incident()], total: 1, limit: 25, offset: 0 }),
      'GET /approvals': guard({ items: [action()] }),
    })
  );
}

function renderStandalone(storage: Storage, fetchImpl: typeof fetch) {
  return render(
    <StandaloneConsole
      storage={storage}
      fetchImpl={fetchImpl}
      router={(children) => (
        <MemoryRouter initialEntries={['/incidents']} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
          {children}
        </MemoryRouter>
      )}
    />
  );
}

describe('StandaloneConsole', () => {
  beforeEach(() => window.sessionStorage.clear());

  test('signs in with a pasted token, keeps it for the tab, and shows the pages', async () => {
    const { fetchImpl } = api();
    renderStandalone(window.sessionStorage, fetchImpl);
    fireEvent.change(screen.getByLabelText('Token'), { target: { value: ` ${GOOD} ` } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('link', { name: 'Comms outage on vsat-modem-01' })).toBeInTheDocument();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBe(GOOD);
    const nav = screen.getByRole('navigation', { name: 'Console pages' });
    for (const page of ['Incidents', 'Approvals', 'Actions history', 'Policy viewer']) {
      expect(nav).toHaveTextContent(page);
    }
    expect(screen.getByText('officer')).toBeInTheDocument();
    expect(await screen.findByLabelText('1 pending')).toBeInTheDocument();
  });

  test('a wrong token is refused at the sign-in form and not stored', async () => {
    const { fetchImpl } = api();
    renderStandalone(window.sessionStorage, fetchImpl);
    fireEvent.change(screen.getByLabelText('Token'), { target: { value: 'aiops_wrong' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText(/Not signed in or the token is no longer valid/)).toBeInTheDocument();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  test('a token kept from before the reload signs in again without the form', async () => {
    window.sessionStorage.setItem(TOKEN_KEY, GOOD);
    const { fetchImpl } = api();
    renderStandalone(window.sessionStorage, fetchImpl);
    expect(await screen.findByRole('link', { name: 'Comms outage on vsat-modem-01' })).toBeInTheDocument();
    expect(screen.queryByLabelText('Token')).not.toBeInTheDocument();
  });

  test('a revoked token sends the user back to the sign-in form', async () => {
    window.sessionStorage.setItem(TOKEN_KEY, GOOD);
    const { fetchImpl } = api({ revoked: true });
    renderStandalone(window.sessionStorage, fetchImpl);
    expect(await screen.findByLabelText('Token')).toBeInTheDocument();
    await waitFor(() => expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull());
  });

  test('sign out forgets the token', async () => {
    window.sessionStorage.setItem(TOKEN_KEY, GOOD);
    const { fetchImpl } = api();
    renderStandalone(window.sessionStorage, fetchImpl);
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    expect(await screen.findByLabelText('Token')).toBeInTheDocument();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });
});
