import React, { useState } from 'react';
import { Link } from 'react-router-dom';
import { Alert, Button, Field, RadioButtonGroup, Stack, TextArea, useStyles2 } from '@grafana/ui';
import type { Action, ApprovalScope, Decision } from '../api/types';
import { ActionStatusBadge, RiskBadge } from '../components/Badges';
import { consolePath, useConsole } from '../components/ConsoleContext';
import { ErrorNotice } from '../components/ErrorNotice';
import { getConsoleStyles } from '../components/styles';
import { useAsync } from '../components/useAsync';
import { useAutoRefresh } from '../components/useAutoRefresh';
import { ROUTES } from '../constants';
import { formatParameters, formatRelative, formatTime, humanize } from '../lib/format';
import { approvalBlocker, approvalProgress } from '../lib/status';

const REFRESH_MS = 15000;
const SCOPES = [
  { label: 'Pending', value: 'pending' as ApprovalScope },
  { label: 'Mine', value: 'mine' as ApprovalScope, description: 'Actions I requested or decided on' },
];

export function ApprovalsPage() {
  const { api } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const [scope, setScope] = useState<ApprovalScope>('pending');
  const [notice, setNotice] = useState<string>();
  const approvals = useAsync(() => api.approvals(scope), [api, scope]);
  useAutoRefresh(approvals.reload, REFRESH_MS);
  const items = approvals.value?.items ?? [];

  return (
    <div>
      <div className={s.toolbar}>
        <RadioButtonGroup<ApprovalScope>
          aria-label="Approval scope"
          options={SCOPES}
          value={scope}
          onChange={setScope}
        />
        <Button variant="secondary" icon="sync" onClick={approvals.reload} disabled={approvals.loading}>
          Refresh
        </Button>
      </div>
      {notice && <Alert severity="success" title={notice} onRemove={() => setNotice(undefined)} />}
      <ErrorNotice title="Could not load approvals" error={approvals.error} />
      {!approvals.loading && !approvals.error && items.length === 0 && (
        <p className={s.muted}>{scope === 'pending' ? 'Nothing waits for approval.' : 'No actions of yours.'}</p>
      )}
      {items.map((action) => (
        <ApprovalCard
          key={action.action_id}
          action={action}
          onDecided={(decided, decision) => {
            setNotice(
              `${decision === 'approved' ? 'Approved' : 'Rejected'} ${humanize(decided.action)} on ${decided.target_device}: ` +
                `now ${humanize(decided.status).toLowerCase()} (${approvalProgress(decided)}).`
            );
            approvals.reload();
          }}
        />
      ))}
    </div>
  );
}

function ApprovalCard({
  action,
  onDecided,
}: {
  action: Action;
  onDecided: (action: Action, decision: Decision) => void;
}) {
  const { api, me, basePath, onMutation } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const blocker = approvalBlocker(action, me);

  const decide = async (decision: Decision) => {
    setBusy(true);
    setError(undefined);
    try {
      onDecided(await api.decide(action.action_id, decision, comment), decision);
      setComment('');
      onMutation?.();
    } catch (caught) {
      setError(caught instanceof Error ? caught : new Error(String(caught)));
    } finally {
      setBusy(false);
    }
  };

  const title = `${humanize(action.action)} on ${action.target_device}`;
  return (
    <section className={s.panel} aria-label={title} data-action-id={action.action_id}>
      <Stack gap={1} alignItems="center" wrap="wrap">
        <h3 className={s.panelTitle} style={{ margin: 0 }}>
          {title}
        </h3>
        <RiskBadge risk={action.risk} />
        <ActionStatusBadge status={action.status} />
        <span className={s.muted}>{approvalProgress(action)}</span>
      </Stack>
      <dl className={s.facts} style={{ marginTop: 12 }}>
        <dt>Requested by</dt>
        <dd>
          {action.requested_by} · {formatRelative(action.created_at)}{' '}
          <span className={s.muted}>({formatTime(action.created_at)})</span>
        </dd>
        <dt>Parameters</dt>
        <dd className={s.mono}>{formatParameters(action.parameters)}</dd>
        <dt>Reason</dt>
        <dd>{action.reason || '—'}</dd>
        <dt>Incident</dt>
        <dd>
          {action.incident_id ? (
            <Link className={s.link} to={consolePath(basePath, ROUTES.Incidents, action.incident_id)}>
              open the incident
            </Link>
          ) : (
            '—'
          )}
        </dd>
        <dt>Execution</dt>
        <dd>
          {action.dry_run ? 'dry run (records what would run, changes nothing)' : 'live'}
          {action.only_in_maintenance_window ? ' · only in a maintenance window' : ''}
        </dd>
        {action.pre_checks && action.pre_checks.length > 0 && (
          <>
            <dt>Pre-checks</dt>
            <dd>{action.pre_checks.join('; ')}</dd>
          </>
        )}
        {action.post_checks && action.post_checks.length > 0 && (
          <>
            <dt>Post-checks</dt>
            <dd>{action.post_checks.join('; ')}</dd>
          </>
        )}
        {action.status === 'pending_approval' && action.expires_at && (
          <>
            <dt>Expires</dt>
            <dd>{formatTime(action.expires_at)}</dd>
          </>
        )}
        {action.cooldown_until && (
          <>
            <dt>Cooldown until</dt>
            <dd>{formatTime(action.cooldown_until)}</dd>
          </>
        )}
        {action.result && (
          <>
            <dt>Result</dt>
            <dd>{action.result}</dd>
          </>
        )}
      </dl>
      {action.approvals.length > 0 && (
        <table className={s.table} aria-label="Decisions" style={{ marginTop: 12 }}>
          <thead>
            <tr>
              <th>Approver</th>
              <th>Decision</th>
              <th>Comment</th>
              <th>When</th>
            </tr>
          </thead>
          <tbody>
            {action.approvals.map((approval) => (
              <tr key={approval.approval_id}>
                <td>{approval.approver}</td>
                <td>{humanize(approval.decision)}</td>
                <td>{approval.comment || '—'}</td>
                <td className={s.nowrap}>{formatTime(approval.at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {action.status === 'pending_approval' && (
        <div style={{ marginTop: 12 }}>
          <Field label="Comment" description={blocker ?? 'Saved with your decision in the audit log'}>
            <TextArea
              aria-label={`Comment on ${title}`}
              rows={2}
              value={comment}
              disabled={Boolean(blocker)}
              onChange={(event) => setComment(event.currentTarget.value)}
            />
          </Field>
          <Stack gap={1}>
            <Button disabled={busy || Boolean(blocker)} onClick={() => decide('approved')}>
              Approve
            </Button>
            <Button variant="destructive" disabled={busy || Boolean(blocker)} onClick={() => decide('rejected')}>
              Reject
            </Button>
          </Stack>
        </div>
      )}
      <ErrorNotice title="Decision refused" error={error} />
    </section>
  );
}

export default ApprovalsPage;
