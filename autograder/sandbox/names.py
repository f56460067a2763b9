"""The names the grader, its workers, the kernel launcher and the cleanup agree on, each spelled once.

A job folder (jobs.py) holds, besides nbgrader's files, what the sandbox writes about its kernel:
  kernel.pid          the kernel's process group (launcher.py)
  kernel.pid.cgroup   the kernel's cgroups (memory, pids, cpu), one a line, when grading as root
  ipc.path            where the worker put the kernel's socket folder
  kernel.uid          the kernel's uid, in the uid-only tier (in its HOME, the socket folder, is its data/)
Folders in the system's temporary folder and cgroups are named with a prefix, so that cleanup never
removes anything that is not the grader's.
"""

PID_FILE = "kernel.pid"
CGROUP_FILE = PID_FILE + ".cgroup"
IPC_FILE = "ipc.path"
UID_FILE = "kernel.uid"

KERNEL_CGROUP = "kdd-kernel-"  # + the kernel's pid
PROBE_CGROUP = "kdd-probe-"  # + the worker's pid: made and removed at once, to see whether cgroups work
IPC_FOLDER = "kdd-ipc-"  # a kernel's socket folder (and, in the uid-only tier, its HOME)
TEMPLATE_FOLDER = "kdd-template-"  # + the worker's pid + "-": a kernel template's folder
TEMPLATE_RECORD = ".path"  # appended to a template folder's name: its record in the work folder
UID_LOCKS = "kdd-sandbox-uids"  # in the temporary folder: <uid>.lock, held by the worker using that uid

GRADER_PID = "KDD_GRADER_PID"  # environment variable: the `grade` process a worker dies with
# Variables of the grader that the student's kernel has no business seeing.
PRIVATE_ENV = ("PYTHONPATH", GRADER_PID)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

# prctl(2) options (zygote.py and entry.py repeat the ones they use: they cannot import this package)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
