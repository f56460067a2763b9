"""Execute a student's notebook under limits: the one place where untrusted code runs.

nbgrader's Execute preprocessor stops a whole submission when the kernel dies or a cell cannot be
interrupted, so nothing is scored. `LimitedExecute` keeps what finished instead: a cell that runs too
long is interrupted and scored 0, a dead kernel (memory limit, `os._exit`) or the notebook-wide time
limit marks the remaining cells as not run, and nbgrader then scores the notebook as it stands.

The kernel starts through `launcher.py` (limits, process group), which starts the sandbox
(bwrap.py) around the kernel, or, in the uid-only tier (tiers.py), switches to the kernel's own
uid; the grader talks to it over Unix sockets in a private folder.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from time import monotonic

import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Integer, List, Unicode, default

from . import bwrap, tiers, watchdog
from .channels import MAX_MESSAGE_BYTES, CappedKernelClient  # whole messages are capped there
from ..messages import KERNEL_DIED, NOT_RUN, OUTPUT_LOST, TIMEOUT, output_lost  # errors written here (shapes: there)

LAUNCHER = str(Path(__file__).with_name("launcher.py"))
IOPUB_TIMEOUT = "Timeout waiting for IOPub output"  # nbclient's words when a reply came but not all output


class LimitedKernelManager(AsyncKernelManager):
    """Starts the kernel as `[python, launcher.py, *launcher_args, --, bwrap ... --, kernel...]`.

    With `sandboxed`, the connection file and the kernel's sockets live in `ipc_dir` (transport "ipc"),
    the one host folder the sandbox shares with the grader.
    """

    launcher_args = List(Unicode(), help="Options for launcher.py (limits, pid file).").tag(config=True)
    sandboxed = Bool(True, help="Run the kernel in the bubblewrap sandbox.").tag(config=True)
    ipc_dir = Unicode("", help="Private folder for the connection file and sockets.").tag(config=True)
    data_dir = Unicode("", help="The course's data/ folder, read-only at /data in the sandbox.").tag(config=True)
    uid = Integer(-1, help="The kernel's uid in the sandbox (bwrap.claim_uid).").tag(config=True)
    uid_only = Bool(False, help="The uid-only tier (tiers.py): no bwrap; the kernel runs as `uid`, with `ipc_dir` "
                                "as its HOME and working folder.").tag(config=True)
    tmp_mb = Integer(256, help="Size of each of the sandbox's tmpfs folders (/tmp, /home/student).").tag(config=True)
    kernel_env = Dict(Unicode(), help="Extra environment of the kernel (thread counts).").tag(config=True)
    watch_memory_mb = Integer(0, help="Kill the kernel's process tree past this memory (0: no watchdog), "
                                      "where no cgroup limits it.").tag(config=True)
    watch_threads = Integer(0, help="... or past this many threads (with watch_memory_mb).").tag(config=True)
    template = Unicode("", help="Socket of the worker's kernel template (zygote.py): fork the kernel from it, "
                                "or start it afresh in the sandbox if it cannot.").tag(config=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.sandboxed and self.ipc_dir:
            self.transport = "ipc"
            self.ip = str(Path(self.ipc_dir) / "kernel")
            self.connection_file = str(Path(self.ipc_dir) / "kernel.json")

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        self._created_context = True  # so that shutting the kernel down destroys it
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # per frame, for every socket made from it
        return context

    @default("client_factory")
    def _client_factory_default(self) -> type:
        return CappedKernelClient  # and per message, all frames together

    def client(self, **kwargs):
        """A client on the manager's context, so its sockets get the message size limit too."""
        return super().client(**{"context": self.context, **kwargs})

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        if self.sandboxed and self.ipc_dir and bwrap.is_root():  # the kernel's own user must read it
            os.chown(self.connection_file, self.uid, self.uid)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        forked = []  # the launcher's options that fork the kernel from the template, with kernel_cmd as fallback
        if self.sandboxed and self.template:
            request = {"argv": kernel_cmd, "uid": self.uid, "tmp_mb": self.tmp_mb}
            if self.uid_only:  # no namespaces: the kernel starts in its private folder, as tiers.command has it
                request.update(namespaces=False, home=self.ipc_dir,
                               env=tiers.environment(Path(self.ipc_dir), dict(kw.get("env") or os.environ),
                                                     dict(self.kernel_env)))
            else:
                request["env"] = bwrap.kernel_environment(dict(self.kernel_env))
            forked = ["--template", self.template, "--template-request", json.dumps(request)]
        if self.sandboxed and self.uid_only:
            kernel_cmd, kw["env"] = tiers.command(kernel_cmd, uid=self.uid, home=Path(self.ipc_dir),
                                                  inherited=dict(kw.get("env") or os.environ),
                                                  env=dict(self.kernel_env))
            kw["cwd"] = self.ipc_dir
        elif self.sandboxed:
            kernel_cmd = bwrap.command(kernel_cmd, ipc_dir=Path(self.ipc_dir) if self.ipc_dir else None,
                                         data_dir=Path(self.data_dir) if self.data_dir else None, uid=self.uid,
                                         tmp_mb=self.tmp_mb, env=dict(self.kernel_env))
        command = [sys.executable, LAUNCHER, *self.launcher_args, *forked, "--", *kernel_cmd]
        await super()._async_launch_kernel(command, **kw)
        if self.watch_memory_mb:
            watchdog.watch(self.provisioner.process.pid, memory_bytes=self.watch_memory_mb * 2**20,
                           threads=self.watch_threads or 2**31, folders=[self.ipc_dir] if self.ipc_dir else [],
                           uid=self.uid if self.sandboxed and self.uid_only else None,
                           on_kill=lambda why: self.log.warning("watchdog stopped the kernel: %s", why))

    _launch_kernel = _async_launch_kernel


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class LimitedExecute(Execute):
    """nbgrader's Execute with a notebook-wide time limit, an output cap and partial results."""

    notebook_seconds = Integer(300, help="Wall time for the whole notebook.").tag(config=True)
    memory_mb = Integer(0, help="Memory limit of the kernel, for messages only (set by the launcher).").tag(config=True)
    max_output_bytes = Integer(1_000_000, help="Output kept per cell; more is dropped.").tag(config=True)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("kernel_manager_class", LimitedKernelManager)
        super().__init__(*args, **kwargs)
        self.error_on_timeout = {"ename": TIMEOUT, "evalue": "", "traceback": []}

    def preprocess(self, nb, resources=None, km=None, retries=None):
        self._deadline = monotonic() + self.notebook_seconds
        self._stopped: str | None = None
        self._output_bytes: dict[int, int] = {}
        self._truncated: set[tuple[int, str]] = set()
        return super().preprocess(nb, resources)

    def _get_timeout(self, cell):
        remaining = max(1, int(self._deadline - monotonic()))
        timeout = super()._get_timeout(cell)
        self.error_on_timeout = {
            "ename": TIMEOUT,
            "evalue": f"the cell ran longer than {min(timeout or remaining, remaining)} s and was stopped",
            "traceback": [],
        }
        return min(timeout, remaining) if timeout else remaining

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if self._stopped is None and monotonic() >= self._deadline:
            self._stopped = f"the notebook reached its time limit of {self.notebook_seconds} s"
        if self._stopped is not None:
            cell.outputs = [_error(NOT_RUN, f"this cell did not run: {self._stopped}")]
            return cell
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            limit = f" (its memory limit is {self.memory_mb} MB)" if self.memory_mb else ""
            self._stopped = f"the kernel stopped while running an earlier cell{limit}"
            cell.outputs.append(_error(KERNEL_DIED, "the kernel stopped while running this cell: it ran out of "
                                       f"memory{limit} or the code ended the Python process"))
        except CellTimeoutError as error:
            if IOPUB_TIMEOUT in str(error):  # the kernel replied, some output did not come: see _reconnect
                cell.outputs.append(_error(OUTPUT_LOST, output_lost(MAX_MESSAGE_BYTES // 2**20)))
                if not await self._reconnect():
                    self._stopped = "the grader lost its connection to the kernel"
                return cell
            self._stopped = "the kernel did not respond after an earlier cell was stopped"
            cell.outputs.append(_error(TIMEOUT, "the cell ran past its time limit and could not be interrupted"))
        return cell

    async def _reconnect(self) -> bool:
        """Connect a new client to the kernel. ZeroMQ closes a connection for good when a message breaks
        MAX_MESSAGE_BYTES (no reconnect after a protocol error), so later cells would get no output."""
        self.kc.stop_channels()
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            await ensure_async(self.kc.wait_for_ready(timeout=30))
        except RuntimeError:
            return False
        return True

    execute_cell = run_sync(async_execute_cell)  # nbclient binds its own coroutine here; use ours

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most `max_output_bytes` of a cell's output; errors and results always, stderr as a mark."""
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + len(str(content.get("data", "")))
        used = self._output_bytes.get(cell_index, 0) + size
        self._output_bytes[cell_index] = used
        if used > self.max_output_bytes and msg["msg_type"] in ("stream", "display_data", "update_display_data"):
            is_stderr = msg["msg_type"] == "stream" and content.get("name") == "stderr"
            mark = (cell_index, "stderr" if is_stderr else "stdout")
            if mark not in self._truncated:  # one note per stream; a stderr note keeps nbgrader's verdict
                self._truncated.add(mark)
                outs.append(NotebookNode(output_type="stream", name=mark[1], text="[grader] more output was dropped\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)
