"""The grader's channels to a kernel: each message is capped as a whole, not frame by frame.

ZeroMQ's MAXMSGSIZE (set on the kernel manager's context, execute.py) limits each frame of a message.
A kernel can send one message of thousands of frames, each under that limit (zero-copy: the same
buffer again and again, which costs the kernel nothing). These channels receive without copying, add
up the frames' sizes and drop a message over `MAX_MESSAGE_BYTES` before anything copies or decodes it,
so the worker holds it once, for a moment, never in nbclient's outputs. An output message (IOPub) that
is dropped becomes an `OutputLost` error in its cell, in the words execute.py uses when ZeroMQ drops a
frame that is too large; a dropped reply is a reply that never came (nbclient's time limits apply).

libzmq hands a message over only once all its frames have arrived, so no receiver can refuse one
earlier: while it arrives, a message of many frames costs its size in the worker. Only a memory limit
on the worker process bounds that.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from queue import Empty
from time import monotonic

import zmq
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import DELIM
from traitlets import Type

from ..messages import OUTPUT_LOST, output_lost

# The largest message the grader accepts from a kernel, all frames together (and ZeroMQ's limit per frame):
# far above a cell's kept output (max_output_bytes) or a plot, far below what a kernel could send.
MAX_MESSAGE_BYTES = 32 * 2**20
MAX_HEADER_BYTES = 64 * 2**10  # a dropped output message's parent header is read only when this small


class CappedChannel(AsyncZMQSocketChannel):
    """A kernel channel that drops any message whose frames add up to more than MAX_MESSAGE_BYTES."""

    async def get_msg(self, timeout: float | None = None) -> dict:
        """The next message that is not dropped, waiting at most `timeout` seconds (then queue.Empty)."""
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0, int((deadline - monotonic()) * 1000))
            if not await self.socket.poll(wait):
                raise Empty
            message = await self._recv()
            if message is not None:
                return message

    async def _recv(self, **kwargs) -> dict | None:  # type: ignore[override]
        frames = await self.socket.recv_multipart(copy=False)
        if sum(len(frame) for frame in frames) <= MAX_MESSAGE_BYTES:
            _, message = self.session.feed_identities(frames, copy=False)
            return self.session.deserialize(message, copy=False)
        return self._lost(frames) if self.socket.type == zmq.SUB else None

    def _lost(self, frames: list[zmq.Frame]) -> dict | None:
        """An error output for the cell a dropped output message belonged to (None if that is unclear)."""
        try:
            start = next(index for index, frame in enumerate(frames)
                         if len(frame) == len(DELIM) and frame.bytes == DELIM) + 1
            parent = frames[start + 2]  # after the signature and the message's own header
            parent = json.loads(parent.bytes) if len(parent) <= MAX_HEADER_BYTES else None
        except (StopIteration, IndexError, ValueError, RecursionError):
            return None
        if not isinstance(parent, dict) or not isinstance(parent.get("msg_id"), str):
            return None
        header = {"msg_id": uuid.uuid4().hex, "msg_type": "error", "session": self.session.session,
                  "username": "grader", "date": datetime.now(timezone.utc), "version": "5.3"}
        text = output_lost(MAX_MESSAGE_BYTES // 2**20)
        return {"header": header, "msg_id": header["msg_id"], "msg_type": "error", "parent_header": parent,
                "metadata": {}, "buffers": [],
                "content": {"ename": OUTPUT_LOST, "evalue": text, "traceback": [f"{OUTPUT_LOST}: {text}"]}}


class CappedKernelClient(AsyncKernelClient):
    """nbclient's kernel client, with capped channels (the heartbeat's keeps ZeroMQ's per-frame limit)."""

    shell_channel_class = Type(CappedChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(CappedChannel)  # type: ignore[assignment]
    stdin_channel_class = Type(CappedChannel)  # type: ignore[assignment]
    control_channel_class = Type(CappedChannel)  # type: ignore[assignment]
