import React, { useState } from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { Alert, Button, Field, Input, useStyles2 } from '@grafana/ui';
import { explainError } from '../components/ErrorNotice';

interface Props {
  /** Checks the token against the API (GET /whoami); rejects with the API's error. */
  onSignIn: (token: string) => Promise<void>;
  notice?: string;
}

export function SignIn({ onSignIn, notice }: Props) {
  const s = useStyles2(getStyles);
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  return (
    <div className={s.page}>
      <form
        className={s.card}
        aria-label="Sign in"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await onSignIn(token.trim());
          } catch (caught) {
            setError(caught instanceof Error ? explainError(caught) : String(caught));
            setBusy(false);
          }
        }}
      >
        <h1 className={s.title}>AIOps Operations Console</h1>
        <p className={s.muted}>
          Paste an incident-api token. The node writes an admin token to <code>&lt;data-dir&gt;/admin.token</code>;{' '}
          <code>aiops token create --role approver --name you</code> makes a personal one.
        </p>
        {notice && <Alert severity="warning" title={notice} />}
        <Field label="Token" invalid={Boolean(error)} error={error}>
          <Input
            id="console-token"
            type="password"
            autoComplete="off"
            autoFocus
            placeholder="aiops_…"
            value={token}
            onChange={(event) => setToken(event.currentTarget.value)}
          />
        </Field>
        <Button type="submit" disabled={busy || !token.trim()}>
          Sign in
        </Button>
      </form>
    </div>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  page: css({
    minHeight: '100vh',
    display: 'flex',
    alignItems: 'center',
    justifyContent: 'center',
    background: theme.colors.background.canvas,
  }),
  card: css({
    width: 480,
    maxWidth: '92vw',
    padding: theme.spacing(4),
    background: theme.colors.background.primary,
    border: `1px solid ${theme.colors.border.weak}`,
    borderRadius: theme.shape.radius.default,
    boxShadow: theme.shadows.z3,
  }),
  title: css({ fontSize: theme.typography.h3.fontSize, marginBottom: theme.spacing(1) }),
  muted: css({ color: theme.colors.text.secondary, marginBottom: theme.spacing(2) }),
});
