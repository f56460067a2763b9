"""Which error messages of a test cell a learner may see: the ones its author wrote.

The feedback shows a failed test's message, but the kernel that produced it runs the student's code,
which can rewrite test cells and raise anything, for example the hidden tests encoded in base64. So a
message is shown only when it has the shape of one of the messages the test cell's source writes
(`assert ..., "text"`, `raise AssertionError("text")`, f-strings included), and what fills each
`{...}` is cut to SLOT characters. Any other text is withheld; an error of another kind shows its
type and at most SLOT characters of its message (Python's own messages, such as a NameError's, are
short). A student can thus pass at most SLOT characters per `{...}` of a message to their own
feedback, never a hidden test cell's code wholesale.
"""

from __future__ import annotations

import ast
import builtins
import re

# Error names sandbox/execute.py writes into cell outputs, with the messages it writes. A student's code can raise
# errors of the same names, so feedback shows their messages only in the shapes written here.
TIMEOUT = "CellTimeoutError"
KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"
OUTPUT_LOST = "OutputLost"
_MEMORY = r"( \(its memory limit is \d+ MB\))?"
OWN_MESSAGES = {
    TIMEOUT: r"(the cell ran longer than \d+ s and was stopped|the cell ran past its time limit and could not be "
             r"interrupted)?",
    KERNEL_DIED: rf"the kernel stopped while running this cell: it ran out of memory{_MEMORY} or the code ended "
                 r"the Python process",
    OUTPUT_LOST: r"some of this cell's output never reached the grader: a message over \d+ MB is dropped, or the "
                 r"kernel stopped sending",
    NOT_RUN: rf"this cell did not run: (the notebook reached its time limit of \d+ s|the kernel stopped while "
             rf"running an earlier cell{_MEMORY}|the kernel did not respond after an earlier cell was stopped|"
             r"the grader lost its connection to the kernel)",
}
SLOT = 60  # characters shown of what fills a `{...}` of a template, or of a message of another error
# Test messages are short. A longer one is not matched at all: matching costs time in the grader's own
# process, and the kernel decides how long a message is.
MAX_MATCHED = 4096  # characters of a message (whitespace collapsed) matched against the templates
GROUP = "(.*?)"  # what `_pattern` writes for each `{...}`


def output_lost(megabytes: int) -> str:
    """The message of an OutputLost error (written by sandbox/execute.py and sandbox/channels.py)."""
    return (f"some of this cell's output never reached the grader: a message over {megabytes} MB is dropped, "
            "or the kernel stopped sending")


def _pattern(node: ast.expr) -> str | None:
    """A regular expression for the strings `node` can evaluate to, when it is a string expression."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _literal(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal(part.value) if isinstance(part, ast.Constant) else GROUP for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _pattern(node.left), _pattern(node.right)
        return left + right if left is not None and right is not None else None
    return None


def _literal(text: str) -> str:
    """Literal text, with any run of whitespace matching any run (messages are shown on one line)."""
    return r"\s*".join(re.escape(word) for word in text.split()) if text.strip() else r"\s*"


def _linear(pattern: str) -> str:
    """The same pattern, matched in time linear in the text: each `{...}` but the last takes the first place
    where the literal text after it matches and never backtracks into it (an atomic group), which finds a
    match whenever there is one, because a literal matched further left also ends further left."""
    parts = pattern.split(GROUP)  # re.escape never writes "(.*?)", so each one is a `{...}`
    if len(parts) <= 2:
        return pattern
    middle = "".join(f"(?>{GROUP}{literal})" for literal in parts[1:-1])
    return f"{parts[0]}{middle}{GROUP}{parts[-1]}"


def templates(source: str) -> tuple[str, ...]:
    """The message patterns of a test cell's source (visible and hidden parts)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()
    found = []
    for node in ast.walk(tree):
        message = None
        if isinstance(node, ast.Assert) and node.msg is not None:
            message = node.msg
        elif (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args
              and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "AssertionError"):
            message = node.exc.args[0]
        if message is not None and (pattern := _pattern(message)) is not None:
            found.append(_linear(pattern))
    return tuple(found)


def _cut(text: str) -> str:
    return text if len(text) <= SLOT else text[: SLOT - 1] + "… "


def allowed(ename: str, evalue: str, patterns: tuple[str, ...]) -> str:
    """The part of an error a learner may see, as `Type: message` (or less)."""
    text = " ".join(evalue[: 4 * MAX_MATCHED].split())
    if ename == "AssertionError" and (len(text) > MAX_MATCHED or len(evalue) > 4 * MAX_MATCHED):
        return f"{ename}: (this message is too long to check against the test's own messages, so it is not shown)"
    if ename == "AssertionError":
        for pattern in patterns:
            if match := re.fullmatch(pattern, text, flags=re.DOTALL):
                shown, end = [], 0
                for group in range(1, (match.lastindex or 0) + 1):
                    start, stop = match.span(group)
                    shown += [text[end:start], _cut(text[start:stop])]
                    end = stop
                return f"{ename}: {''.join(shown) + text[end:]}" if text else ename
        return f"{ename}: (this message is not one of the test's own messages, so it is not shown)"
    if ename in OWN_MESSAGES:  # written by the grader (sandbox/execute.py), unless a student imitates one
        own = len(text) <= MAX_MATCHED and re.fullmatch(OWN_MESSAGES[ename], text)
        return f"{ename}: {text}" if own else f"{ename} (its message is not shown)"
    kind = ename if isinstance(getattr(builtins, ename, None), type) else "an error"
    if kind != ename:
        return f"{kind} (its message is not shown)"
    return f"{ename}: {_cut(text)}" if text else ename
