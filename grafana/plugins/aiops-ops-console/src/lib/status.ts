import type { Action, ActionStatus, Identity, IncidentStatus, Role } from '../api/types';

/**
 * The incident-api's ALLOWED_TRANSITIONS (services/incident_api/handlers.py), so the console only
 * offers what the API accepts; the API still decides (a 409 is shown if the two ever disagree).
 */
export const INCIDENT_TRANSITIONS: Record<IncidentStatus, IncidentStatus[]> = {
  open: ['acknowledged', 'resolved', 'suppressed'],
  acknowledged: ['resolved', 'suppressed', 'open'],
  suppressed: ['open', 'resolved'],
  resolved: [],
};

export function canTransition(from: IncidentStatus, to: IncidentStatus): boolean {
  return INCIDENT_TRANSITIONS[from].includes(to);
}

const ROLE_LADDER: Role[] = ['viewer', 'operator', 'approver', 'admin'];

/** The API's role ladder (aiops_core/auth.py): admin may do anything, ingest only send data. */
export function hasRole(role: Role | undefined, required: Role): boolean {
  if (!role) {
    return false;
  }
  if (role === 'admin') {
    return true;
  }
  if (role === 'ingest' || required === 'ingest') {
    return role === required;
  }
  return ROLE_LADDER.indexOf(role) >= ROLE_LADDER.indexOf(required);
}

const TERMINAL: ActionStatus[] = ['rejected', 'succeeded', 'failed'];

export function isTerminal(status: ActionStatus): boolean {
  return TERMINAL.includes(status);
}

/** "1 of 2 approvals" for the two-person rule; "no approval needed" for auto-approved actions. */
export function approvalProgress(action: Pick<Action, 'approved_by' | 'approvals_required'>): string {
  if (action.approvals_required === 0) {
    return 'no approval needed';
  }
  const plural = action.approvals_required === 1 ? 'approval' : 'approvals';
  return `${action.approved_by.length} of ${action.approvals_required} ${plural}`;
}

/**
 * Why `me` may not decide on `action`, or null when they may. Mirrors the API's rules (approver
 * role, never the requester, one decision per approver) so the buttons are disabled with a reason
 * instead of failing with a 403 or 409.
 */
export function approvalBlocker(action: Action, me: Identity | null): string | null {
  if (!me) {
    return 'Signed-in identity unknown';
  }
  if (action.status !== 'pending_approval') {
    return `Action is ${action.status.replace(/_/g, ' ')}`;
  }
  if (!hasRole(me.role, 'approver')) {
    return `Role ${me.role} cannot approve (needs approver)`;
  }
  if (action.requested_by === me.name) {
    return 'You requested this action; another approver must decide';
  }
  if (action.approvals.some((approval) => approval.approver === me.name) || action.approved_by.includes(me.name)) {
    return 'You already decided on this action';
  }
  return null;
}
