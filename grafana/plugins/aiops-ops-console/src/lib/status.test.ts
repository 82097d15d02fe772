import { action } from '../testing/fixtures';
import { approvalBlocker, approvalProgress, canTransition, hasRole, isTerminal } from './status';

describe('incident status transitions', () => {
  test('an open incident can be acknowledged, resolved or suppressed, not reopened', () => {
    expect(canTransition('open', 'acknowledged')).toBe(true);
    expect(canTransition('open', 'resolved')).toBe(true);
    expect(canTransition('open', 'suppressed')).toBe(true);
    expect(canTransition('open', 'open')).toBe(false);
  });

  test('an acknowledged incident can be resolved or reopened but not acknowledged again', () => {
    expect(canTransition('acknowledged', 'resolved')).toBe(true);
    expect(canTransition('acknowledged', 'open')).toBe(true);
    expect(canTransition('acknowledged', 'acknowledged')).toBe(false);
  });

  test('a resolved incident stays resolved', () => {
    for (const to of ['open', 'acknowledged', 'suppressed', 'resolved'] as const) {
      expect(canTransition('resolved', to)).toBe(false);
    }
  });
});

describe('hasRole', () => {
  test('follows the ladder viewer < operator < approver < admin', () => {
    expect(hasRole('approver', 'operator')).toBe(true);
    expect(hasRole('operator', 'approver')).toBe(false);
    expect(hasRole('viewer', 'viewer')).toBe(true);
    expect(hasRole('admin', 'approver')).toBe(true);
  });

  test('an ingest token may do nothing on the console, and no identity nothing at all', () => {
    expect(hasRole('ingest', 'viewer')).toBe(false);
    expect(hasRole(undefined, 'viewer')).toBe(false);
  });
});

describe('approvals', () => {
  const officer = { name: 'officer', role: 'approver' as const };

  test('progress counts approvals against the two-person rule', () => {
    expect(approvalProgress(action({ approvals_required: 2, approved_by: ['a'] }))).toBe('1 of 2 approvals');
    expect(approvalProgress(action({ approvals_required: 1, approved_by: [] }))).toBe('0 of 1 approval');
    expect(approvalProgress(action({ approvals_required: 0 }))).toBe('no approval needed');
  });

  test('an approver may decide on someone else pending action', () => {
    expect(approvalBlocker(action(), officer)).toBeNull();
  });

  test('the requester may never approve their own action', () => {
    expect(approvalBlocker(action({ requested_by: 'officer' }), officer)).toMatch(/You requested this action/);
  });

  test('an approver decides once: the second approval of a two-person action is someone else', () => {
    const half = action({
      risk: 'high',
      approvals_required: 2,
      approved_by: ['officer'],
      approvals: [
        {
          approval_id: 'x',
          action_id: 'a',
          approver: 'officer',
          decision: 'approved',
          comment: '',
          at: '2026-11-24T10:00:00Z',
        },
      ],
    });
    expect(approvalBlocker(half, officer)).toMatch(/already decided/);
    expect(approvalBlocker(half, { name: 'captain', role: 'approver' })).toBeNull();
  });

  test('an operator may not approve, and a decided action takes no more decisions', () => {
    expect(approvalBlocker(action(), { name: 'deck', role: 'operator' })).toMatch(/needs approver/);
    expect(approvalBlocker(action({ status: 'approved' }), officer)).toBe('Action is approved');
    expect(approvalBlocker(action(), null)).toMatch(/unknown/);
  });

  test('rejected, succeeded and failed are the final states', () => {
    expect(isTerminal('rejected')).toBe(true);
    expect(isTerminal('succeeded')).toBe(true);
    expect(isTerminal('failed')).toBe(true);
    expect(isTerminal('approved')).toBe(false);
    expect(isTerminal('pending_approval')).toBe(false);
  });
});
