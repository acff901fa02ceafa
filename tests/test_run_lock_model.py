"""The run lock against a model, on generated sequences (hypothesis): any order of commands taking,
releasing, probing and crashing (a child process that takes the lock and dies without releasing it,
as ``kill -9`` would leave it) keeps one holder at most, names the holder in every refusal, names a dead
holder to the command that takes its lock over, and a probe (what-if) never writes."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from groupid_upgrade.errors import EngineError
from groupid_upgrade.target.lock import LOCK_FOLDER_ENV, RunLock, resource_identity

RESOURCES = ("target-a.db", "target-b.db")


class RunLockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="groupid-lock-model-"))
        self.held: dict[str, tuple[str, contextlib.ExitStack]] = {}  # resource -> (run id, its open hold)
        self.dead: dict[str, str] = {}  # resource -> run id of a holder that died holding it
        self.count = 0

    def lock(self, resource: str) -> RunLock:
        os.environ[LOCK_FOLDER_ENV] = str(self.folder / "locks")  # restored by the fixture after the test
        return RunLock(resource_identity("path", str(self.folder / resource)), f"target database {resource}")

    def next_id(self) -> str:
        self.count += 1
        return f"run-{self.count}"

    @rule(resource=st.sampled_from(RESOURCES))
    def take(self, resource: str) -> None:
        run_id = self.next_id()
        lock = self.lock(resource)
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(lock.hold(run_id, "upgrade.run"))
        except EngineError as refused:
            assert resource in self.held, f"refused a free lock: {refused.message}"
            assert refused.error_id == "TargetInUse"
            assert refused.data()["holder"]["runId"] == self.held[resource][0]
            return
        assert resource not in self.held, "two holders of one lock"
        expected_previous = self.dead.pop(resource, None)
        assert (lock.previous.run_id if lock.previous else None) == expected_previous
        self.held[resource] = (run_id, stack)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        resource = data.draw(st.sampled_from(sorted(self.held)))
        _run_id, stack = self.held.pop(resource)
        stack.close()
        assert self.lock(resource).path.stat().st_size == 0  # a clean release names nobody

    @rule(resource=st.sampled_from(RESOURCES))
    def crash_a_holder(self, resource: str) -> None:
        """A child process takes the lock and dies without releasing it (the kernel releases it)."""
        if resource in self.held:
            return
        run_id = self.next_id()
        pid = os.fork()
        if pid == 0:  # the child: take the lock, then die at once, no cleanup
            code = 0
            try:
                holding = self.lock(resource).hold(run_id, "upgrade.run")  # kept: a dropped one would release
                holding.__enter__()
            except BaseException:
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        self.dead[resource] = run_id

    @rule(resource=st.sampled_from(RESOURCES))
    def probe(self, resource: str) -> None:
        lock = self.lock(resource)
        existed = lock.path.exists()
        before = lock.path.read_bytes() if existed else None
        try:
            lock.probe()
        except EngineError as refused:
            assert resource in self.held and refused.data()["holder"]["runId"] == self.held[resource][0]
        else:
            assert resource not in self.held
        assert lock.path.exists() == existed and (lock.path.read_bytes() if existed else None) == before

    @invariant()
    def described_holders(self) -> None:
        for resource, (run_id, _stack) in self.held.items():
            assert run_id.encode() in self.lock(resource).path.read_bytes()

    def teardown(self) -> None:
        for _run_id, stack in self.held.values():
            stack.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def lock_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCK_FOLDER_ENV, str(tmp_path))


TestRunLockModel = RunLockMachine.TestCase
TestRunLockModel.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
