// The incident-api's JSON (aiops_core/models.py and the /api/v3 contract), as the console reads it.

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export type IncidentStatus = 'open' | 'acknowledged' | 'resolved' | 'suppressed';
export type Role = 'viewer' | 'operator' | 'approver' | 'admin' | 'ingest';
export type Risk = 'low' | 'medium' | 'high';
export type ActionStatus =
  'proposed' | 'pending_approval' | 'approved' | 'rejected' | 'executing' | 'succeeded' | 'failed';

export const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];
export const INCIDENT_STATUSES: IncidentStatus[] = ['open', 'acknowledged', 'resolved', 'suppressed'];
export const ACTION_STATUSES: ActionStatus[] = [
  'proposed',
  'pending_approval',
  'approved',
  'rejected',
  'executing',
  'succeeded',
  'failed',
];
export const INCIDENT_TYPES = [
  'link_degradation',
  'comms_outage',
  'network_issue',
  'resource_pressure',
  'auth_failure',
  'security_alert',
  'app_degradation',
  'power_or_hardware',
  'config_change',
  'unknown',
] as const;
export type IncidentType = (typeof INCIDENT_TYPES)[number];

export interface Identity {
  name: string;
  role: Role;
}

export interface StageStamp {
  stage: string;
  service: string;
  at: string;
  duration_ms: number;
}

export interface TimelineEvent {
  at: string;
  kind: string;
  summary: string;
  tracking_id?: string | null;
  device_id?: string | null;
  actor?: string | null;
}

export interface SimilarIncident {
  incident_id: string;
  title: string;
  similarity: number;
  resolution?: string | null;
}

export interface Insight {
  root_cause: string;
  impact: string;
  recommendations: string[];
  confidence: number;
  source: 'llm' | 'fallback';
  model?: string | null;
  runbook_ids: string[];
  similar_incidents: SimilarIncident[];
  generated_at: string;
  latency_ms: number;
  cached: boolean;
}

export interface Incident {
  incident_id: string;
  ship_id: string;
  fingerprint: string;
  incident_type: IncidentType;
  severity: Severity;
  status: IncidentStatus;
  title: string;
  root_cause_device: string;
  root_cause_reason: string;
  affected_devices: string[];
  services: string[];
  anomaly_count: number;
  tracking_ids: string[];
  detectors: string[];
  evidence: Array<Record<string, unknown>>;
  runbook_refs: string[];
  suppressed_by?: string | null;
  first_seen: string;
  last_seen: string;
  created_at: string;
  updated_at: string;
  version: number;
  timeline: TimelineEvent[];
  insight: Insight | null;
}

export interface IncidentDetail extends Incident {
  anomalies: Array<Record<string, unknown>>;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit?: number;
  offset?: number;
}

export interface IncidentFilters {
  status?: IncidentStatus | '';
  severity?: Severity | '';
  incident_type?: IncidentType | '';
  ship_id?: string;
  limit?: number;
  offset?: number;
}

export interface IncidentPatch {
  status: IncidentStatus;
  comment?: string;
  resolution?: string;
}

export interface TraceStage {
  stage: string;
  service: string;
  at: string;
  duration_ms: number;
  since_ingestion_ms: number | null;
}

export interface Trace {
  tracking_id: string;
  stages: TraceStage[];
  total_latency_ms: number | null;
  incident_id: string | null;
  log: Record<string, unknown> | null;
}

export interface Approval {
  approval_id: string;
  action_id: string;
  approver: string;
  decision: 'approved' | 'rejected';
  comment: string;
  at: string;
}

export interface Action {
  action_id: string;
  incident_id?: string | null;
  ship_id: string;
  action: string;
  target_device: string;
  parameters: Record<string, unknown>;
  risk: Risk;
  status: ActionStatus;
  requested_by: string;
  approvals_required: number;
  approved_by: string[];
  reason: string;
  result?: string | null;
  dry_run: boolean;
  created_at: string;
  updated_at: string;
  approvals: Approval[];
  cooldown_until: string | null;
  /** The remediation backend adds these from remediate.yaml; older nodes may leave them out. */
  expires_at?: string | null;
  pre_checks?: string[];
  post_checks?: string[];
  only_in_maintenance_window?: boolean;
}

export interface ActionFilters {
  incident_id?: string;
  status?: ActionStatus | '';
  limit?: number;
  offset?: number;
}

export type ApprovalScope = 'pending' | 'mine';
export type Decision = 'approved' | 'rejected';

export interface PolicyDiffEntry {
  path: string;
  default: unknown;
  effective: unknown;
}

export interface PolicyView {
  ship_id: string;
  effective: Record<string, unknown>;
  diff: PolicyDiffEntry[];
}

export interface AuditEvent {
  audit_id: string;
  at: string;
  actor: string;
  role: string;
  action: string;
  target: string;
  result: string;
  details: Record<string, unknown>;
}

export interface AuditFilters {
  actor?: string;
  action?: string;
  target?: string;
  since?: string;
  limit?: number;
  offset?: number;
}
