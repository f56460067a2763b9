"""What runs first inside the sandbox, before the kernel: a seccomp filter, then the kernel itself.

The kernel starts as `python -c <this file's source> KERNEL COMMAND...`, as the kernel's own user. This
process asks for SIGKILL when the process that started it ends (a change of user, as `setpriv` makes,
clears the parent-death signal that launcher.py set), loads the filter, then becomes the kernel
(exec), so the kernel and everything it starts run under the filter, and no process can lift it. A denied call fails with EPERM, as if the kernel
lacked the right: new namespaces (a user namespace above all, the first step of many escapes from
a sandbox; `clone` with a namespace flag too), mounts, tracing or reading other processes, kernel
keyrings, BPF and perf events, modules, reboot, swap and clocks. `clone3` fails with ENOSYS, so the
C library falls back to `clone`, whose flags the filter can read. A notebook never needs any of them.

This file imports nothing of the autograder package: it runs where the package is not visible.
"""

import errno
import os
import sys

DENIED = (
    "unshare", "setns",  # namespaces
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "open_by_handle_at", "name_to_handle_at",  # file systems
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",  # other processes
    "keyctl", "add_key", "request_key",  # kernel keyrings
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "syslog", "acct", "quotactl", "lookup_dcookie", "iopl", "ioperm", "vhangup",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "uselib",
)
PR_SET_PDEATHSIG = 1
# clone flags that make a new namespace (CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET)
NEW_NAMESPACE_FLAGS = (0x80, 0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


def build():
    """The filter: everything allowed except the calls above (names this machine does not have are skipped)."""
    import pyseccomp as seccomp

    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in DENIED:
        try:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (ValueError, OSError):
            continue  # not a system call of this architecture
    for flag in NEW_NAMESPACE_FLAGS:
        rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    return rules


def main(command: list[str]) -> None:
    """Die with the parent, load the filter into this process, then become `command`."""
    if not command:
        sys.exit("usage: python entry.py COMMAND...")
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    build().load()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
