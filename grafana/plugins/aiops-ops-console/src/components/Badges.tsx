import React from 'react';
import { Badge, type BadgeColor } from '@grafana/ui';
import type { ActionStatus, IncidentStatus, Risk, Severity } from '../api/types';
import { humanize } from '../lib/format';

const SEVERITY_COLOR: Record<Severity, BadgeColor> = {
  low: 'blue',
  medium: 'orange',
  high: 'red',
  critical: 'purple',
};

const STATUS_COLOR: Record<IncidentStatus, BadgeColor> = {
  open: 'red',
  acknowledged: 'orange',
  resolved: 'green',
  suppressed: 'darkgrey',
};

const RISK_COLOR: Record<Risk, BadgeColor> = { low: 'green', medium: 'orange', high: 'red' };

const ACTION_COLOR: Record<ActionStatus, BadgeColor> = {
  proposed: 'blue',
  pending_approval: 'orange',
  approved: 'blue',
  rejected: 'darkgrey',
  executing: 'purple',
  succeeded: 'green',
  failed: 'red',
};

export function SeverityBadge({ severity }: { severity: Severity }) {
  return <Badge color={SEVERITY_COLOR[severity] ?? 'darkgrey'} text={humanize(severity)} />;
}

export function IncidentStatusBadge({ status }: { status: IncidentStatus }) {
  return <Badge color={STATUS_COLOR[status] ?? 'darkgrey'} text={humanize(status)} />;
}

export function RiskBadge({ risk }: { risk: Risk }) {
  return <Badge color={RISK_COLOR[risk] ?? 'darkgrey'} text={`${humanize(risk)} risk`} />;
}

export function ActionStatusBadge({ status }: { status: ActionStatus }) {
  return <Badge color={ACTION_COLOR[status] ?? 'darkgrey'} text={humanize(status)} />;
}
