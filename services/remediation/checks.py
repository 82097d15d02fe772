"""The guard rails of remediate.yaml as pure checks: allowlist, device kind, parameters,
cooldown and maintenance windows. Each raises `Refused` with the HTTP status that says why."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from aiops_core.devices import Device
from aiops_core.policy import ActionPolicy, MaintenanceWindow, ParameterHint, RemediatePolicy

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_TEXT_PARAMETER = 256


class Refused(Exception):
    """The policy (or the action's state) does not allow this request.

    `status` is the HTTP answer: 422 for a request that can never be valid as written, 409 for
    one that conflicts with the current state (cooldown, pending duplicate, not approved), 403
    for one this person may not make (approving their own request)."""

    RESULTS = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid"}

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    @property
    def result(self) -> str:
        """The audit result of a refusal."""
        return self.RESULTS.get(self.status, "refused")


def action_policy(policy: RemediatePolicy, action: str) -> ActionPolicy:
    found = policy.actions.get(action)  # type: ignore[call-overload]
    if found is None:
        allowed = ", ".join(sorted(policy.actions))
        raise Refused(422, f"action {action!r} is not allowlisted (allowed: {allowed})")
    return found


def check_device_kind(rule: ActionPolicy, action: str, device: Device | None, device_id: str) -> None:
    if device is None:
        raise Refused(422, f"unknown device {device_id!r}: not in the ship's device registry")
    if device.kind not in rule.device_kinds:
        raise Refused(
            422, f"{action} is not allowed on a {device.kind} (allowed kinds: {', '.join(rule.device_kinds)})"
        )


def validate_parameters(hints: dict[str, ParameterHint], given: dict[str, Any]) -> dict[str, Any]:
    """The parameters checked against their hints; the values end up in an argv or a hook
    payload, so a string must match its pattern as a whole and carry no control characters."""
    problems: list[str] = []
    unknown = sorted(set(given) - set(hints))
    if unknown:
        problems.append(f"unknown parameter(s): {', '.join(unknown)}")
    checked: dict[str, Any] = {}
    for name, hint in hints.items():
        if name not in given or given[name] is None:
            if hint.required:
                problems.append(f"{name}: required")
            continue
        problem = _parameter_problem(hint, given[name])
        if problem:
            problems.append(f"{name}: {problem}")
        else:
            checked[name] = given[name]
    if problems:
        raise Refused(422, "bad parameters: " + "; ".join(problems))
    return checked


def _parameter_problem(hint: ParameterHint, value: Any) -> str | None:
    if hint.type == "string":
        if not isinstance(value, str):
            return "must be a string"
        if not value or len(value) > MAX_TEXT_PARAMETER:
            return f"must be 1 to {MAX_TEXT_PARAMETER} characters"
        if _CONTROL.search(value):
            return "must not contain control characters"
        if hint.pattern and not re.fullmatch(hint.pattern, value):
            return f"must match {hint.pattern}"
    elif hint.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
    elif hint.type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
    elif not isinstance(value, bool):
        return "must be true or false"
    if hint.choices is not None and str(value) not in hint.choices:
        return f"must be one of {', '.join(hint.choices)}"
    if hint.minimum is not None and value < hint.minimum:
        return f"must be at least {hint.minimum:g}"
    if hint.maximum is not None and value > hint.maximum:
        return f"must be at most {hint.maximum:g}"
    return None


def cooldown_until(rule: ActionPolicy, last_run: datetime | None) -> datetime | None:
    """When the action may next run on the same target (None: it never ran, or no cooldown)."""
    if last_run is None or rule.cooldown_seconds == 0:
        return None
    return last_run + timedelta(seconds=rule.cooldown_seconds)


def check_cooldown(rule: ActionPolicy, action: str, target: str, last_run: datetime | None, now: datetime) -> None:
    until = cooldown_until(rule, last_run)
    if until is not None and now < until:
        raise Refused(
            409, f"cooldown: {action} last ran on {target} at {last_run.isoformat()}; "  # type: ignore[union-attr]
            f"it may run again from {until.isoformat()} ({rule.cooldown_seconds} s cooldown)",
        )


def open_window(policy: RemediatePolicy, ship_id: str, device_id: str, now: datetime) -> MaintenanceWindow | None:
    return next((w for w in policy.maintenance_windows if w.covers(ship_id, device_id, now)), None)


def check_maintenance_window(
    rule: ActionPolicy, action: str, policy: RemediatePolicy, ship_id: str, device_id: str, now: datetime
) -> str | None:
    """The name of the open window when the action needs one, None when it needs none."""
    if not rule.only_in_maintenance_window:
        return None
    window = open_window(policy, ship_id, device_id, now)
    if window is None:
        names = ", ".join(w.name for w in policy.maintenance_windows) or "none configured"
        raise Refused(
            409, f"{action} may only run in a maintenance window, and none covers {device_id} now "
            f"(windows: {names})",
        )
    return window.name
