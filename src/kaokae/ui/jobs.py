"""The job runner: every long task is its own process running the CLI (`python -m kaokae.ui.job ... -- COMMAND
ARGS`), recorded in the workspace's SQLite database with its state, progress, log and outputs.

- One heavy job of each kind (extract, train, convert, swap, evaluate) runs at a time; the others wait, queued,
  in the order they were made.
- A job's process has its own session, so it outlives the UI: a UI started again finds it by its pid (and the
  pid's start time, so a recycled pid is not mistaken for it) and follows it; a job whose process is gone without
  an exit code is marked interrupted, never left "running".
- Cancel sends SIGINT, the CLI's Ctrl-C: its atomic writes leave no half-written output (train saves a
  checkpoint and stops).
"""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kaokae.ui.workspace import STATE, Workspace

FINAL = ("done", "failed", "cancelled", "interrupted")
LOG_TAIL_LINES = 30
# tqdm's line, e.g. "convert:  45%|####5     | 45/100 [00:03<00:04, 12.1frame/s]" or "train: 120it [00:10, 12.0it/s]"
BAR = re.compile(r"(?P<desc>[\w ]+):\s+(?:(?P<percent>\d+)%\|[^|]*\|\s*)?(?P<n>\d+)(?:/(?P<total>\d+))?"
                 r"(?:it)?\s*\[(?P<elapsed>[\d:]+)(?:<(?P<left>[\d:?]+))?,\s*(?P<rate>[\d.?]+)\s*(?P<unit>[a-z/]+)")

SCHEMA = """CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, argv TEXT NOT NULL, outputs TEXT NOT NULL, state TEXT NOT NULL,
    created REAL NOT NULL, started REAL, ended REAL, pid INTEGER, pid_start TEXT, returncode INTEGER,
    error TEXT, cancel INTEGER NOT NULL DEFAULT 0)"""


@dataclass
class Job:
    id: int
    kind: str
    argv: list[str]
    outputs: list[str]  # workspace-relative
    state: str  # queued, running, done, failed, cancelled, interrupted
    created: float
    started: float | None = None
    ended: float | None = None
    pid: int | None = None
    pid_start: str | None = None
    returncode: int | None = None
    error: str | None = None
    cancel: int = 0
    progress: dict = field(default_factory=dict)
    log_tail: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` (field 22 of /proc/PID/stat), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class JobRunner:
    def __init__(self, workspace: Workspace, poll_s: float = 0.5):
        self.workspace = workspace
        self.state_dir = workspace.root / STATE
        self.db_path = self.state_dir / "jobs.sqlite"
        self.poll_s = poll_s
        self.lock = threading.RLock()
        self.children: dict[int, subprocess.Popen] = {}
        with self._db() as db:
            db.execute(SCHEMA)
        self._recover()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kaokae-jobs", daemon=True)

    # ---- the database

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=10, isolation_level=None)  # autocommit: each write is atomic
        db.row_factory = sqlite3.Row
        return db

    def _update(self, job_id: int, **values) -> None:
        with self._db() as db:
            db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                       (*values.values(), job_id))

    def _row(self, row: sqlite3.Row) -> Job:
        d = dict(row)
        d["argv"], d["outputs"] = json.loads(d["argv"]), json.loads(d["outputs"])
        return Job(**d)

    def log_path(self, job_id: int) -> Path:
        return self.state_dir / "logs" / f"{job_id}.log"

    def rc_path(self, job_id: int) -> Path:
        return self.state_dir / "logs" / f"{job_id}.rc"

    # ---- what the page calls

    def submit(self, kind: str, argv: list[str], outputs: list[str]) -> Job:
        with self.lock, self._db() as db:
            cursor = db.execute("INSERT INTO jobs (kind, argv, outputs, state, created) VALUES (?, ?, ?, 'queued', ?)",
                                (kind, json.dumps(argv), json.dumps(outputs), time.time()))
            job_id = cursor.lastrowid
        self.tick()
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        job = self._row(row)
        job.log_tail, job.progress = self._read_log(job_id)
        return job

    def jobs(self) -> list[Job]:
        with self._db() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM jobs ORDER BY id DESC")]
        return [self.get(i) for i in ids]

    def cancel(self, job_id: int) -> Job:
        with self.lock:
            job = self.get(job_id)
            if job.state == "queued":
                self._update(job_id, state="cancelled", ended=time.time(), cancel=1)
            elif job.state == "running":
                self._update(job_id, cancel=1)
                if job.pid is not None and _process_start(job.pid) == job.pid_start:
                    try:
                        os.killpg(job.pid, signal.SIGINT)  # the CLI's Ctrl-C, to the job's whole process group
                    except ProcessLookupError:
                        pass
        return self.get(job_id)

    # ---- the loop

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except sqlite3.Error as e:  # a locked database: try again next round
                print(f"kaokae: warning: job database: {e}", file=sys.stderr)

    def tick(self) -> None:
        """Finish jobs whose process ended; start queued jobs of kinds with nothing running."""
        with self.lock:
            running_kinds = set()
            for job in self.jobs():
                if job.state == "running":
                    if self._ended(job):
                        continue
                    running_kinds.add(job.kind)
            for job in reversed(self.jobs()):
                if job.state == "queued" and job.kind not in running_kinds:
                    self._launch(job)
                    running_kinds.add(job.kind)

    def _launch(self, job: Job) -> None:
        log = open(self.log_path(job.id), "ab")
        env = {**os.environ, "KAOKAE_PROGRESS": "log", "PYTHONUNBUFFERED": "1"}
        rc_file = self.rc_path(job.id)
        rc_file.unlink(missing_ok=True)
        child = subprocess.Popen([sys.executable, "-m", "kaokae.ui.job", str(rc_file), "--", *job.argv],
                                 cwd=self.workspace.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                 start_new_session=True)
        log.close()
        self.children[job.id] = child
        self._update(job.id, state="running", started=time.time(), pid=child.pid,
                     pid_start=_process_start(child.pid))

    def _ended(self, job: Job) -> bool:
        """Record the end of a running job whose process is gone; True when it has ended."""
        child = self.children.get(job.id)
        if child is not None:
            if child.poll() is None:
                return False
            del self.children[job.id]
        elif job.pid is not None and _process_start(job.pid) == job.pid_start:
            return False  # a job of an earlier UI, still running
        rc_file = self.rc_path(job.id)
        try:
            rc = int(rc_file.read_text().strip())
        except (OSError, ValueError):
            rc = None
        if rc is None:
            state, error = "interrupted", "kaokae: error: the job's process ended without an exit code (killed?)"
        elif job.cancel and rc in (0, 130):
            state, error = "cancelled", None
        elif rc == 0:
            state, error = "done", None
        else:
            state, error = "failed", self._error_line(job.id) or f"kaokae: error: the job ended with exit code {rc}"
        self._update(job.id, state=state, ended=time.time(), returncode=rc, error=error)
        return True

    def _recover(self) -> None:
        """At start: a job left running by an earlier UI is followed if its process lives, else it has ended."""
        for job in self.jobs():
            if job.state == "running":
                self._ended(job)

    # ---- the log

    def _read_log(self, job_id: int) -> tuple[list[str], dict]:
        """The log's last lines (each progress bar's last state) and the newest progress bar's numbers."""
        try:
            with open(self.log_path(job_id), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return [], {}
        progress = {}
        for m in BAR.finditer(text):
            progress = {k: v for k, v in m.groupdict().items() if v is not None}
        lines = [part.split("\r")[-1] for part in re.split(r"\n", text)]
        lines = [line for line in lines if line.strip() and not BAR.search(line)]
        return lines[-LOG_TAIL_LINES:], progress

    def _error_line(self, job_id: int) -> str | None:
        lines, _ = self._read_log(job_id)
        found = [line for line in lines if line.startswith("kaokae: error:") or line == "kaokae: interrupted"]
        return found[-1] if found else None
