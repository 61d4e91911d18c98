"""The FPU-state fallback (core/hostfpu.py), on this host's real ptrace and seccomp."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from umltui.core import hostfpu

pytestmark = pytest.mark.skipif(not hostfpu.applies_here(), reason="x86-64 Linux only")


def test_probe_answers_and_leaves_no_child() -> None:
    assert hostfpu.uml_restore_fails() in (True, False)  # the forked child is reaped: no zombie, no exception


def test_filter_hides_xstate_from_ptrace_and_nothing_else() -> None:
    # In a child process (a filter cannot be taken off): after install_fallback, the
    # kernel's own first question (GETREGSET NT_X86_XSTATE) fails, so UML takes the FXSAVE
    # path; other ptrace requests still work.
    code = textwrap.dedent(
        """
        import ctypes, os, signal, sys
        sys.path.insert(0, sys.argv[1])
        import hostfpu as h
        h.install_fallback()
        libc = h._libc()
        pid = os.fork()
        if pid == 0:
            libc.ptrace(h.PTRACE_TRACEME, 0, None, None)
            os.kill(os.getpid(), signal.SIGSTOP)
            os._exit(0)
        os.waitpid(pid, os.WUNTRACED)
        buf = ctypes.create_string_buffer(h.UML_XSTATE_BYTES)
        iov = h._Iovec(ctypes.addressof(buf), h.UML_XSTATE_BYTES)
        xstate = libc.ptrace(h.PTRACE_GETREGSET, pid, h.NT_X86_XSTATE, ctypes.byref(iov))
        errno = ctypes.get_errno()
        regs = ctypes.create_string_buffer(27 * 8)
        getregs = libc.ptrace(12, pid, None, regs)  # PTRACE_GETREGS
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print(xstate, errno, getregs)
        """
    )
    here = str(__import__("pathlib").Path(hostfpu.__file__).parent)
    out = subprocess.run([sys.executable, "-c", code, here], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["-1", "5", "0"]  # EIO for the XSAVE regset, GETREGS still works


def test_launch_runs_the_kernel_through_this_file_and_guest_words_are_kernel_words() -> None:
    argv = hostfpu.launch(["/usr/bin/linux.uml", "umid=x"])
    assert argv[0] == sys.executable and argv[2].endswith("hostfpu.py") and argv[3:] == ["/usr/bin/linux.uml", "umid=x"]
    for word in hostfpu.guest_words():
        assert " " not in word and "=" in word
