"""Start a Jupyter kernel under resource limits: `python kernel_launcher.py [options] -- KERNEL COMMAND`.

Run as a script by the grading worker (see execute.py): it sets the limits, records its process id
(the kernel's process group, which its children share) so that the grader can stop them all, and then
replaces itself with the kernel command. A sandbox (see the README) wraps this command.
"""

import argparse
import os
import resource
import sys

# Variables of the grader that the student's kernel has no business seeing.
PRIVATE_ENV = ("PYTHONPATH", "KDD_WORKER_LOG", "KDD_JOB")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-mb", type=int, required=True, help="RLIMIT_DATA: heap and anonymous memory")
    parser.add_argument("--file-mb", type=int, required=True, help="RLIMIT_FSIZE: the largest file written")
    parser.add_argument("--threads", type=int, required=True, help="CPU threads for numeric libraries")
    parser.add_argument("--pidfile", required=True, help="where to write the kernel's process id")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no kernel command after --")
    memory = args.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    size = args.file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    for name in PRIVATE_ENV:
        os.environ.pop(name, None)
    with open(args.pidfile, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
