import React, { useCallback, useEffect, useMemo, useState } from 'react';
import { css } from '@emotion/css';
import { BrowserRouter, NavLink, useLocation } from 'react-router-dom';
import { createTheme, type GrafanaTheme2 } from '@grafana/data';
import { Badge, Button, GlobalStyles, LoadingPlaceholder, ThemeContext, useStyles2 } from '@grafana/ui';
import { ApiError, OpsApi, fetchTransport } from '../api/client';
import type { Identity } from '../api/types';
import { ConsoleProvider, consolePath } from '../components/ConsoleContext';
import { useAsync } from '../components/useAsync';
import { useAutoRefresh } from '../components/useAutoRefresh';
import { PAGE_TITLES, ROUTES } from '../constants';
import { ConsoleRoutes } from '../routes/ConsoleRoutes';
import { SignIn } from './SignIn';
import { API_BASE, STANDALONE_BASENAME } from './paths';
import { clearToken, readToken, saveToken } from './session';

const NAV: ROUTES[] = [ROUTES.Incidents, ROUTES.Approvals, ROUTES.Actions, ROUTES.Policies];

interface Props {
  storage?: Storage;
  fetchImpl?: typeof fetch;
  /** Tests render under a MemoryRouter instead of the browser's location. */
  router?: (children: React.ReactNode) => React.ReactElement;
}

const browserRouter = (children: React.ReactNode) => (
  <BrowserRouter basename={STANDALONE_BASENAME}>{children}</BrowserRouter>
);

/** The console outside Grafana: token sign-in, a nav bar, and the same pages as the app plugin. */
export function StandaloneConsole({ storage = window.sessionStorage, fetchImpl, router = browserRouter }: Props) {
  const theme = useMemo(() => createTheme({ colors: { mode: 'dark' } }), []);
  const [token, setToken] = useState<string | null>(() => readToken(storage));
  const [me, setMe] = useState<Identity | null>(null);
  const [notice, setNotice] = useState<string>();

  const signOut = useCallback(
    (why?: string) => {
      clearToken(storage);
      setToken(null);
      setMe(null);
      setNotice(why);
    },
    [storage]
  );

  const api = useMemo(
    () =>
      new OpsApi(
        fetchTransport({
          baseUrl: API_BASE,
          token: () => readToken(storage),
          onUnauthorized: () => signOut('Your token is no longer accepted; sign in again.'),
          fetchImpl,
        })
      ),
    [storage, fetchImpl, signOut]
  );

  // A reload of the tab keeps the token: find out again who it belongs to.
  useEffect(() => {
    if (token && !me) {
      api.whoami().then(setMe, (error: unknown) => {
        if (!(error instanceof ApiError && error.status === 401)) {
          setNotice(`Could not reach the incident-api: ${error instanceof Error ? error.message : String(error)}`);
        }
      });
    }
  }, [api, token, me]);

  const signIn = async (candidate: string) => {
    const probe = new OpsApi(fetchTransport({ baseUrl: API_BASE, token: () => candidate, fetchImpl }));
    const identity = await probe.whoami();
    saveToken(candidate, storage);
    setToken(candidate);
    setMe(identity);
    setNotice(undefined);
  };

  let body: React.ReactNode;
  if (!token) {
    body = <SignIn onSignIn={signIn} notice={notice} />;
  } else if (!me) {
    body = notice ? <SignIn onSignIn={signIn} notice={notice} /> : <LoadingPlaceholder text="Signing in…" />;
  } else {
    body = router(<Shell me={me} api={api} onSignOut={() => signOut()} />);
  }
  return (
    <ThemeContext.Provider value={theme}>
      <GlobalStyles />
      {body}
    </ThemeContext.Provider>
  );
}

function Shell({ me, api, onSignOut }: { me: Identity; api: OpsApi; onSignOut: () => void }) {
  const s = useStyles2(getStyles);
  const location = useLocation();
  const pending = useAsync(() => api.approvals('pending'), [api, location.pathname]);
  useAutoRefresh(pending.reload, 30000);
  const pendingCount = pending.value?.items.length ?? 0;
  const env = useMemo(() => ({ api, me, basePath: '', onMutation: pending.reload }), [api, me, pending.reload]);
  const section = NAV.find((route) => location.pathname.startsWith(`/${route}`)) ?? ROUTES.Incidents;

  return (
    <ConsoleProvider env={env}>
      <div className={s.layout}>
        <header className={s.header}>
          <span className={s.brand}>AIOps Operations Console</span>
          <nav className={s.nav} aria-label="Console pages">
            {NAV.map((route) => (
              <NavLink
                key={route}
                to={consolePath('', route)}
                className={({ isActive }) => (isActive ? s.active : s.link)}
              >
                {PAGE_TITLES[route]}
                {route === ROUTES.Approvals && pendingCount > 0 && (
                  <span className={s.counter} aria-label={`${pendingCount} pending`}>
                    {pendingCount}
                  </span>
                )}
              </NavLink>
            ))}
          </nav>
          <span className={s.who}>
            {me.name} <Badge color="blue" text={me.role} />
          </span>
          <Button size="sm" variant="secondary" fill="outline" onClick={onSignOut}>
            Sign out
          </Button>
        </header>
        <main className={s.main}>
          <h1 className={s.title}>{PAGE_TITLES[section]}</h1>
          <ConsoleRoutes />
        </main>
      </div>
    </ConsoleProvider>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  layout: css({ minHeight: '100vh', background: theme.colors.background.canvas }),
  header: css({
    display: 'flex',
    alignItems: 'center',
    gap: theme.spacing(3),
    padding: theme.spacing(1, 3),
    background: theme.colors.background.primary,
    borderBottom: `1px solid ${theme.colors.border.weak}`,
  }),
  brand: css({ fontWeight: theme.typography.fontWeightBold, fontSize: theme.typography.h5.fontSize }),
  nav: css({ display: 'flex', gap: theme.spacing(0.5), flex: 1 }),
  link: css({
    padding: theme.spacing(1, 1.5),
    borderRadius: theme.shape.radius.default,
    color: theme.colors.text.secondary,
    '&:hover': { color: theme.colors.text.primary, background: theme.colors.action.hover },
  }),
  active: css({
    padding: theme.spacing(1, 1.5),
    borderRadius: theme.shape.radius.default,
    color: theme.colors.text.primary,
    background: theme.colors.action.selected,
    boxShadow: `inset 0 -2px 0 ${theme.colors.primary.main}`,
  }),
  counter: css({
    marginLeft: theme.spacing(1),
    padding: theme.spacing(0, 0.75),
    borderRadius: theme.shape.radius.pill,
    background: theme.colors.warning.main,
    color: theme.colors.warning.contrastText,
    fontSize: theme.typography.bodySmall.fontSize,
  }),
  who: css({ color: theme.colors.text.secondary, display: 'flex', alignItems: 'center', gap: theme.spacing(1) }),
  main: css({ padding: theme.spacing(2, 3), maxWidth: 1600, margin: '0 auto' }),
  title: css({ fontSize: theme.typography.h2.fontSize, marginBottom: theme.spacing(2) }),
});
