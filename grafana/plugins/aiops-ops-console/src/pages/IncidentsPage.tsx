import React, { useCallback, useState } from 'react';
import { Link } from 'react-router-dom';
import { Button, Combobox, Field, Input, Pagination, RadioButtonGroup, useStyles2 } from '@grafana/ui';
import {
  INCIDENT_STATUSES,
  INCIDENT_TYPES,
  SEVERITIES,
  type IncidentFilters,
  type IncidentStatus,
  type IncidentType,
  type Severity,
} from '../api/types';
import { IncidentStatusBadge, SeverityBadge } from '../components/Badges';
import { consolePath, useConsole } from '../components/ConsoleContext';
import { ErrorNotice } from '../components/ErrorNotice';
import { getConsoleStyles } from '../components/styles';
import { useAsync } from '../components/useAsync';
import { useAutoRefresh } from '../components/useAutoRefresh';
import { ROUTES } from '../constants';
import { formatRelative, formatTime, humanize } from '../lib/format';

export const PAGE_SIZE = 25;
const REFRESH_MS = 30000;

const STATUS_OPTIONS = [
  { label: 'All', value: '' },
  ...INCIDENT_STATUSES.map((s) => ({ label: humanize(s), value: s })),
];
const SEVERITY_OPTIONS = [{ label: 'All', value: '' }, ...SEVERITIES.map((s) => ({ label: humanize(s), value: s }))];
const TYPE_OPTIONS = INCIDENT_TYPES.map((t) => ({ label: humanize(t), value: t }));

export function IncidentsPage() {
  const { api, basePath } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const [filters, setFilters] = useState<IncidentFilters>({ status: '', severity: '', incident_type: '', ship_id: '' });
  const [shipInput, setShipInput] = useState('');
  const [page, setPage] = useState(1);

  const incidents = useAsync(
    () => api.listIncidents({ ...filters, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }),
    [api, filters, page]
  );
  useAutoRefresh(incidents.reload, REFRESH_MS);

  const applyFilter = useCallback((change: Partial<IncidentFilters>) => {
    setFilters((previous) => ({ ...previous, ...change }));
    setPage(1);
  }, []);

  const items = incidents.value?.items ?? [];
  const total = incidents.value?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));

  return (
    <div>
      <div className={s.toolbar}>
        <Field label="Status" noMargin>
          <RadioButtonGroup<string>
            aria-label="Status filter"
            options={STATUS_OPTIONS}
            value={filters.status ?? ''}
            onChange={(value) => applyFilter({ status: value as IncidentStatus | '' })}
          />
        </Field>
        <Field label="Severity" noMargin>
          <RadioButtonGroup<string>
            aria-label="Severity filter"
            options={SEVERITY_OPTIONS}
            value={filters.severity ?? ''}
            onChange={(value) => applyFilter({ severity: value as Severity | '' })}
          />
        </Field>
        <Field label="Type" noMargin>
          <Combobox<string>
            id="incident-type-filter"
            placeholder="All types"
            width={26}
            isClearable
            options={TYPE_OPTIONS}
            value={filters.incident_type || null}
            onChange={(option) => applyFilter({ incident_type: (option?.value ?? '') as IncidentType | '' })}
          />
        </Field>
        <Field label="Ship" noMargin>
          <Input
            aria-label="Ship filter"
            placeholder="all ships"
            width={20}
            value={shipInput}
            onChange={(event) => setShipInput(event.currentTarget.value.trim())}
            onBlur={() => applyFilter({ ship_id: shipInput })}
            onKeyDown={(event) => {
              if (event.key === 'Enter') {
                applyFilter({ ship_id: shipInput });
              }
            }}
          />
        </Field>
        <Button variant="secondary" icon="sync" onClick={incidents.reload} disabled={incidents.loading}>
          Refresh
        </Button>
      </div>

      <ErrorNotice title="Could not load incidents" error={incidents.error} />

      <table className={s.table} aria-label="Incidents">
        <thead>
          <tr>
            <th>Severity</th>
            <th>Incident</th>
            <th>Type</th>
            <th>Ship</th>
            <th>Root cause</th>
            <th>Status</th>
            <th>Anomalies</th>
            <th>Insight</th>
            <th>Last seen</th>
          </tr>
        </thead>
        <tbody>
          {items.map((incident) => (
            <tr key={incident.incident_id}>
              <td>
                <SeverityBadge severity={incident.severity} />
              </td>
              <td>
                <Link to={consolePath(basePath, ROUTES.Incidents, incident.incident_id)}>{incident.title}</Link>
              </td>
              <td className={s.nowrap}>{humanize(incident.incident_type)}</td>
              <td className={s.nowrap}>{incident.ship_id}</td>
              <td className={s.mono}>{incident.root_cause_device}</td>
              <td>
                <IncidentStatusBadge status={incident.status} />
              </td>
              <td>{incident.anomaly_count}</td>
              <td className={s.muted}>
                {incident.insight ? (incident.insight.source === 'llm' ? 'LLM' : 'Fallback') : '—'}
              </td>
              <td className={s.nowrap} title={formatTime(incident.last_seen)}>
                {formatRelative(incident.last_seen)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!incidents.loading && !incidents.error && items.length === 0 && (
        <p className={s.muted}>No incidents match these filters.</p>
      )}
      <div className={s.toolbar}>
        <span className={s.muted}>
          {total} incident{total === 1 ? '' : 's'}
        </span>
        {pages > 1 && <Pagination currentPage={page} numberOfPages={pages} onNavigate={setPage} />}
      </div>
    </div>
  );
}

export default IncidentsPage;
