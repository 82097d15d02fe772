import React, { useState } from 'react';
import { Link } from 'react-router-dom';
import { Button, Combobox, Field, Input, Pagination, Tab, TabsBar, useStyles2 } from '@grafana/ui';
import { ACTION_STATUSES, type ActionStatus } from '../api/types';
import { ActionStatusBadge, RiskBadge } from '../components/Badges';
import { consolePath, useConsole } from '../components/ConsoleContext';
import { ErrorNotice } from '../components/ErrorNotice';
import { getConsoleStyles } from '../components/styles';
import { useAsync } from '../components/useAsync';
import { ROUTES } from '../constants';
import { formatParameters, formatRelative, formatTime, formatValue, humanize } from '../lib/format';

export const HISTORY_PAGE_SIZE = 50;
const STATUS_OPTIONS = ACTION_STATUSES.map((status) => ({ label: humanize(status), value: status }));

type View = 'actions' | 'audit';

/** Actions history, and the audit log of every mutation that led to it. */
export function ActionsPage() {
  const [view, setView] = useState<View>('actions');
  return (
    <div>
      <TabsBar>
        <Tab label="Actions" active={view === 'actions'} onChangeTab={() => setView('actions')} />
        <Tab label="Audit log" active={view === 'audit'} onChangeTab={() => setView('audit')} />
      </TabsBar>
      <div style={{ paddingTop: 16 }}>{view === 'actions' ? <ActionsHistory /> : <AuditLog />}</div>
    </div>
  );
}

function pageCount(total: number): number {
  return Math.max(1, Math.ceil(total / HISTORY_PAGE_SIZE));
}

function ActionsHistory() {
  const { api, basePath } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const [status, setStatus] = useState<ActionStatus | ''>('');
  const [page, setPage] = useState(1);
  const actions = useAsync(
    () => api.listActions({ status, limit: HISTORY_PAGE_SIZE, offset: (page - 1) * HISTORY_PAGE_SIZE }),
    [api, status, page]
  );
  const items = actions.value?.items ?? [];
  const total = actions.value?.total ?? 0;

  return (
    <>
      <div className={s.toolbar}>
        <Field label="Status" noMargin>
          <Combobox<string>
            id="action-status-filter"
            placeholder="All statuses"
            width={24}
            isClearable
            options={STATUS_OPTIONS}
            value={status || null}
            onChange={(option) => {
              setStatus((option?.value ?? '') as ActionStatus | '');
              setPage(1);
            }}
          />
        </Field>
        <Button variant="secondary" icon="sync" onClick={actions.reload} disabled={actions.loading}>
          Refresh
        </Button>
      </div>
      <ErrorNotice title="Could not load actions" error={actions.error} />
      <table className={s.table} aria-label="Actions">
        <thead>
          <tr>
            <th>Requested</th>
            <th>Action</th>
            <th>Target</th>
            <th>Parameters</th>
            <th>Risk</th>
            <th>Status</th>
            <th>Requested by</th>
            <th>Approved by</th>
            <th>Result</th>
          </tr>
        </thead>
        <tbody>
          {items.map((action) => (
            <tr key={action.action_id}>
              <td className={s.nowrap} title={formatTime(action.created_at)}>
                {formatRelative(action.created_at)}
              </td>
              <td>
                {humanize(action.action)}
                {action.incident_id && (
                  <div>
                    <Link to={consolePath(basePath, ROUTES.Incidents, action.incident_id)}>incident</Link>
                  </div>
                )}
              </td>
              <td className={s.mono}>{action.target_device}</td>
              <td className={s.mono}>{formatParameters(action.parameters)}</td>
              <td>
                <RiskBadge risk={action.risk} />
              </td>
              <td>
                <ActionStatusBadge status={action.status} />
              </td>
              <td>{action.requested_by}</td>
              <td>{action.approved_by.join(', ') || '—'}</td>
              <td>
                {action.result ?? '—'}
                {action.dry_run && action.result ? <span className={s.muted}> (dry run)</span> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!actions.loading && !actions.error && items.length === 0 && <p className={s.muted}>No actions yet.</p>}
      <div className={s.toolbar}>
        <span className={s.muted}>
          {total} action{total === 1 ? '' : 's'}
        </span>
        {pageCount(total) > 1 && (
          <Pagination currentPage={page} numberOfPages={pageCount(total)} onNavigate={setPage} />
        )}
      </div>
    </>
  );
}

function AuditLog() {
  const { api } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const [applied, setApplied] = useState({ actor: '', action: '' });
  const [page, setPage] = useState(1);
  const audit = useAsync(
    () => api.audit({ ...applied, limit: HISTORY_PAGE_SIZE, offset: (page - 1) * HISTORY_PAGE_SIZE }),
    [api, applied, page]
  );
  const items = audit.value?.items ?? [];
  const total = audit.value?.total ?? 0;
  const apply = () => {
    setApplied({ actor, action });
    setPage(1);
  };

  return (
    <>
      <form
        className={s.toolbar}
        onSubmit={(event) => {
          event.preventDefault();
          apply();
        }}
      >
        <Field label="Actor" noMargin>
          <Input aria-label="Audit actor" width={20} value={actor} onChange={(e) => setActor(e.currentTarget.value)} />
        </Field>
        <Field label="Action" noMargin>
          <Input
            aria-label="Audit action"
            width={24}
            value={action}
            onChange={(e) => setAction(e.currentTarget.value)}
          />
        </Field>
        <Button type="submit" variant="secondary" icon="search">
          Filter
        </Button>
      </form>
      <ErrorNotice title="Could not load the audit log" error={audit.error} />
      <table className={s.table} aria-label="Audit log">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            <th>Target</th>
            <th>Result</th>
            <th>Details</th>
          </tr>
        </thead>
        <tbody>
          {items.map((event) => (
            <tr key={event.audit_id}>
              <td className={s.nowrap}>{formatTime(event.at)}</td>
              <td className={s.nowrap}>
                {event.actor} <span className={s.muted}>({event.role})</span>
              </td>
              <td className={s.mono}>{event.action}</td>
              <td className={s.mono}>{event.target}</td>
              <td>{event.result}</td>
              <td className={s.mono}>{Object.keys(event.details).length ? formatValue(event.details) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!audit.loading && !audit.error && items.length === 0 && <p className={s.muted}>No audit entries.</p>}
      <div className={s.toolbar}>
        <span className={s.muted}>
          {total} entr{total === 1 ? 'y' : 'ies'}
        </span>
        {pageCount(total) > 1 && (
          <Pagination currentPage={page} numberOfPages={pageCount(total)} onNavigate={setPage} />
        )}
      </div>
    </>
  );
}

export default ActionsPage;
