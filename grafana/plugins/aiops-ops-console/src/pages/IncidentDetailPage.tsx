import React, { useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { Alert, Badge, Button, Field, Input, LoadingPlaceholder, Stack, TextArea, useStyles2 } from '@grafana/ui';
import type { Incident, IncidentDetail, IncidentStatus, Insight } from '../api/types';
import { ActionStatusBadge, IncidentStatusBadge, RiskBadge, SeverityBadge } from '../components/Badges';
import { consolePath, useConsole } from '../components/ConsoleContext';
import { ErrorNotice } from '../components/ErrorNotice';
import { getConsoleStyles } from '../components/styles';
import { useAsync } from '../components/useAsync';
import { ROUTES } from '../constants';
import {
  formatDuration,
  formatParameters,
  formatPercent,
  formatRelative,
  formatTime,
  humanize,
  shortId,
} from '../lib/format';
import { approvalProgress, canTransition, hasRole } from '../lib/status';

/** The most tracking ids offered for tracing; a storm incident can hold thousands. */
const TRACE_CHOICES = 20;

export function IncidentDetailPage() {
  const { incidentId = '' } = useParams();
  const { api, basePath } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const incident = useAsync(() => api.getIncident(incidentId), [api, incidentId]);

  if (!incident.value) {
    return (
      <div>
        <BackLink basePath={basePath} />
        <ErrorNotice title="Could not load the incident" error={incident.error} />
        {incident.loading && <LoadingPlaceholder text="Loading incident…" />}
      </div>
    );
  }
  const detail = incident.value;
  return (
    <div>
      <BackLink basePath={basePath} />
      <h2>{detail.title}</h2>
      <Stack gap={1} wrap="wrap" alignItems="center">
        <SeverityBadge severity={detail.severity} />
        <IncidentStatusBadge status={detail.status} />
        <Badge color="blue" text={humanize(detail.incident_type)} />
        <span className={s.muted}>
          ship {detail.ship_id} · opened {formatRelative(detail.created_at)} · v{detail.version}
        </span>
      </Stack>
      <ErrorNotice title="Could not refresh the incident" error={incident.error} />

      <Stack gap={2} direction={{ xs: 'column', lg: 'row' }} alignItems="flex-start">
        <div style={{ flex: 3, minWidth: 0, width: '100%' }}>
          <Facts incident={detail} />
          <InsightPanel insight={detail.insight} basePath={basePath} />
          <TimelinePanel incident={detail} />
          <TracePanel key={detail.incident_id} incident={detail} />
        </div>
        <div style={{ flex: 2, minWidth: 0, width: '100%' }}>
          <StatusPanel incident={detail} onChanged={incident.reload} />
          <IncidentActionsPanel incidentId={detail.incident_id} />
        </div>
      </Stack>
    </div>
  );
}

function BackLink({ basePath }: { basePath: string }) {
  const s = useStyles2(getConsoleStyles);
  return (
    <Link className={s.link} to={consolePath(basePath, ROUTES.Incidents)}>
      ← All incidents
    </Link>
  );
}

function Facts({ incident }: { incident: IncidentDetail }) {
  const s = useStyles2(getConsoleStyles);
  return (
    <section className={s.panel} aria-label="Facts">
      <h3 className={s.panelTitle}>Facts</h3>
      <dl className={s.facts}>
        <dt>Root cause device</dt>
        <dd className={s.mono}>{incident.root_cause_device}</dd>
        {incident.root_cause_reason && (
          <>
            <dt>Why</dt>
            <dd>{incident.root_cause_reason}</dd>
          </>
        )}
        <dt>Affected devices</dt>
        <dd className={s.mono}>{incident.affected_devices.join(', ') || '—'}</dd>
        <dt>Services</dt>
        <dd>{incident.services.join(', ') || '—'}</dd>
        <dt>Anomalies</dt>
        <dd>
          {incident.anomaly_count} ({incident.detectors.join(', ') || 'no detector'})
        </dd>
        <dt>First seen</dt>
        <dd>{formatTime(incident.first_seen)}</dd>
        <dt>Last seen</dt>
        <dd>{formatTime(incident.last_seen)}</dd>
        <dt>Runbooks</dt>
        <dd>{incident.runbook_refs.join(', ') || '—'}</dd>
        {incident.suppressed_by && (
          <>
            <dt>Suppressed by</dt>
            <dd>{incident.suppressed_by}</dd>
          </>
        )}
      </dl>
    </section>
  );
}

function InsightPanel({ insight, basePath }: { insight: Insight | null; basePath: string }) {
  const s = useStyles2(getConsoleStyles);
  if (!insight) {
    return (
      <section className={s.panel} aria-label="AI insight">
        <h3 className={s.panelTitle}>AI insight</h3>
        <p className={s.muted}>No insight yet: the insight path adds one a few seconds after the incident changes.</p>
      </section>
    );
  }
  return (
    <section className={s.panel} aria-label="AI insight">
      <Stack gap={1} alignItems="center" wrap="wrap">
        <h3 className={s.panelTitle}>AI insight</h3>
        {insight.source === 'llm' ? (
          <Badge color="purple" icon="ai-sparkle" text={`LLM${insight.model ? ` · ${insight.model}` : ''}`} />
        ) : (
          <Badge color="darkgrey" text="Fallback (runbooks and similar incidents)" />
        )}
        <span className={s.muted}>
          confidence {formatPercent(insight.confidence)} · {formatDuration(insight.latency_ms)}
          {insight.cached ? ' · cached' : ''}
        </span>
      </Stack>
      <dl className={s.facts}>
        <dt>Root cause</dt>
        <dd>{insight.root_cause}</dd>
        <dt>Impact</dt>
        <dd>{insight.impact}</dd>
      </dl>
      {insight.recommendations.length > 0 && (
        <>
          <h4 className={s.subTitle}>Recommendations</h4>
          <ol className={s.list}>
            {insight.recommendations.map((recommendation, index) => (
              <li key={index}>{recommendation}</li>
            ))}
          </ol>
        </>
      )}
      {insight.similar_incidents.length > 0 && (
        <>
          <h4 className={s.subTitle}>Similar incidents</h4>
          <ul className={s.list}>
            {insight.similar_incidents.map((similar) => (
              <li key={similar.incident_id}>
                <Link className={s.link} to={consolePath(basePath, ROUTES.Incidents, similar.incident_id)}>
                  {similar.title}
                </Link>{' '}
                <span className={s.muted}>({formatPercent(similar.similarity)} similar)</span>
                {similar.resolution && <div className={s.muted}>Resolved by: {similar.resolution}</div>}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function TimelinePanel({ incident }: { incident: IncidentDetail }) {
  const s = useStyles2(getConsoleStyles);
  const events = [...incident.timeline].sort((a, b) => a.at.localeCompare(b.at));
  return (
    <section className={s.panel} aria-label="Timeline">
      <h3 className={s.panelTitle}>Timeline</h3>
      {events.length === 0 ? (
        <p className={s.muted}>No events.</p>
      ) : (
        <table className={s.table}>
          <thead>
            <tr>
              <th>When</th>
              <th>Kind</th>
              <th>What</th>
              <th>Who / where</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event, index) => (
              <tr key={`${event.at}-${index}`}>
                <td className={s.nowrap}>{formatTime(event.at)}</td>
                <td>{humanize(event.kind)}</td>
                <td>{event.summary}</td>
                <td className={s.mono}>{[event.actor, event.device_id].filter(Boolean).join(' · ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function TracePanel({ incident }: { incident: Incident }) {
  const { api } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const choices = incident.tracking_ids.slice(0, TRACE_CHOICES);
  const [selected, setSelected] = useState<string | undefined>(choices[0]);
  const trace = useAsync(() => (selected ? api.trace(selected) : Promise.resolve(undefined)), [api, selected]);

  return (
    <section className={s.panel} aria-label="Trace">
      <h3 className={s.panelTitle}>Trace</h3>
      {choices.length === 0 ? (
        <p className={s.muted}>No log behind this incident (opened by hand), so nothing to trace.</p>
      ) : (
        <>
          <Stack gap={1} wrap="wrap">
            {choices.map((id) => (
              <Button
                key={id}
                size="sm"
                variant={id === selected ? 'primary' : 'secondary'}
                fill={id === selected ? 'solid' : 'outline'}
                title={id}
                onClick={() => setSelected(id)}
              >
                {shortId(id)}
              </Button>
            ))}
            {incident.tracking_ids.length > choices.length && (
              <span className={s.muted}>and {incident.tracking_ids.length - choices.length} more</span>
            )}
          </Stack>
          <ErrorNotice title="Could not load the trace" error={trace.error} />
          {trace.value && (
            <>
              <p className={s.muted}>
                tracking id <span className={s.mono}>{trace.value.tracking_id}</span> · total{' '}
                {formatDuration(trace.value.total_latency_ms)}
              </p>
              <table className={s.table} aria-label="Trace stages">
                <thead>
                  <tr>
                    <th>Stage</th>
                    <th>Service</th>
                    <th>At</th>
                    <th>Duration</th>
                    <th>Since ingestion</th>
                  </tr>
                </thead>
                <tbody>
                  {trace.value.stages.map((stage, index) => (
                    <tr key={`${stage.stage}-${index}`}>
                      <td>{stage.stage}</td>
                      <td>{stage.service}</td>
                      <td className={s.nowrap}>{formatTime(stage.at)}</td>
                      <td>{formatDuration(stage.duration_ms)}</td>
                      <td>{formatDuration(stage.since_ingestion_ms)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {trace.value.log && (
                <pre className={s.pre}>{String(trace.value.log.message ?? JSON.stringify(trace.value.log))}</pre>
              )}
            </>
          )}
        </>
      )}
    </section>
  );
}

function StatusPanel({ incident, onChanged }: { incident: Incident; onChanged: () => void }) {
  const { api, me, onMutation } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const [comment, setComment] = useState('');
  const [resolution, setResolution] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [done, setDone] = useState<string>();

  if (!hasRole(me?.role, 'operator')) {
    return (
      <section className={s.panel} aria-label="Status">
        <h3 className={s.panelTitle}>Status</h3>
        <p className={s.muted}>Acknowledging and resolving needs the operator role.</p>
      </section>
    );
  }

  const change = async (to: IncidentStatus) => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      const changed = await api.patchIncident(incident.incident_id, {
        status: to,
        comment,
        ...(to === 'resolved' && resolution ? { resolution } : {}),
      });
      setDone(`Incident is now ${changed.status}.`);
      setComment('');
      setResolution('');
      onChanged();
      onMutation?.();
    } catch (caught) {
      setError(caught instanceof Error ? caught : new Error(String(caught)));
    } finally {
      setBusy(false);
    }
  };

  const can = (to: IncidentStatus) => canTransition(incident.status, to);
  return (
    <section className={s.panel} aria-label="Status">
      <h3 className={s.panelTitle}>Status</h3>
      {incident.status === 'resolved' ? (
        <p className={s.muted}>Resolved incidents stay resolved; a recurrence opens a new incident.</p>
      ) : (
        <>
          <Field label="Comment" description="Recorded on the timeline and in the audit log">
            <TextArea
              aria-label="Status comment"
              rows={2}
              value={comment}
              onChange={(event) => setComment(event.currentTarget.value)}
            />
          </Field>
          {can('resolved') && (
            <Field label="Resolution" description="What fixed it (used to explain similar incidents later)">
              <Input
                aria-label="Resolution"
                value={resolution}
                onChange={(event) => setResolution(event.currentTarget.value)}
              />
            </Field>
          )}
          <Stack gap={1} wrap="wrap">
            {can('acknowledged') && (
              <Button icon="eye" disabled={busy} onClick={() => change('acknowledged')}>
                Acknowledge
              </Button>
            )}
            {can('resolved') && (
              <Button icon="check" variant="success" disabled={busy} onClick={() => change('resolved')}>
                Resolve
              </Button>
            )}
            {can('open') && (
              <Button variant="secondary" disabled={busy} onClick={() => change('open')}>
                Reopen
              </Button>
            )}
          </Stack>
        </>
      )}
      {done && <Alert severity="success" title={done} onRemove={() => setDone(undefined)} style={{ marginTop: 16 }} />}
      <ErrorNotice title="Status change refused" error={error} />
    </section>
  );
}

function IncidentActionsPanel({ incidentId }: { incidentId: string }) {
  const { api, basePath } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const actions = useAsync(() => api.listActions({ incident_id: incidentId, limit: 50 }), [api, incidentId]);
  const items = actions.value?.items ?? [];
  return (
    <section className={s.panel} aria-label="Remediation">
      <h3 className={s.panelTitle}>Remediation</h3>
      <ErrorNotice title="Could not load actions" error={actions.error} />
      {items.length === 0 && !actions.loading && !actions.error && (
        <p className={s.muted}>No action proposed for this incident.</p>
      )}
      {items.map((action) => (
        <div key={action.action_id} style={{ marginBottom: 12 }}>
          <Stack gap={1} alignItems="center" wrap="wrap">
            <strong>{humanize(action.action)}</strong>
            <span className={s.mono}>{action.target_device}</span>
            <RiskBadge risk={action.risk} />
            <ActionStatusBadge status={action.status} />
          </Stack>
          <div className={s.muted}>
            {[
              Object.keys(action.parameters).length ? formatParameters(action.parameters) : null,
              approvalProgress(action),
              `by ${action.requested_by}`,
            ]
              .filter(Boolean)
              .join(' · ')}
          </div>
          {action.status === 'pending_approval' && (
            <Link className={s.link} to={consolePath(basePath, ROUTES.Approvals)}>
              Decide in Approvals →
            </Link>
          )}
        </div>
      ))}
    </section>
  );
}

export default IncidentDetailPage;
