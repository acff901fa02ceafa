"""``groupid-upgrade``: the command line. Each command calls the same function the protocol calls.

Exit codes (protocol.md): 0 done; 1 failed or PartiallySucceeded; 2 usage error; 3 open questions
or an unmet prerequisite; 4 verify found problems; 130 cancelled (Ctrl+C).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, EngineError
from .reporting import Reporter

if TYPE_CHECKING:
    from .reporting import LogLevel


class ConsoleReporter(Reporter):
    """Progress as one redrawn line on stderr (only on a terminal); warnings always on stderr."""

    def __init__(self, *, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose
        self.interactive = sys.stderr.isatty()
        self._drawn = False

    def emit_progress(self, payload: dict[str, Any]) -> None:
        if not self.interactive:
            return
        percent = payload.get("percent")
        width = 24
        filled = 0 if percent is None else int(width * percent / 100)
        bar = "#" * filled + "-" * (width - filled)
        text = f"\r[{bar}] {'' if percent is None else f'{percent:3d}%'} {payload['activity']}: {payload['status']}"
        sys.stderr.write(text[:160].ljust(100))
        sys.stderr.flush()
        self._drawn = True
        if payload.get("completed"):
            self.clear()

    def clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r" + " " * 120 + "\r")
            sys.stderr.flush()
            self._drawn = False

    def log(self, level: LogLevel, message: str) -> None:
        from .safety.redact import redact_text

        message = redact_text(message)
        if level == "warning" or self.verbose:
            self.clear()
            click.echo(f"{'WARNING: ' if level == 'warning' else ''}{message}", err=True)

    def record(self, record_type: str, data: dict[str, Any]) -> None:
        if self.verbose:
            self.clear()
            click.echo(f"{record_type}: {json.dumps(data, default=str)}", err=True)


def _print_error(exc: EngineError, as_json: bool) -> None:
    click.echo(f"error: {exc.message}", err=True)
    if exc.recommended_action:
        click.echo(f"  what to do: {exc.recommended_action}", err=True)
    for err in exc.extra.get("errors", [])[:50]:
        click.echo(f"  - {err['field']}: {err['message']}", err=True)
    if as_json:
        click.echo(json.dumps({"error": exc.to_error_object()}, indent=2))


def run_command(as_json: bool, work: Callable[[Reporter], tuple[Any, int]], *, verbose: bool = False) -> None:
    """Run ``work``; turn its outcome into output and an exit code, never a traceback."""
    reporter = ConsoleReporter(verbose=verbose)
    try:
        _result, code = work(reporter)
    except EngineError as exc:
        reporter.clear()
        _print_error(exc, as_json)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        reporter.clear()
        click.echo("Cancelled. Nothing half-done was kept; run the same command again to resume.", err=True)
        sys.exit(EXIT_CANCELLED)
    except Exception as exc:
        reporter.clear()
        from .safety.resources import translate

        named = translate(exc)  # disk full, read-only, permission denied...: named, whatever raised it
        if named is not None:
            _print_error(named, as_json)
            sys.exit(named.exit_code)
        from .logs import get_logger, log_path

        get_logger("groupid_upgrade.cli").exception("unexpected error: %s", type(exc).__name__)
        click.echo(f"error: an unexpected {type(exc).__name__} stopped the command; details are in "
                   f"{log_path()}.", err=True)
        click.echo("  what to do: send that log to support; run the same command again once it is fixed "
                   "(what was done is recorded and is not done twice).", err=True)
        sys.exit(EXIT_FAILED)
    reporter.clear()
    sys.exit(code)


def _emit(result: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if as_json:
        data = result.wire() if hasattr(result, "wire") else result
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human(result)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="groupid-upgrade")
def main() -> None:
    """Upgrade Imanami GroupID 9/10 to GroupID / Directory Manager 11, and back it up first."""


@main.command()
def serve() -> None:
    """Serve JSON-RPC 2.0 on stdin/stdout (the PowerShell module's engine)."""
    from .protocol.server import run_server

    sys.exit(run_server(sys.stdin.buffer, sys.stdout.buffer))


@main.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new or empty folder to write the sample into.")
@click.option("--version", "version", type=click.Choice(["10.0", "9.0", "10", "9"]), default="10.0",
              show_default=True, help="GroupID version of the sample.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same sample.")
@click.option("--groups", type=click.IntRange(16, 1_000_000), default=40, show_default=True,
              help="Groups per directory domain.")
@click.option("--history", type=click.IntRange(0, 100_000_000), default=5_000, show_default=True,
              help="History rows in the source database.")
@click.option("--with-faults", is_flag=True, help="Add bad items (a truncated .dtmconfig, ...) for R16 tests.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def sample(out: Path, version: str, seed: int, groups: int, history: int, with_faults: bool, as_json: bool) -> None:
    """Generate a sample GroupID installation (SQLite, folders, LDIF, PFX, answers.json)."""
    from .sample.generator import SampleSpec, generate_sample

    def work(reporter: Reporter) -> tuple[Any, int]:
        started = time.monotonic()
        spec = SampleSpec(out=out.resolve(), version=version if "." in version else f"{version}.0", seed=seed,
                          groups=groups, history=history, with_faults=with_faults)
        path = generate_sample(spec, reporter)
        result = {"path": str(path), "answerFile": str(path / "answers.json"), "version": spec.version,
                  "seed": seed, "history": history, "groupsPerDomain": groups,
                  "seconds": round(time.monotonic() - started, 2)}
        _emit(result, as_json, lambda r: click.echo(
            f"Sample GroupID {r['version']} installation written to {r['path']} "
            f"({r['history']} history rows, {r['groupsPerDomain']} groups per domain).\n"
            f"Answer file: {r['answerFile']}"))
        return result, EXIT_OK

    run_command(as_json, work)


def _print_plan(plan: Any) -> None:
    inv = plan.inventory
    click.echo(f"Upgrade plan: GroupID {plan.source_version} -> {plan.target_version}")
    click.echo(f"Modules: {', '.join(plan.modules)}")
    click.echo("")
    click.echo("Source inventory")
    rows = [
        ("Identity stores", f"{inv.identity_stores} ({inv.enabled_identity_stores} enabled)"),
        ("Messaging providers", inv.messaging_providers),
        ("Synchronize jobs", inv.jobs),
        ("Job collections", f"{inv.job_collections} ({inv.jobs_in_collections} jobs inside)"),
        ("Job templates", inv.job_templates),
        ("Job collection templates", inv.job_collection_templates),
        ("Unreadable job files", inv.unreadable_job_files),
        ("Schedules", inv.schedules),
        ("Reports", inv.reports),
        ("Managed groups", inv.managed_groups),
        ("History rows", inv.history_rows),
    ]
    for label, value in rows:
        click.echo(f"  {label:<26} {value}")
    click.echo("")
    click.echo(f"  {'Id':>3}  {'Identity store':<16} {'Type':<16} {'Domain':<26} {'Enabled':<8} "
               f"{'Groups':>7} {'History':>9}")
    for s in inv.stores:
        click.echo(f"  {s.id:>3}  {s.name:<16} {s.type:<16} {s.domain:<26} {'yes' if s.enabled else 'no':<8} "
                   f"{s.managed_groups:>7} {s.history_rows:>9}")
    if plan.items:
        click.echo("")
        click.echo("Plan items")
        for item in plan.items:
            target = f" -> {item.target}" if item.target else ""
            click.echo(f"  [{item.module}] {item.action:<9} {item.object_type} {item.name}{target}: {item.reason}")
    if plan.warnings:
        click.echo("")
        click.echo("Warnings")
        for w in plan.warnings:
            click.echo(f"  [{w.module}] {w.message}")
    open_questions = plan.open_questions
    if plan.questions:
        click.echo("")
        click.echo(f"Questions ({len(open_questions)} open)")
        for q in plan.questions:
            click.echo(f"  {'answered' if q.answered else 'OPEN    '} {q.id}: {q.prompt}")


@main.command()
@click.option("--answer-file", "answer_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The answer file (JSON).")
@click.option("--module", "modules", multiple=True, help="Everything, or a module name (repeatable).")
@click.option("--validate-online", is_flag=True, default=None, help="Also check credentials against servers.")
@click.option("--emit-answer-template", "template", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the answer file with a skeleton answer for every open question to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the Plan as JSON.")
def plan(answer_file: Path, modules: tuple[str, ...], validate_online: bool | None, template: Path | None,
         as_json: bool) -> None:
    """Compute the Plan for an answer file and print it; writes nothing (but the template, if asked)."""
    from .upgrade.plan_method import PlanParams, plan_handler, write_answer_template

    def work(reporter: Reporter) -> tuple[Any, int]:
        params = PlanParams(answer_file=answer_file, module=list(modules) or None,
                            validate_online=validate_online or None)
        result = plan_handler(params, reporter)
        _emit(result, as_json, _print_plan)
        if template is not None:
            write_answer_template(result, answer_file, template)
            click.echo(f"Answer template with {len(result.open_questions)} open question(s) written to {template}.",
                       err=True)
        return result, EXIT_OK

    run_command(as_json, work)


def _print_run(result: Any) -> None:
    click.echo("")
    click.echo(f"Upgrade {'what-if ' if result.what_if else ''}completed: {result.status}")
    for module in result.modules:
        click.echo(f"  {module.module:<14} {module.status:<19} {module.done} done, {module.already_done} already "
                   f"done, {module.failed} failed{' (' + module.reason + ')' if module.reason else ''}")
        for note in module.notes:
            click.echo(f"      {note}")
        for failure in module.failures:
            click.echo(f"      failed: {failure.name}: {failure.error['message']}")
    if not result.what_if:
        click.echo(f"Log: {result.log_path}")


@main.command()
@click.option("--answer-file", "answer_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The answer file (JSON).")
@click.option("--module", "modules", multiple=True, help="Everything, or a module name (repeatable).")
@click.option("--what-if", "what_if", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--validate-online", is_flag=True, default=None, help="Also check credentials against servers.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print every record as it comes.")
def run(answer_file: Path, modules: tuple[str, ...], what_if: bool, validate_online: bool | None, as_json: bool,
        verbose: bool) -> None:
    """Run the upgrade of an answer file; refuses while questions are open; resumes where it stopped."""
    from .upgrade.run_method import RunParams, run_handler

    def work(reporter: Reporter) -> tuple[Any, int]:
        params = RunParams(answer_file=answer_file, module=list(modules) or None, what_if=what_if,
                           validate_online=validate_online or None)
        result = run_handler(params, reporter)
        _emit(result, as_json, _print_run)
        return result, EXIT_OK if result.status == "Succeeded" else EXIT_FAILED

    run_command(as_json, work, verbose=verbose)


def _print_groups(result: Any) -> None:
    click.echo(f"Upgrade-Group {'what-if ' if result.what_if else ''}completed: {result.status}")
    click.echo(f"  {result.selected} selected: {result.upgraded} upgraded, {result.would_upgrade} would be upgraded, "
               f"{result.already_upgraded} already upgraded, {result.skipped} skipped, {result.failed} failed")
    if result.history_rows is not None:
        click.echo(f"  {result.history_rows} history rows of these groups upgraded")


@main.command()
@click.option("--answer-file", "answer_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The answer file (JSON): the target and the directories.")
@click.option("--identity", "identity", multiple=True, help="A group: DN, objectGUID, CN, name or sAMAccountName "
                                                             "(repeatable).")
@click.option("--search-container", "containers", multiple=True, help="A container DN to search (repeatable).")
@click.option("--search-container-scope-list", "--search-containers-scope-list", "scopes", multiple=True,
              type=click.IntRange(1, 2), help="Per container, by position: 1 this container, 2 subtree (default).")
@click.option("--group-type", "group_types", multiple=True, type=int,
              help="1 non-managed, 2 Smart Group, 3 parent Dynasty, 6 password-expiry (repeatable).")
@click.option("--identity-store-id", "store_id", type=int, help="The target identity store whose groups to upgrade.")
@click.option("--keep-user-history", is_flag=True, help="Also upgrade the history of the groups.")
@click.option("--extension-data-attribute", "data_attributes", multiple=True,
              help="The attribute holding the definitions when not extensionData (repeatable).")
@click.option("--group-id-version", "version", help="9, 10, 9.0 or 10.0.")
@click.option("--what-if", "what_if", is_flag=True, help="Show the groups that would be upgraded; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print every group's record as it comes.")
def group(answer_file: Path, identity: tuple[str, ...], containers: tuple[str, ...], scopes: tuple[int, ...],
          group_types: tuple[int, ...], store_id: int | None, keep_user_history: bool,
          data_attributes: tuple[str, ...], version: str | None, what_if: bool, as_json: bool, verbose: bool) -> None:
    """Upgrade chosen groups after the first run (Upgrade-Group); one record per group."""
    from .groups.method import GroupUpgradeParams, group_upgrade_handler

    def work(reporter: Reporter) -> tuple[Any, int]:
        params = GroupUpgradeParams(answer_file=answer_file, identity=list(identity) or None,
                                    search_container=list(containers) or None,
                                    search_container_scope_list=list(scopes) or None,
                                    group_type=list(group_types) or None, identity_store_id=store_id,
                                    keep_user_history=keep_user_history,
                                    extension_data_attributes=list(data_attributes) or None,
                                    group_id_version=version, what_if=what_if)
        result = group_upgrade_handler(params, reporter)
        _emit(result, as_json, _print_groups)
        return result, EXIT_OK if result.status == "Succeeded" else EXIT_FAILED

    run_command(as_json, work, verbose=verbose)


# --- backup sets (issue 7; R17, R18) --------------------------------------------------------------
def _print_backup(result: Any) -> None:
    manifest = result.manifest
    click.echo(f"Backup set {manifest.get('setId')} written to {result.path}")
    for part in manifest.get("parts", []):
        click.echo(f"  backed up  {part['name']}")
    for item in manifest.get("leftOut", []):
        click.echo(f"  left out   {item['part']}: {item['reason']}")
    for part in manifest.get("parts", []):
        for folder in part.get("folders", []):
            for skipped in folder.get("skipped", []):
                click.echo(f"  skipped    {folder['setFolder']}/{skipped['path']}: {skipped['reason']}")
    files = manifest.get("files", [])
    click.echo(f"  {len(files)} files, {sum(f['size'] for f in files)} bytes; manifest.json written last.")


@main.command()
@click.option("--answer-file", "answer_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The answer file (JSON): the source, its Elasticsearch and the directories.")
@click.option("--destination", required=True, type=click.Path(path_type=Path), help="A new or empty folder.")
@click.option("--include", "include", multiple=True, help="A part to back up (repeatable; default: all that exist).")
@click.option("--zip", "zip_it", is_flag=True, help="Pack the finished set into <destination>.zip.")
@click.option("--elasticsearch-stopped", is_flag=True, help="Copy the Elasticsearch data folder (no node may answer).")
@click.option("--sql-server-backup-file", help="SQL Server source: the backup file's path on the server's disk.")
@click.option("--what-if", "what_if", is_flag=True, help="Show what would be backed up; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print every record as it comes.")
def backup(answer_file: Path, destination: Path, include: tuple[str, ...], zip_it: bool, elasticsearch_stopped: bool,
           sql_server_backup_file: str | None, what_if: bool, as_json: bool, verbose: bool) -> None:
    """Write one verifiable backup set of the source installation (Backup-GroupIDData)."""
    from .backup.methods import BackupParams, backup_handler

    def work(reporter: Reporter) -> tuple[Any, int]:
        params = BackupParams(answer_file=answer_file, destination=destination, include=list(include) or None,
                              zip=zip_it, elasticsearch_stopped=elasticsearch_stopped,
                              sql_server_backup_file=sql_server_backup_file, what_if=what_if)
        result = backup_handler(params, reporter)
        _emit(result, as_json, _print_backup)
        return result, EXIT_OK

    run_command(as_json, work, verbose=verbose)


def _print_verify(report: Any) -> None:
    if report.ok:
        click.echo(f"Backup set {report.path} verified: {report.files_checked} files, {report.bytes_checked} bytes, "
                   "every part readable.")
    else:
        click.echo(f"Backup set {report.path} FAILED verification: {len(report.problems)} problem(s).")
        for problem in report.problems:
            where = " ".join(x for x in (problem.part, problem.path) if x)
            click.echo(f"  - {where + ': ' if where else ''}{problem.problem}")
    for item in report.not_checked:
        click.echo(f"  not checked: {item}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--answer-file", "answer_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The answer file, for checks that need servers' credentials (optional).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(path: Path, answer_file: Path | None, as_json: bool) -> None:
    """Check a backup set without restoring it (Test-GroupIDBackup); exit 4 when it has problems."""
    from .backup.methods import VerifyParams, verify_handler
    from .errors import EXIT_VERIFY_PROBLEMS

    def work(reporter: Reporter) -> tuple[Any, int]:
        report = verify_handler(VerifyParams(path=path, answer_file=answer_file), reporter)
        _emit(report, as_json, _print_verify)
        return report, EXIT_OK if report.ok else EXIT_VERIFY_PROBLEMS

    run_command(as_json, work)


def _print_restore(report: Any) -> None:
    click.echo(f"Restore {'what-if ' if report.what_if else ''}of backup set {report.set_id} from {report.path}")
    for part in report.parts:
        click.echo(f"  {part.part:<24} {part.status:<13} {part.written} written, {part.unchanged} unchanged"
                   f"{' -> ' + part.destination if part.destination else ''}")
        for note in part.notes:
            click.echo(f"      {note}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--answer-file", "answer_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The answer file: the source locations and servers to restore into.")
@click.option("--include", "include", multiple=True, required=True, help="A part to restore (repeatable), or All.")
@click.option("--to", "to", type=click.Path(file_okay=False, path_type=Path),
              help="Restore the file parts under this folder instead of the source locations.")
@click.option("--force", is_flag=True, help="Overwrite destinations that differ from the set and are newer.")
@click.option("--container", "containers", multiple=True,
              help="Restore group attributes only under this container DN (repeatable).")
@click.option("--what-if", "what_if", is_flag=True, help="Show what would be restored; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print every record as it comes.")
def restore(path: Path, answer_file: Path, include: tuple[str, ...], to: Path | None, force: bool,
            containers: tuple[str, ...], what_if: bool, as_json: bool, verbose: bool) -> None:
    """Restore chosen parts of a verified backup set (Restore-GroupIDData)."""
    from .backup.methods import RestoreParams, restore_handler

    def work(reporter: Reporter) -> tuple[Any, int]:
        params = RestoreParams(path=path, answer_file=answer_file, include=list(include), to=to, force=force,
                               what_if=what_if, containers=list(containers) or None)
        report = restore_handler(params, reporter)
        _emit(report, as_json, _print_restore)
        return report, EXIT_OK

    run_command(as_json, work, verbose=verbose)


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(EXIT_USAGE)
