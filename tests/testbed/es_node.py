"""A real Elasticsearch 8 node on loopback for the tests: build, start, wait, stop.

The node is built from Maven Central artifacts only (``tests/testbed/elasticsearch``: the ES server jar,
the netty4 HTTP/transport plugin and a small launcher, see its pom.xml). ``mvn -q -B package`` compiles
the launcher and writes the runtime classpath; the jars stay in the default local repository
(``~/.m2``) so later builds are offline-fast. The node runs in its own JVM, bound to 127.0.0.1 only,
single-node discovery, no security (plain HTTP), ``path.data``/``path.repo``/``path.logs`` under the
state directory, and a small heap.

State directory layout::

    state_dir/
        es-node.json   pid, process start time, URL, repo path (written once the node answers)
        node.log       the JVM's stdout and stderr
        home/config/   path.home (the launcher writes log4j2.properties here)
        data/          path.data
        repo/          path.repo: ``fs`` snapshot repositories must be located under it
        logs/ tmp/

CLI::

    python tests/testbed/es_node.py start  --state-dir DIR [--http-port 9250]
    python tests/testbed/es_node.py status --state-dir DIR
    python tests/testbed/es_node.py stop   --state-dir DIR
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

PROJECT_DIR = Path(__file__).resolve().parent / "elasticsearch"
TARGET_DIR = PROJECT_DIR / "target"
CLASSES_DIR = TARGET_DIR / "classes"
CLASSPATH_FILE = TARGET_DIR / "classpath.txt"
MAIN_CLASS = "org.elasticsearch.node.TestbedNode"
STATE_FILE = "es-node.json"
LOG_FILE = "node.log"

HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 9250
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
BUILD_TIMEOUT = 1800.0
HEAP = "512m"
LOG_TAIL_LINES = 40


class NodeError(RuntimeError):
    """The node could not be built, started or stopped; the message says why (with the log's tail)."""


# --- build -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sources() -> list[Path]:
    return [PROJECT_DIR / "pom.xml", *sorted((PROJECT_DIR / "src").rglob("*.java"))]


def _build_is_current() -> bool:
    if (
        not CLASSPATH_FILE.is_file()
        or not (CLASSES_DIR / (MAIN_CLASS.replace(".", "/") + ".class")).is_file()
    ):
        return False
    built = CLASSPATH_FILE.stat().st_mtime
    if any(source.stat().st_mtime > built for source in _sources()):
        return False
    return all(Path(jar).is_file() for jar in _read_classpath())


def _read_classpath() -> list[str]:
    return [entry for entry in CLASSPATH_FILE.read_text().strip().split(os.pathsep) if entry]


def build(force: bool = False) -> list[str]:
    """Build the launcher with Maven when it is missing or stale; return the java classpath."""
    with _file_lock(TARGET_DIR / ".build.lock"):  # in target/, which git ignores
        if force or not _build_is_current():
            mvn = shutil.which("mvn")
            if mvn is None:
                raise NodeError(
                    "Maven (mvn) is not on PATH; install maven to build the Elasticsearch testbed node."
                )
            try:
                done = subprocess.run(
                    [mvn, "-q", "-B", "package"],
                    cwd=PROJECT_DIR,
                    capture_output=True,
                    text=True,
                    timeout=BUILD_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise NodeError(
                    f"mvn package in {PROJECT_DIR} did not finish in {BUILD_TIMEOUT:.0f} s."
                ) from exc
            if done.returncode != 0 or not CLASSPATH_FILE.is_file():
                tail = "\n".join((done.stdout + done.stderr).splitlines()[-LOG_TAIL_LINES:])
                raise NodeError(f"mvn package in {PROJECT_DIR} failed (exit {done.returncode}):\n{tail}")
            CLASSPATH_FILE.touch()
        return [str(CLASSES_DIR), *_read_classpath()]


# --- state -------------------------------------------------------------------------------------


def _state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def _read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(_state_path(state_dir).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_state(state_dir: Path, state: dict[str, Any]) -> None:
    tmp = _state_path(state_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(_state_path(state_dir))


def _our_process(state: dict[str, Any]) -> psutil.Process | None:
    """The node process the state describes, if it is still that process (not a reused pid)."""
    try:
        proc = psutil.Process(int(state["pid"]))
        if abs(proc.create_time() - float(state["create_time"])) > 1.0:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, ValueError):
        return None


def _answers(url: str, timeout: float = 2.0) -> bool:
    """True when GET / answers 200 with the Elasticsearch product header."""
    try:
        with urllib.request.urlopen(url + "/", timeout=timeout) as response:
            return response.status == 200 and response.headers.get("X-Elastic-Product") == "Elasticsearch"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _log_tail(state_dir: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = (state_dir / LOG_FILE).read_text(errors="replace")
    except FileNotFoundError:
        return "(no node log)"
    return "\n".join(text.splitlines()[-lines:]) or "(node log is empty)"


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port(preferred: int = DEFAULT_HTTP_PORT, attempts: int = 50) -> int:
    """``preferred`` when it is free on loopback, else the next free port above it."""
    for port in range(preferred, preferred + attempts):
        if _port_is_free(port):
            return port
    raise NodeError(f"no free loopback port in {preferred}..{preferred + attempts - 1}")


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise NodeError(
            "java is not on PATH (Java 17 or later is needed for the Elasticsearch testbed node)."
        )
    return java


def _result(state: dict[str, Any]) -> dict[str, str]:
    return {"ES_URL": state["url"], "ES_REPO_PATH": state["repo_path"], "ES_PID": str(state["pid"])}


# --- start / stop ------------------------------------------------------------------------------


def status(state_dir: Path) -> dict[str, Any]:
    """What the state file says, and whether that node is alive and answering."""
    state_dir = Path(state_dir)
    state = _read_state(state_dir)
    if state is None:
        return {"running": False, "answering": False}
    proc = _our_process(state)
    return {
        **state,
        "running": proc is not None,
        "answering": proc is not None and _answers(state["url"]),
    }


def is_up(state_dir: Path) -> bool:
    return bool(status(state_dir)["answering"])


def start(state_dir: Path, http_port: int = DEFAULT_HTTP_PORT) -> dict[str, str]:
    """Start the node (building it first if needed) and wait until ``GET /`` answers.

    When the state file already describes a live, answering node, that node is returned as is.
    Returns ``{"ES_URL": ..., "ES_REPO_PATH": ..., "ES_PID": ...}``.
    """
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(state_dir / ".lock"):
        current = status(state_dir)
        if current["answering"]:
            return _result(current)
        if current["running"]:  # alive but not answering: a leftover; stop it before starting again
            _stop_locked(state_dir)
        _state_path(state_dir).unlink(missing_ok=True)

        if not _port_is_free(http_port):
            raise NodeError(
                f"port {HOST}:{http_port} is already in use by another process; "
                "pass another http_port or stop what listens there."
            )
        classpath = build()
        java = _java()

        paths = {name: state_dir / name for name in ("home", "data", "repo", "logs", "tmp")}
        for path in paths.values():
            path.mkdir(parents=True, exist_ok=True)
        url = f"http://{HOST}:{http_port}"
        settings = {
            "node.name": "groupid-testbed",
            "cluster.name": "groupid-testbed",
            "path.home": paths["home"],
            "path.data": paths["data"],
            "path.repo": paths["repo"],
            "path.logs": paths["logs"],
            "network.host": HOST,
            "http.port": http_port,
            "transport.port": f"{http_port + 100}-{http_port + 199}",
            "discovery.type": "single-node",
            # a test machine's disk may be fuller than the default watermarks allow
            "cluster.routing.allocation.disk.threshold_enabled": "false",
        }
        command = [
            java,
            f"-Xms{HEAP}",
            f"-Xmx{HEAP}",
            f"-Djava.io.tmpdir={paths['tmp']}",
            "-Dlog4j2.disable.jmx=true",
            "-Dlog4j.shutdownHookEnabled=false",  # the node's own shutdown hook logs its close
            "-Dlog4j2.formatMsgNoLookups=true",
            "-Dfile.encoding=UTF-8",
            "-Djava.net.preferIPv4Stack=true",  # bind 127.0.0.1 itself, not an IPv6 socket mapping it
            "-cp",
            os.pathsep.join(classpath),
            MAIN_CLASS,
            *(f"{key}={value}" for key, value in settings.items()),
        ]
        log = (state_dir / LOG_FILE).open("wb")
        try:
            process = subprocess.Popen(
                command,
                cwd=state_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal goes to pytest, which stops the node itself
            )
        finally:
            log.close()
        _CHILDREN[process.pid] = process
        state = {
            "pid": process.pid,
            "create_time": psutil.Process(process.pid).create_time(),
            "url": url,
            "http_port": http_port,
            "repo_path": str(paths["repo"]),
            "state_dir": str(state_dir),
            "started_at": time.time(),
        }
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(url):
            if process.poll() is not None:
                _CHILDREN.pop(process.pid, None)
                raise NodeError(
                    f"the Elasticsearch testbed node exited with code {process.returncode} before {url} answered; "
                    f"last lines of {state_dir / LOG_FILE}:\n{_log_tail(state_dir)}"
                )
            if time.monotonic() > deadline:
                _terminate(psutil.Process(process.pid), STOP_TIMEOUT)
                _CHILDREN.pop(process.pid, None)
                raise NodeError(
                    f"the Elasticsearch testbed node did not answer at {url} within {START_TIMEOUT:.0f} s; "
                    f"last lines of {state_dir / LOG_FILE}:\n{_log_tail(state_dir)}"
                )
            time.sleep(0.25)
        _wait_for_yellow(url, deadline)
        _write_state(state_dir, state)
        return _result(state)


def _wait_for_yellow(url: str, deadline: float) -> None:
    remaining = max(1, int(deadline - time.monotonic()))
    query = f"{url}/_cluster/health?wait_for_status=yellow&timeout={remaining}s"
    try:
        with urllib.request.urlopen(query, timeout=remaining + 5) as response:
            health = json.load(response)
    except (urllib.error.URLError, OSError) as exc:
        raise NodeError(f"cluster health at {url} failed: {exc}") from exc
    if health.get("timed_out") or health.get("status") not in ("yellow", "green"):
        raise NodeError(f"the cluster at {url} did not become yellow: {health}")


# Popen objects of the nodes this process started, so stop() can reap them (no zombie left behind).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _terminate(proc: psutil.Process, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; returns once the process is gone."""
    child = _CHILDREN.get(proc.pid)
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(signal.SIGTERM)
    try:
        if child is not None:
            child.wait(timeout)
        else:
            proc.wait(timeout)
    except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
        if child is not None:
            child.wait(10)
        else:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.wait(10)
    except psutil.NoSuchProcess:
        pass
    _CHILDREN.pop(proc.pid, None)


def _stop_locked(state_dir: Path, timeout: float = STOP_TIMEOUT) -> bool:
    state = _read_state(state_dir)
    if state is None:
        return False
    proc = _our_process(state)
    stopped = False
    if proc is not None:
        _terminate(proc, timeout)
        stopped = True
    _state_path(state_dir).unlink(missing_ok=True)
    return stopped


def stop(state_dir: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop exactly the node the state file names (SIGTERM, then SIGKILL after ``timeout``).

    Returns True when a process was stopped, False when there was none. The state file is removed.
    """
    state_dir = Path(state_dir).resolve()
    with _file_lock(state_dir / ".lock"):
        return _stop_locked(state_dir, timeout)


# --- CLI ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Elasticsearch 8 testbed node (loopback only).")
    parser.add_argument("action", choices=["start", "stop", "status", "build"])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT)
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            build(force=True)
            print(f"built {CLASSES_DIR}")
        elif args.action == "start":
            began = time.monotonic()
            result = start(args.state_dir, args.http_port)
            for key, value in result.items():
                print(f"{key}={value}")
            print(f"# up after {time.monotonic() - began:.1f} s", file=sys.stderr)
        elif args.action == "stop":
            print("stopped" if stop(args.state_dir) else "no node was running")
        else:
            info = status(args.state_dir)
            print(json.dumps(info, indent=2))
            return 0 if info["answering"] else 1
    except NodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
