"""Executors: how an approved action is carried out. `remediate.yaml` `executor.mode` picks one:

- `dry_run` (default): changes nothing and records exactly what the configured command would
  have run, so a ship can rehearse its runbooks before trusting them;
- `command`: runs the action's argv from the policy (never through a shell), with a timeout;
- `http_hook`: POSTs the action as JSON to a URL (an automation platform, a NOC webhook).

The platform's own guard rails (approval, cooldown, maintenance window, concurrency) are checked
before an executor is called; the policy's `pre_checks` and `post_checks` describe what the
playbook or hook behind the executor verifies on the device, and are handed to it."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from aiops_core.devices import Device
from aiops_core.models import RemediationAction
from aiops_core.policy import ActionPolicy, CommandExecutor as CommandSettings, Executor as ExecutorSettings
from aiops_core.policy import HttpHookExecutor as HookSettings

OUTPUT_TAIL_CHARS = 4000


@dataclass(frozen=True)
class Outcome:
    ok: bool
    text: str


class Executor(Protocol):
    mode: str

    async def run(self, action: RemediationAction, rule: ActionPolicy, device: Device | None) -> Outcome: ...


class ArgvError(ValueError):
    """The policy's argv template needs a value the action does not have."""


def render_argv(template: tuple[str, ...], action: RemediationAction) -> list[str]:
    """The argv with `{device_id}`, `{ship_id}` and the action's parameters filled in. Each
    element stays one argument whatever the values hold: there is no shell to split them."""
    values = {k: str(v) for k, v in action.parameters.items()}
    values.update(device_id=action.target_device, ship_id=action.ship_id)
    try:
        return [part.format_map(values) for part in template]
    except (KeyError, IndexError, ValueError) as exc:
        raise ArgvError(f"the command template for {action.action} needs {exc} (template: {shlex.join(template)})") from None


def _checks_text(rule: ActionPolicy) -> str:
    before = "; ".join(rule.pre_checks) or "none"
    after = "; ".join(rule.post_checks) or "none"
    return f"pre-checks: {before}. post-checks: {after}."


def _parameters_text(action: RemediationAction) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(action.parameters.items())) or "no parameters"


class DryRunExecutor:
    """Records what would be done; touches nothing."""

    mode = "dry_run"

    def __init__(self, commands: CommandSettings) -> None:
        self.commands = commands

    async def run(self, action: RemediationAction, rule: ActionPolicy, device: Device | None) -> Outcome:
        template = self.commands.commands.get(action.action)  # type: ignore[call-overload]
        if template:
            try:
                would = f"would run: {shlex.join(render_argv(template, action))}"
            except ArgvError as exc:
                return Outcome(False, f"dry run: {exc}")
        else:
            would = "no command is configured for this action"
        return Outcome(True, (
            f"dry run, nothing was changed. {action.action} on {action.target_device} "
            f"({_parameters_text(action)}); {would}. {_checks_text(rule)}"
        ))


class CommandExecutor:
    """Runs the policy's argv for the action, in its own process group so a timeout kills the
    whole tree (an ansible-playbook and its ssh children)."""

    mode = "command"

    def __init__(self, settings: CommandSettings) -> None:
        self.settings = settings

    async def run(self, action: RemediationAction, rule: ActionPolicy, device: Device | None) -> Outcome:
        template = self.settings.commands.get(action.action)  # type: ignore[call-overload]
        if not template:
            return Outcome(False, f"no command is configured for {action.action} (executor.command.commands)")
        try:
            argv = render_argv(template, action)
        except ArgvError as exc:
            return Outcome(False, str(exc))
        shown = shlex.join(argv)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            return Outcome(False, f"could not start {shown}: {exc.strerror or exc}")
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout=self.settings.timeout_seconds)
        except asyncio.TimeoutError:
            _kill_group(process)
            await process.wait()
            return Outcome(False, f"timed out after {self.settings.timeout_seconds:g} s and was killed: {shown}")
        except asyncio.CancelledError:
            _kill_group(process)
            raise
        tail = output.decode("utf-8", errors="replace")[-OUTPUT_TAIL_CHARS:].strip()
        verdict = "succeeded" if process.returncode == 0 else f"failed with exit code {process.returncode}"
        text = f"{shown} {verdict}." + (f" output: {tail}" if tail else " no output.")
        return Outcome(process.returncode == 0, text)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class HttpHookExecutor:
    """POSTs the action to the hook; a 2xx answer is success. The action id is sent as the
    Idempotency-Key so a hook can ignore a repeated call."""

    mode = "http_hook"

    def __init__(self, settings: HookSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if settings.url is None:
            raise ValueError("http_hook needs a url")
        self.settings = settings
        self.transport = transport

    def payload(self, action: RemediationAction, rule: ActionPolicy, device: Device | None) -> dict[str, Any]:
        return {
            **action.model_dump(mode="json"),
            "device_kind": device.kind if device else None,
            "mgmt_ip": (device.mgmt_ip or None) if device else None,
            "pre_checks": list(rule.pre_checks),
            "post_checks": list(rule.post_checks),
        }

    async def run(self, action: RemediationAction, rule: ActionPolicy, device: Device | None) -> Outcome:
        url = self.settings.url
        try:
            async with httpx.AsyncClient(
                timeout=self.settings.timeout_seconds, verify=self.settings.verify_tls, transport=self.transport,
            ) as client:
                response = await client.post(
                    url, json=self.payload(action, rule, device),  # type: ignore[arg-type]
                    headers={"Idempotency-Key": action.action_id},
                )
        except httpx.TimeoutException:
            return Outcome(False, f"POST {url} timed out after {self.settings.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return Outcome(False, f"POST {url} failed: {exc!r}")
        body = response.text[:OUTPUT_TAIL_CHARS].strip()
        ok = response.is_success
        text = f"POST {url} answered {response.status_code}" + (f": {body}" if body else "")
        return Outcome(ok, text)


def executor_for(settings: ExecutorSettings) -> Executor:
    if settings.mode == "command":
        return CommandExecutor(settings.command)
    if settings.mode == "http_hook":
        return HttpHookExecutor(settings.http_hook)
    return DryRunExecutor(settings.command)
