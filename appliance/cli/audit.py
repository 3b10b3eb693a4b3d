"""`appliance audit`: export the signed log, verify an export offline, erase a data subject's text."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from appliance.cli.common import DataDirOption, fail, one_line_errors

audit_app = typer.Typer(help="Export, verify and erase in the audit log.", no_args_is_help=True,
                        pretty_exceptions_enable=False)


def _when(value: Optional[str], flag: str) -> Optional[datetime]:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        fail(f"{flag}: {value!r} is not an ISO 8601 date or time (e.g. 2026-11-25 or 2026-11-25T08:00:00+00:00)")


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the export into (must not exist or be empty).")],
    data_dir: DataDirOption = Path("data"),
    since: Annotated[Optional[str], typer.Option(help="Only records at or after this time (ISO 8601).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Only records before this time (ISO 8601).")] = None,
) -> None:
    """Write records, checkpoint, public key, proofs, the assessor pack (report.html, VERIFY.txt) and a signed manifest to OUT."""
    from appliance.config import load_settings
    from appliance.auditing import open_audit
    from appliance.review.service import Review

    start, end = _when(since, "--since"), _when(until, "--until")
    with one_line_errors():
        settings = load_settings(data_dir=data_dir)
        store = open_audit(settings)
        review = Review(store, settings.data_dir)
        try:
            summary = review.export(out, start, end, actor=None)
        finally:
            review.close()
            store.close()
    typer.echo(f"exported {summary.records} records (seq {summary.first_seq}-{summary.last_seq}, "
               f"{summary.first_ts} to {summary.last_ts}) to {summary.directory}")
    typer.echo(f"checkpoint: tree size {summary.tree_size}, root {summary.root}")
    typer.echo(f"first signing key fingerprint (compare with the one you trust): {summary.genesis_key_fingerprint}")


@audit_app.command("verify")
def verify(
    export_dir: Annotated[Path, typer.Argument(help="An export directory.")],
    trusted_checkpoint: Annotated[Optional[Path], typer.Option("--trusted-checkpoint",
                                  help="A checkpoint kept from an earlier export: this one must extend it.")] = None,
    trusted_fingerprint: Annotated[Optional[str], typer.Option(
        "--trusted-fingerprint", help="The audit key fingerprint recorded at set-up (`appliance init` prints it).")] = None,
) -> None:
    """Verify an export offline and print a summary (records, range, kinds, checkpoint, keys, verdict); exit 1
    with one FAILED line naming the first broken record.

    Without a trust anchor (--trusted-fingerprint, --trusted-checkpoint) it warns that only self-consistency is shown.
    """
    from audit.format import RECORDS_FILE
    from audit.verify import main as verify_main

    argv = [str(export_dir)]
    if trusted_checkpoint is not None:
        argv += ["--trusted-checkpoint", str(trusted_checkpoint)]
    if trusted_fingerprint is not None:
        argv += ["--trusted-fingerprint", trusted_fingerprint]
    code = verify_main(argv)
    if code == 0:
        kinds = _kinds(export_dir / RECORDS_FILE)
        typer.echo("record kinds:    " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))
        typer.echo("verdict:         the export verifies: nothing was edited, inserted, deleted, reordered or cut off")
    raise typer.Exit(code)


def _kinds(records: Path) -> dict[str, int]:
    """How many records of each kind an (already verified) export holds."""
    counts: dict[str, int] = {}
    with records.open("rb") as lines:
        for line in lines:
            kind = str(json.loads(line).get("kind"))
            counts[kind] = counts.get(kind, 0) + 1
    return counts


@audit_app.command("erase")
def erase(
    subject: Annotated[str, typer.Option("--subject", help="Data subject id whose captured text to destroy.")],
    data_dir: DataDirOption = Path("data"),
) -> None:
    """Destroy a data subject's capture key (GDPR Art. 17); the log still verifies."""
    from appliance.config import load_settings
    from appliance.auditing import open_audit
    from audit.capture import CaptureVault

    with one_line_errors():
        store = open_audit(load_settings(data_dir=data_dir))
        try:
            erased = CaptureVault(store).erase(subject)
        finally:
            store.close()
    typer.echo(f"erased the subject's capture keys: {erased} captured texts are now unreadable; the log still verifies")


@audit_app.command("accept-loss")
def accept_loss(data_dir: DataDirOption = Path("data")) -> None:
    """Carry on after records were deleted from the log's tail and no backup holds them: the loss is recorded.

    First choice is restoring the database from a backup that holds the records (the next start records the
    repair); this is for when none does. The log then continues from its shorter tail, and an `audit_integrity`
    record names the checkpoints it no longer extends, so every later export shows what was lost.
    """
    from appliance.auditing import open_audit
    from appliance.config import load_settings

    with one_line_errors():
        store = open_audit(load_settings(data_dir=data_dir), accept_loss=True)
        settled = store.tail_settlement
        store.close()
    if settled is None:
        typer.echo("nothing to accept: the log extends every checkpoint it signed")
    elif settled["event"] == "restored":
        typer.echo(f"nothing lost: the log holds its records again; the repair is recorded (record {settled['seq']})")
    else:
        typer.echo(f"loss recorded (record {settled['seq']}): the log continues from {settled['log_size']} records; "
                   "a verifier holding an older checkpoint will show the gap")


@audit_app.command("rotate-key")
def rotate_key(data_dir: DataDirOption = Path("data")) -> None:
    """Replace the audit signing key; the change is announced by a record signed with the old key."""
    from appliance.auditing import open_audit
    from appliance.config import load_settings

    with one_line_errors():
        store = open_audit(load_settings(data_dir=data_dir))
        try:
            old = store.signing_fingerprint
            new = store.rotate_key()
        finally:
            store.close()
    typer.echo(f"audit signing key rotated: {old} -> {new}")
