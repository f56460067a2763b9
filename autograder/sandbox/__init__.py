"""The one room where student code runs, and everything that cleans up after it.

    tiers.py     how much isolation this machine allows (bwrap, uid-only, none) and the uid-only tier itself
    bwrap.py     the bubblewrap sandbox: namespaces, read-only system, private tmpfs folders, a uid of its own
    entry.py     what runs first inside either sandbox: parent-death signal, seccomp filter, then the kernel
    launcher.py  starts a kernel under resource limits and cgroups (or has the template fork it)
    template.py  the worker's kernel template (zygote.py, run in its own sandbox) and the kernels' socket folders
    zygote.py    the template itself: TensorFlow imported once, each kernel forked from it
    execute.py   nbgrader's Execute preprocessor under limits: what finished is kept when a kernel dies
    channels.py  the grader's channels to a kernel, each message capped as a whole
    watchdog.py  memory and process limits where there is no cgroup (grading without root)
    cgroups.py   the kernel's memory, pids and cpu cgroups
    cleanup.py   after a job or a killed run: kernels, cgroups, uids, socket and template folders removed
    names.py     the file names and environment variables these modules agree on, each spelled once
    lifetime.py  nothing outlives the process that started it (parent-death signals)

zygote.py and entry.py run where this package is not importable (inside the sandbox), so they import
nothing from it; the prctl numbers they need are repeated there, and only there.
"""
