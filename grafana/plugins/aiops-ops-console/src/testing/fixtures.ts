import type { Action, AuditEvent, IncidentDetail, Insight, PolicyView, Trace } from '../api/types';

export const INCIDENT_ID = '5b0e3f8e-4a55-4b8f-9c52-0d3a4f1c2b77';
export const TRACKING_ID = '3cc9d8d7-2a4d-4c93-8204-be29924407bb';
export const ACTION_ID = '6d259390-c730-411b-ac10-ecfba3a0ffdc';

export const insight: Insight = {
  root_cause: 'VSAT modem hung after a firmware memory leak',
  impact: 'Guest and crew internet down on Ku-band',
  recommendations: ['Fail over to Starlink', 'Reboot the modem from its web UI'],
  confidence: 0.42,
  source: 'fallback',
  model: null,
  runbook_ids: ['rb-vsat-modem-hung'],
  similar_incidents: [
    {
      incident_id: '11111111-2222-4333-8444-555555555555',
      title: 'Carrier lost off Cozumel',
      similarity: 0.81,
      resolution: 'Modem reboot',
    },
  ],
  generated_at: '2026-11-24T10:00:05Z',
  latency_ms: 2270,
  cached: false,
};

export function incident(overrides: Partial<IncidentDetail> = {}): IncidentDetail {
  return {
    incident_id: INCIDENT_ID,
    ship_id: 'ms-aurora',
    fingerprint: 'fp',
    incident_type: 'comms_outage',
    severity: 'critical',
    status: 'open',
    title: 'Comms outage on vsat-modem-01',
    root_cause_device: 'vsat-modem-01',
    root_cause_reason: 'no upstream device has an open incident',
    affected_devices: ['vsat-modem-01'],
    services: ['idirect'],
    anomaly_count: 2,
    tracking_ids: [TRACKING_ID],
    detectors: ['log_pattern'],
    evidence: [],
    runbook_refs: ['rb-vsat-modem-hung'],
    suppressed_by: null,
    first_seen: '2026-11-24T10:00:00Z',
    last_seen: '2026-11-24T10:00:01Z',
    created_at: '2026-11-24T10:00:00Z',
    updated_at: '2026-11-24T10:00:01Z',
    version: 2,
    timeline: [
      {
        at: '2026-11-24T10:00:00Z',
        kind: 'anomaly',
        summary: 'log_pattern on vsat-modem-01: RX carrier lost',
        tracking_id: TRACKING_ID,
        device_id: 'vsat-modem-01',
        actor: '',
      },
    ],
    insight,
    anomalies: [],
    ...overrides,
  };
}

export const trace: Trace = {
  tracking_id: TRACKING_ID,
  stages: [
    { stage: 'ingest', service: 'ingest', at: '2026-11-24T10:00:00Z', duration_ms: 0.3, since_ingestion_ms: 0.3 },
    {
      stage: 'correlation',
      service: 'correlation',
      at: '2026-11-24T10:00:00Z',
      duration_ms: 0.6,
      since_ingestion_ms: 81.1,
    },
  ],
  total_latency_ms: 98.7,
  incident_id: INCIDENT_ID,
  log: { message: 'RX carrier lost on Ku-band carrier 1' },
};

export function action(overrides: Partial<Action> = {}): Action {
  return {
    action_id: ACTION_ID,
    incident_id: INCIDENT_ID,
    ship_id: 'ms-aurora',
    action: 'restart_service',
    target_device: 'res-app-01',
    parameters: { service: 'reservations-api' },
    risk: 'medium',
    status: 'pending_approval',
    requested_by: 'deck-operator',
    approvals_required: 1,
    approved_by: [],
    reason: 'API workers hung',
    result: null,
    dry_run: true,
    created_at: '2026-11-24T10:01:00Z',
    updated_at: '2026-11-24T10:01:00Z',
    approvals: [],
    cooldown_until: null,
    pre_checks: ['service exists on the device'],
    post_checks: ['service is active within 60 s'],
    expires_at: '2026-11-24T11:01:00Z',
    ...overrides,
  };
}

export const auditEvent: AuditEvent = {
  audit_id: '9a9a9a9a-1111-4222-8333-444444444444',
  at: '2026-11-24T10:02:00Z',
  actor: 'officer',
  role: 'approver',
  action: 'action.approve',
  target: `action:${ACTION_ID}`,
  result: 'ok',
  details: { comment: 'go ahead' },
};

export const policy: PolicyView = {
  ship_id: 'example-ship',
  effective: {
    notify: { channels: { webhook: { enabled: true } } },
    detect: { metric_thresholds: Array.from({ length: 15 }, (_, i) => ({ metric: 'snr_db', value: i })) },
    slo: { fast_path_p99_ms: 100 },
  },
  diff: [
    { path: 'notify.channels.webhook.enabled', default: false, effective: true },
    {
      path: 'detect.metric_thresholds',
      default: Array.from({ length: 19 }, (_, i) => ({ metric: 'snr_db', value: i })),
      effective: Array.from({ length: 15 }, (_, i) => ({ metric: 'snr_db', value: i })),
    },
  ],
};
