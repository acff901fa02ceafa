"""``groupid-upgrade``: the command line. Each command calls the same function the protocol calls
(``status`` and ``doctor`` are the CLI's own), and shows its progress through console.py.

Exit codes (docs/protocol.md): 0 done; 1 failed or PartiallySucceeded; 2 usage error; 3 open questions
(``plan`` too) or an unmet prerequisite (a failed ``doctor`` check); 4 verify found problems; 130
cancelled (Ctrl+C). Output: text, ``--json``, or ``--json-lines`` (docs/protocol.md, The CLI's output).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, EngineError
from .reporting import Reporter
from .tables import format_table

EXIT_CODES = """\b
Exit codes:
  0    done
  1    failed, or partially succeeded
  2    usage error: bad option, answer file or input file
  3    open questions, or an unmet prerequisite
  4    a backup set failed verification
  130  cancelled (Ctrl+C)"""


def epilog(*examples: str) -> str:
    """The end of a command's --help: examples, then the exit codes (``\\b`` keeps click from rewrapping)."""
    return "\b\nExamples:\n" + "\n".join(f"  {e}" for e in examples) + "\n\n" + EXIT_CODES


class NameChoice(click.Choice[str]):
    """A case-insensitive choice that lists its values in --help and says 'did you mean' to a typo."""

    def __init__(self, choices: Sequence[str], *, commas: bool = False) -> None:
        super().__init__(list(choices), case_sensitive=False)
        self.commas = commas  # "A,B" is two values (backup --include has always taken that)

    def get_metavar(self, *args: Any, **kwargs: Any) -> str:
        return "[" + "|".join(map(str, self.choices)) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if self.commas and isinstance(value, str) and "," in value:
            return ",".join(self.convert(piece.strip(), param, ctx) for piece in value.split(",") if piece.strip())
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            from .suggest import did_you_mean

            self.fail(f"{value!r} is not one of {', '.join(map(str, self.choices))}."
                      f"{did_you_mean(str(value), map(str, self.choices))}", param, ctx)


def module_choice() -> NameChoice:
    from .model.settings import MODULES
    from .planning.modules import EVERYTHING

    return NameChoice([EVERYTHING, *MODULES])


def part_choice(*, with_all: bool = True) -> NameChoice:
    from .backup.manifest import PARTS

    return NameChoice([*(["All"] if with_all else []), *PARTS], commas=True)


def progress_options(*, json_lines: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--no-progress (and --json-lines where a command streams items) on a long-running command."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option("--no-progress", is_flag=True,
                         help="Plain lines, one per progress event, instead of live progress.")(f)
        if json_lines:
            f = click.option("--json-lines", "json_lines", is_flag=True,
                             help="One JSON object per progress event and item outcome on stdout as it happens, "
                                  "then the result (docs/protocol.md, docs/schemas/).")(f)
        return f

    return decorate


def _print_error(exc: EngineError, as_json: bool) -> None:
    click.echo(f"error: {exc.message}", err=True)
    if exc.recommended_action:
        click.echo(f"  what to do: {exc.recommended_action}", err=True)
    for err in exc.extra.get("errors", [])[:50]:
        click.echo(f"  - {err['field']}: {err['message']}", err=True)
    if as_json:
        click.echo(json.dumps({"error": exc.to_error_object()}, indent=2))


def input_file_error(exc: OSError) -> EngineError:
    """An OS error on a file the user named (directly or in the answer file): the file, why, rc 2."""
    name = exc.filename if exc.filename is not None else "(a file)"
    return EngineError("AnswerFileInvalid", f"The file {name} cannot be used ({exc.strerror or type(exc).__name__}).",
                       target=str(name), recommended_action="Check the path in the command or the answer file, and "
                                                            "that this account may read it.")


class Output:
    """How a command prints: --json, --json-lines or text, and which reporter shows its progress."""

    def __init__(self, command: str, *, as_json: bool = False, json_lines: bool = False, verbose: bool = False,
                 no_progress: bool = False) -> None:
        if as_json and json_lines:
            raise click.UsageError("--json and --json-lines cannot be combined: choose one.")
        from .console import make_reporter

        self.command = command
        self.as_json = as_json
        self.json_lines = json_lines
        self.reporter = make_reporter(verbose=verbose, no_progress=no_progress, json_lines=json_lines)

    def result(self, result: Any, code: int, human: Callable[[Any], None]) -> None:
        data = result.wire() if hasattr(result, "wire") else result
        self.reporter.clear()
        if self.json_lines:
            from .model.events import ResultLine

            self.reporter.write(ResultLine(command=self.command, exit_code=code, result=data))
        elif self.as_json:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            human(result)

    def error(self, exc: EngineError) -> None:
        self.reporter.clear()
        if self.json_lines:
            from .model.events import ErrorLine

            click.echo(f"error: {exc.message}", err=True)
            self.reporter.write(ErrorLine.model_validate({"command": self.command, "exitCode": exc.exit_code,
                                                          "error": exc.to_error_object()}))
        else:
            _print_error(exc, self.as_json)


def run_command(out: Output, work: Callable[[Reporter], tuple[Any, int, Callable[[Any], None]]]) -> None:
    """Run ``work`` (it returns the result, the exit code and how to print it for a person); turn its outcome
    into output and an exit code, never a traceback."""
    reporter = out.reporter
    try:
        try:
            result, code, human = work(reporter)
        except OSError as exc:
            if exc.filename is None:
                raise
            raise input_file_error(exc) from None
        out.result(result, code, human)
    except EngineError as exc:
        out.error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        reporter.clear()
        if out.json_lines:  # the stream still ends with a line that says how
            from .errors import Cancelled
            from .model.events import ErrorLine

            reporter.write(ErrorLine.model_validate({"command": out.command, "exitCode": EXIT_CANCELLED,
                                                     "error": Cancelled(what="the command (Ctrl+C)").to_error_object()}))
        click.echo("Cancelled. Nothing half-done was kept; run the same command again to resume.", err=True)
        sys.exit(EXIT_CANCELLED)
    except Exception as exc:
        reporter.clear()
        from .safety.resources import translate

        named = translate(exc)  # disk full, read-only, permission denied...: named, whatever raised it
        if named is not None:
            out.error(named)
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=epilog(
    "groupid-upgrade sample --out demo",
    "groupid-upgrade doctor --answer-file demo/answers.json",
    "groupid-upgrade plan --answer-file demo/answers.json",
    "groupid-upgrade run --answer-file demo/answers.json",
    "groupid-upgrade status --answer-file demo/answers.json"))
@click.version_option(__version__, prog_name="groupid-upgrade")
def main() -> None:
    """Upgrade Imanami GroupID 9/10 to GroupID / Directory Manager 11, and back it up first.

    Run COMMAND --help for a command's options, examples and exit codes.
    """


@main.command(epilog=epilog("groupid-upgrade serve < requests.jsonl > answers.jsonl"))
def serve() -> None:
    """Serve JSON-RPC 2.0 on stdin/stdout (the PowerShell module's engine; docs/protocol.md)."""
    from .protocol.server import run_server

    sys.exit(run_server(sys.stdin.buffer, sys.stdout.buffer))


ANSWER_FILE = click.option("--answer-file", "answer_file", required=True,
                           type=click.Path(dir_okay=False, path_type=Path),
                           help="The answer file (JSON; docs/answer-file.md).")
MODULES_OPTION = click.option("--module", "modules", multiple=True, type=module_choice(),
                              help="Everything, or a module (repeatable); default: the answer file's modules.")


@main.command(epilog=epilog("groupid-upgrade sample --out demo",
                            "groupid-upgrade sample --out demo9 --version 9.0 --groups 100 --history 100000 --json"))
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
@progress_options(json_lines=False)
def sample(out: Path, version: str, seed: int, groups: int, history: int, with_faults: bool, as_json: bool,
           no_progress: bool) -> None:
    """Generate a sample GroupID installation (SQLite, folders, LDIF, PFX, answers.json)."""
    from .sample.generator import SampleSpec, generate_sample

    def work(reporter: Reporter) -> tuple[Any, int, Callable[[Any], None]]:
        started = time.monotonic()
        spec = SampleSpec(out=out.resolve(), version=version if "." in version else f"{version}.0", seed=seed,
                          groups=groups, history=history, with_faults=with_faults)
        path = generate_sample(spec, reporter)
        from .model.cli_output import SampleResult

        result = SampleResult(path=str(path), answer_file=str(path / "answers.json"), version=spec.version, seed=seed,
                              history=history, groups_per_domain=groups, seconds=round(time.monotonic() - started, 2))
        return result, EXIT_OK, lambda r: click.echo(
            f"Sample GroupID {r.version} installation written to {r.path} "
            f"({r.history} history rows, {r.groups_per_domain} groups per domain).\n"
            f"Answer file: {r.answer_file}")

    run_command(Output("sample", as_json=as_json, no_progress=no_progress), work)


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
    for line in format_table(None, rows):
        click.echo(line)
    click.echo("")
    for line in format_table(("Id", "Identity store", "Type", "Domain", "Enabled", "Groups", "History"),
                             [(st.id, st.name, st.type, st.domain, "yes" if st.enabled else "no", st.managed_groups,
                               st.history_rows) for st in inv.stores], right=(0, 5, 6)):
        click.echo(line)
    if plan.items:
        click.echo("")
        done = sum(1 for item in plan.items if item.already_done)
        click.echo(f"Plan items{f' ({done} already done in the target)' if done else ''}")
        for item in plan.items:
            target = f" -> {item.target}" if item.target else ""
            state = "already done" if item.already_done else item.action
            click.echo(f"  [{item.module}] {state:<9} {item.object_type} {item.name}{target}: {item.reason}")
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
    if open_questions:
        click.echo("")
        click.echo(f"{len(open_questions)} question(s) open: answer them in the answer file "
                   "(--emit-answer-template FILE writes a template); exit code 3.")


@main.command(epilog=epilog("groupid-upgrade plan --answer-file answers.json",
                            "groupid-upgrade plan --answer-file answers.json --module Configuration --module Reports",
                            "groupid-upgrade plan --answer-file answers.json --emit-answer-template answers.new.json",
                            "groupid-upgrade plan --answer-file answers.json --json > plan.json"))
@ANSWER_FILE
@MODULES_OPTION
@click.option("--validate-online", is_flag=True, default=None, help="Also check credentials against servers.")
@click.option("--emit-answer-template", "template", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the answer file with a skeleton answer for every open question to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the Plan as JSON.")
@progress_options(json_lines=False)
def plan(answer_file: Path, modules: tuple[str, ...], validate_online: bool | None, template: Path | None,
         as_json: bool, no_progress: bool) -> None:
    """Compute the Plan for an answer file and print it; writes nothing (but the template, if asked).

    Items the target's ledger already holds are shown as "already done". Exit 3 while questions are open.
    """
    from .errors import EXIT_OPEN_QUESTIONS
    from .settings_params import PlanParams
    from .upgrade.plan_method import plan_handler, write_answer_template

    def work(reporter: Reporter) -> tuple[Any, int, Callable[[Any], None]]:
        params = PlanParams(answer_file=answer_file, module=list(modules) or None,
                            validate_online=validate_online or None)
        result = plan_handler(params, reporter)
        if template is not None:
            write_answer_template(result, answer_file, template)
            click.echo(f"Answer template with {len(result.open_questions)} open question(s) written to {template}.",
                       err=True)
        return result, EXIT_OPEN_QUESTIONS if result.open_questions else EXIT_OK, _print_plan

    run_command(Output("plan", as_json=as_json, no_progress=no_progress), work)


def _print_run(result: Any) -> None:
    click.echo("")
    click.echo(f"Upgrade {'what-if ' if result.what_if else ''}completed: {result.status}")
    rows = [(m.module, m.status, f"{m.done} done, {m.already_done} already done, {m.failed} failed"
             f"{' (' + m.reason + ')' if m.reason else ''}") for m in result.modules]
    for line, module in zip(format_table(None, rows), result.modules, strict=True):
        click.echo(line)
        for note in module.notes:
            click.echo(f"      {note}")
        for failure in module.failures:
            click.echo(f"      failed: {failure.name}: {failure.error['message']}")
    if not result.what_if:
        click.echo(f"Log: {result.log_path}")


@main.command(epilog=epilog("groupid-upgrade run --answer-file answers.json --what-if",
                            "groupid-upgrade run --answer-file answers.json",
                            "groupid-upgrade run --answer-file answers.json --module History --json-lines > run.jsonl"))
@ANSWER_FILE
@MODULES_OPTION
@click.option("--what-if", "what_if", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--validate-online", is_flag=True, default=None, help="Also check credentials against servers.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print every record and run-log event as it comes.")
@progress_options(json_lines=True)
def run(answer_file: Path, modules: tuple[str, ...], what_if: bool, validate_online: bool | None, as_json: bool,
        verbose: bool, no_progress: bool, json_lines: bool) -> None:
    """Run the upgrade of an answer file; refuses while questions are open; resumes where it stopped."""
    from .upgrade.run_method import RunParams, run_handler

    def work(reporter: Reporter) -> tuple[Any, int, Callable[[Any], None]]:
        params = RunParams(answer_file=answer_file, module=list(modules) or None, what_if=what_if,
                           validate_online=validate_online or None)
        result = run_handler(params, reporter)
        return result, EXIT_OK if result.status == "Succeeded" else EXIT_FAILED, _print_run

    run_command(Output("run", as_json=as_json, json_lines=json_lines, verbose=verbose, no_progress=no_progress),
                work)


def _print_status(report: Any) -> None:
    click.echo(f"Target: {report.target}")
    if not report.exists:
        click.echo("  No run has written this target yet.")
    if report.runs:
        click.echo("")
        click.echo("Runs")
        for line in format_table(("Started", "Ended", "Status", "Modules", "Stopped by"),
                                 [(r.started_on, r.finished_on or "-", r.status, ",".join(r.modules),
                                   r.stopped_by or "") for r in report.runs]):
            click.echo(line)
    if report.units:
        click.echo("")
        click.echo("Units of the current plan")
        for line in format_table(("Module", "Kind", "Done", "Failed", "Pending"),
                                 [(u.module, u.kind, u.done, u.failed, u.pending) for u in report.units],
                                 right=(2, 3, 4)):
            click.echo(line)
    elif report.plan_error:
        click.echo(f"  The current plan could not be computed: {report.plan_error['message']}")
    if report.groups_upgraded:
        click.echo(f"  Groups upgraded: {report.groups_upgraded}")
    click.echo("")
    waiting = sum(o.documents for o in report.outbox)
    click.echo(f"History outbox: {waiting} document(s) waiting for Elasticsearch"
               + (" (" + ", ".join(f"store {o.identity_store_id}: {o.documents}" for o in report.outbox) + ")"
                  if report.outbox else ""))
    if report.last_errors:
        click.echo("")
        click.echo("Last error per module")
        for e in report.last_errors:
            click.echo(f"  {e.module}: {e.error_id}: {e.message}{f' ({e.time})' if e.time else ''}")
    click.echo(f"Log: {report.log_path}")


@main.command(epilog=epilog("groupid-upgrade status --answer-file answers.json",
                            "groupid-upgrade status --answer-file answers.json --json"))
@ANSWER_FILE
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@progress_options(json_lines=False)
def status(answer_file: Path, as_json: bool, no_progress: bool) -> None:
    """What the target holds: its runs, done / failed / pending units against the current plan, the
    history outbox and the last error of each module. Writes nothing."""
    from .answerfile import load_answer_file
    from .upgrade.status import target_status

    def work(reporter: Reporter) -> tuple[Any, int, Callable[[Any], None]]:
        report = target_status(load_answer_file(answer_file, reporter=reporter), reporter)
        return report, EXIT_OK, _print_status

    run_command(Output("status", as_json=as_json, no_progress=no_progress), work)


def _print_doctor(report: Any) -> None:
    width = max((len(c.server) for c in report.checks), default=0)
    for c in report.checks:
        mark = {"ok": "ok     ", "failed": "FAILED ", "skipped": "skipped"}[c.status]
        click.echo(f"{mark} {c.server:<{width}}  {c.check}: {c.detail} ({c.seconds * 1000:.0f} ms)")
        if c.what_to_do and c.status == "failed":
            click.echo(f"        what to do: {c.what_to_do}")
    failed = sum(1 for c in report.checks if c.status == "failed")
    click.echo("")
    click.echo("Every check passed." if not failed else f"{failed} check(s) failed: fix them, then run doctor again "
                                                        "(exit code 3).")


@main.command(epilog=epilog("groupid-upgrade doctor --answer-file answers.json",
                            "groupid-upgrade doctor --answer-file answers.json --json"))
@ANSWER_FILE
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@progress_options(json_lines=False)
def doctor(answer_file: Path, as_json: bool, no_progress: bool) -> None:
    """Preflight: reach every server of the answer file with its credentials and TLS, and check what a run
    needs there (source tables readable, target tables creatable, an index and a snapshot repository,
    the forest readable, group attributes writable); each check timed, with what to do. Exit 3 when one
    fails. Nothing is changed: probes are removed again."""
    from .answerfile import load_answer_file
    from .doctor import run_doctor
    from .errors import EXIT_OPEN_QUESTIONS

    def work(reporter: Reporter) -> tuple[Any, int, Callable[[Any], None]]:
        report = run_doctor(load_answer_file(answer_file, reporter=reporter), reporter)
        return report, EXIT_OK if report.ok else EXIT_OPEN_QUESTIONS, _print_doctor

    run_command(Output("doctor", as_json=as_json, no_progress=no_progress), work)


def _print_groups(result: Any) -> None:
    click.echo(f"Upgrade-Group {'what-if ' if result.what_if else ''}completed: {result.status}")
    click.echo(f"  {result.selected} selected: {result.upgraded} upgraded, {result.would_upgrade} would be upgraded, "
               f"{result.already_upgraded} already upgraded, {result.skipped} skipped, {result.failed} failed")
    if result.history_rows is not None:
        click.echo(f"  {result.history_rows} history rows of these groups upgraded")


@main.command(epilog=epilog(
    "groupid-upgrade group --answer-file answers.json --identity 'CN=Sales,OU=Groups,DC=corp,DC=example,DC=com'",
    "groupid-upgrade group --answer-file answers.json --search-container 'OU=Jobs,DC=corp,DC=example,DC=com' "
    "--group-type 2 --what-if",
    "groupid-upgrade group --answer-file answers.json --identity-store-id 1 --keep-user-history --json-lines"))
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
@click.option("--group-id-version", "version", type=click.Choice(["9", "10", "9.0", "10.0"]),
              help="The GroupID version that wrote the definitions.")
@click.option("--what-if", "what_if", is_flag=True, help="Show the groups that would be upgraded; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print every group's record as it comes.")
@progress_options(json_lines=True)
def group(answer_file: Path, identity: tuple[str, ...], containers: tuple[str, ...], scopes: tuple[int, ...],
          group_types: tuple[int, ...], store_id: int | None, keep_user_history: bool,
          data_attributes: tuple[str, ...], version: str | None, what_if: bool, as_json: bool, verbose: bool,
          no_progress: bool, json_lines: bool) -> None:
    """Upgrade chosen groups after the first run (Upgrade-Group); one record per group."""
    from .groups.method import GroupUpgradeParams, group_upgrade_handler

    def work(reporter: Reporter) -> tuple[Any, int, Callable[[Any], None]]:
        params = GroupUpgradeParams(answer_file=answer_file, identity=list(identity) or None,
                                    search_container=list(containers) or None,
                                    search_container_scope_list=list(scopes) or None,
                                    group_type=list(group_types) or None, identity_store_id=store_id,
                                    keep_user_history=keep_user_history,
                                    extension_data_attributes=list(data_attributes) or None,
                                    group_id_version=version, what_if=what_if)
        result = group_upgrade_handler(params, reporter)
        return result, EXIT_OK if result.status == "Succeeded" else EXIT_FAILED, _print_groups

    run_command(Output("group", as_json=as_json, json_lines=json_lines, verbose=verbose, no_progress=no_progress),
                work)


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


@main.command(epilog=epilog("groupid-upgrade backup --answer-file answers.json --destination /backups/gid-1",
                            "groupid-upgrade backup --answer-file answers.json --destination /backups/gid-2 "
                            "--include Database --include Reports --zip --json-lines"))
@click.option("--answer-file", "answer_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The answer file (JSON): the source, its Elasticsearch and the directories.")
@click.option("--destination", required=True, type=click.Path(path_type=Path), help="A new or empty folder.")
@click.option("--include", "include", multiple=True, type=part_choice(),
              help="A part to back up (repeatable; default: all that exist).")
@click.option("--zip", "zip_it", is_flag=True, help="Pack the finished set into <destination>.zip.")
@click.option("--elasticsearch-stopped", is_flag=True, help="Copy the Elasticsearch data folder (no node may answer).")
@click.option("--sql-server-backup-file", help="SQL Server source: the backup file's path on the server's disk.")
@click.option("--what-if", "what_if", is_flag=True, help="Show what would be backed up; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print every record as it comes.")
@progress_options(json_lines=True)
def backup(answer_file: Path, destination: Path, include: tuple[str, ...], zip_it: bool, elasticsearch_stopped: bool,
           sql_server_backup_file: str | None, what_if: bool, as_json: bool, verbose: bool, no_progress: bool,
           json_lines: bool) -> None:
    """Write one verifiable backup set of the source installation (Backup-GroupIDData)."""
    from .backup.methods import BackupParams, backup_handler

    def work(reporter: Reporter) -> tuple[Any, int, Callable[[Any], None]]:
        params = BackupParams(answer_file=answer_file, destination=destination, include=list(include) or None,
                              zip=zip_it, elasticsearch_stopped=elasticsearch_stopped,
                              sql_server_backup_file=sql_server_backup_file, what_if=what_if)
        result = backup_handler(params, reporter)
        return result, EXIT_OK, _print_backup

    run_command(Output("backup", as_json=as_json, json_lines=json_lines, verbose=verbose, no_progress=no_progress),
                work)


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


@main.command(epilog=epilog("groupid-upgrade verify /backups/gid-1",
                            "groupid-upgrade verify /backups/gid-1.zip --answer-file answers.json --json"))
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--answer-file", "answer_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The answer file, for checks that need servers' credentials (optional).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@progress_options(json_lines=False)
def verify(path: Path, answer_file: Path | None, as_json: bool, no_progress: bool) -> None:
    """Check a backup set without restoring it (Test-GroupIDBackup); exit 4 when it has problems."""
    from .backup.methods import VerifyParams, verify_handler
    from .errors import EXIT_VERIFY_PROBLEMS

    def work(reporter: Reporter) -> tuple[Any, int, Callable[[Any], None]]:
        report = verify_handler(VerifyParams(path=path, answer_file=answer_file), reporter)
        return report, EXIT_OK if report.ok else EXIT_VERIFY_PROBLEMS, _print_verify

    run_command(Output("verify", as_json=as_json, no_progress=no_progress), work)


def _print_restore(report: Any) -> None:
    click.echo(f"Restore {'what-if ' if report.what_if else ''}of backup set {report.set_id} from {report.path}")
    rows = [(part.part, part.status, f"{part.written} written, {part.unchanged} unchanged"
             f"{' -> ' + part.destination if part.destination else ''}") for part in report.parts]
    for line, part in zip(format_table(None, rows), report.parts, strict=True):
        click.echo(line)
        for note in part.notes:
            click.echo(f"      {note}")


@main.command(epilog=epilog("groupid-upgrade restore /backups/gid-1 --answer-file answers.json --include All "
                            "--to /tmp/restore-check",
                            "groupid-upgrade restore /backups/gid-1 --answer-file answers.json --include Reports "
                            "--what-if --json-lines"))
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--answer-file", "answer_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The answer file: the source locations and servers to restore into.")
@click.option("--include", "include", multiple=True, required=True, type=part_choice(),
              help="A part to restore (repeatable), or All.")
@click.option("--to", "to", type=click.Path(file_okay=False, path_type=Path),
              help="Restore the file parts under this folder instead of the source locations.")
@click.option("--force", is_flag=True, help="Overwrite destinations that differ from the set and are newer.")
@click.option("--container", "containers", multiple=True,
              help="Restore group attributes only under this container DN (repeatable).")
@click.option("--what-if", "what_if", is_flag=True, help="Show what would be restored; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print every record as it comes.")
@progress_options(json_lines=True)
def restore(path: Path, answer_file: Path, include: tuple[str, ...], to: Path | None, force: bool,
            containers: tuple[str, ...], what_if: bool, as_json: bool, verbose: bool, no_progress: bool,
            json_lines: bool) -> None:
    """Restore chosen parts of a verified backup set (Restore-GroupIDData)."""
    from .backup.methods import RestoreParams, restore_handler

    def work(reporter: Reporter) -> tuple[Any, int, Callable[[Any], None]]:
        params = RestoreParams(path=path, answer_file=answer_file, include=list(include), to=to, force=force,
                               what_if=what_if, containers=list(containers) or None)
        report = restore_handler(params, reporter)
        return report, EXIT_OK, _print_restore

    run_command(Output("restore", as_json=as_json, json_lines=json_lines, verbose=verbose, no_progress=no_progress),
                work)


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(EXIT_USAGE)
