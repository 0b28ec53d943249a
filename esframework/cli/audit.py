"""``esf verify`` and ``esf seal``: check the audit trail, and seal it for later checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import click

from esframework import audit
from esframework.cli._group import CliError, ExitCode
from esframework.cli._support import (
    APP_HELP,
    hmac_key,
    progress,
    read_seal,
    reading,
    stderr_is_terminal,
    to_stream_ids,
    where,
)

__all__ = ["seal", "verify"]

_KEY_HELP = (
    "The environment variable that holds the seal's HMAC key (the key itself is never "
    "given on the command line)."
)


@click.command()
@click.argument("url")
@click.option(
    "--seal",
    "seal_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also check the store against this seal: finds events and streams deleted since.",
)
@click.option("--hmac-key-env", metavar="VAR", help=_KEY_HELP)
@click.option(
    "--stream",
    "streams",
    multiple=True,
    callback=to_stream_ids,
    metavar="ID",
    help="Check only this stream's chain (repeatable). Default: every stream and the order.",
)
@click.option(
    "--app", "app_spec", metavar="MODULE:ATTR", help=APP_HELP + " Checks event types too."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.pass_context
def verify(
    ctx: click.Context,
    url: str,
    seal_file: Path | None,
    hmac_key_env: str | None,
    streams: tuple[UUID, ...],
    app_spec: str | None,
    as_json: bool,
) -> None:
    """Check the hash chains and the global order of the store at URL.

    Prints what was checked and every problem found (kind, stream, version, position,
    what is wrong) and exits with status 1 if there is any.
    """
    if streams and seal_file is not None:
        raise CliError("a seal covers the whole store: drop --stream to check against --seal")
    if hmac_key_env is not None and seal_file is None:
        raise CliError("--hmac-key-env checks a seal's signature: give --seal FILE too")
    key = hmac_key(hmac_key_env)
    against = read_seal(seal_file) if seal_file is not None else None
    with reading(url, app_spec) as r:
        here = where(r.store, url)
        total = _last_position(r.store) if stderr_is_terminal() and not streams else None
        with progress("Verifying", total) as tick:
            report = audit.verify(
                r.store,
                streams=list(streams) or None,
                against=against,
                hmac_key=key,
                progress=tick,
            )
    if r.app is None:
        # Without the application's classes every event type would look unknown.
        problems = tuple(p for p in report.problems if p.kind != "unknown_type")
        report = attrs.evolve(report, problems=problems)
    if as_json:
        click.echo(json.dumps(_report_dict(report, here, types_checked=r.app is not None)))
    else:
        click.echo(_report_text(report, here, against, types_checked=r.app is not None))
    if not report.ok:
        ctx.exit(ExitCode.PROBLEMS)


def _last_position(store: Any) -> int | None:
    stats = getattr(store, "stats", None)
    return None if stats is None else int(stats().last_position)


def _report_text(
    report: audit.AuditReport, here: str, against: audit.Seal | None, *, types_checked: bool
) -> str:
    lines = [
        f"Verified {here}",
        f"  {report.events} events in {report.streams} streams, last position "
        f"{report.last_position}",
    ]
    if against is not None:
        signed = ", signed" if against.hmac is not None else ""
        lines.append(
            f"  against the seal of {against.sealed_at.isoformat()} (position "
            f"{against.position}, {against.events} events{signed})"
        )
    if not types_checked:
        lines.append("  event types not checked against classes (give --app to check them)")
    if report.ok:
        lines.append("OK: no problems found")
    else:
        lines.append(f"FAILED: {len(report.problems)} problem(s)")
        lines += [f"  {p}" for p in report.problems]
    return "\n".join(lines)


def _report_dict(report: audit.AuditReport, here: str, *, types_checked: bool) -> dict[str, Any]:
    return {
        "store": here,
        "ok": report.ok,
        "events": report.events,
        "streams": report.streams,
        "last_position": report.last_position,
        "sealed": report.sealed,
        "types_checked": types_checked,
        "problems": [
            {
                "kind": p.kind,
                "stream_id": None if p.stream_id is None else str(p.stream_id),
                "version": p.version,
                "position": p.position,
                "detail": p.detail,
            }
            for p in report.problems
        ],
    }


@click.command()
@click.argument("url")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the seal to this new file (never over an existing one). Default: stdout.",
)
@click.option("--hmac-key-env", metavar="VAR", help=_KEY_HELP + " Signs the seal.")
def seal(url: str, out: Path | None, hmac_key_env: str | None) -> None:
    """Seal the store at URL as it is now, to verify against later.

    The seal (JSON) holds the store's position, counts and a digest of every stream's
    head. Keep it away from the database: esf verify --seal later shows whether any
    event or stream up to it was deleted or replaced.
    """
    key = hmac_key(hmac_key_env)
    with reading(url) as r:
        total = _last_position(r.store) if stderr_is_terminal() else None
        with progress("Sealing", total) as tick:
            sealed = audit.seal(r.store, hmac_key=key, progress=tick)
    if out is None:
        click.echo(sealed.to_json(), nl=False)
        return
    try:
        with out.open("x", encoding="utf-8") as f:
            f.write(sealed.to_json())
    except FileExistsError:
        raise CliError(
            f"{out} already exists: a seal is evidence, so esf seal never overwrites one; "
            "choose a new file name"
        ) from None
    except OSError as exc:
        raise CliError(f"cannot write the seal to {out}: {exc.strerror or exc}") from None
    signed = "a signed seal" if key is not None else "an unsigned seal"
    click.echo(
        f"Wrote {signed} of {sealed.events} events in {sealed.streams} streams (position "
        f"{sealed.position}) to {out}",
        file=sys.stderr,
    )
