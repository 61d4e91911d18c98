"""Booting Debian's 6.1 UML kernel on hosts whose FPU state it cannot restore.

The kernel saves a guest process's FPU registers with ``PTRACE_GETREGSET NT_X86_XSTATE``
into a buffer sized for AVX (832 bytes) and puts them back with ``PTRACE_SETREGSET``. Host
kernels since 5.14 accept a ``SETREGSET`` only of the host's whole XSAVE size, which on a
CPU with AVX-512, PKU or AMX is larger, so every restore fails with EFAULT and the guest's
init dies at once (``userspace - ptrace set fp regs failed, errno = 14``, then "Attempted
to kill init!"). Verified on a Xeon with AVX-512 and AMX under host kernel 6.18.

The way round, without a patched kernel:

1. The guest is started through this file (``python -I hostfpu.py linux.uml ...``), which
   asks the host the question UML's own check does not: can a ``SETREGSET`` of 832 bytes
   be done here? (a forked child, stopped under ptrace, is asked.)
2. Where it cannot, a seccomp filter makes ``GETREGSET NT_X86_XSTATE`` fail for the
   kernel's process, so UML finds no XSAVE support and falls back to ``PTRACE_GETFPREGS``:
   the x87 and SSE registers are saved and restored, and nothing fails.
3. That fallback does not switch the AVX registers between guest processes, so the guest
   is told not to use them: ``GLIBC_TUNABLES`` turns off glibc's AVX and AVX-512 string
   functions (passed to init through the command line, and to systemd's services with
   ``systemd.setenv``), and ``OPENSSL_ia32cap`` does the same for OpenSSL.

On a host where the restore works, this file only checks and then runs the kernel: it
changes nothing. Only the standard library is used, and the file runs by its path, so no
package import slows a boot.
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import struct
import sys

AUDIT_ARCH_X86_64 = 0xC000003E
SYS_PTRACE = 101
SYS_SECCOMP = 317
PTRACE_TRACEME, PTRACE_GETREGSET, PTRACE_SETREGSET = 0, 0x4204, 0x4205
NT_X86_XSTATE = 0x202
UML_XSTATE_BYTES = 832  # sizeof(struct _xstate) in the 6.1 kernel: FXSAVE area, XSAVE header, YMM upper halves
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EIO = 5

# What the guest's programs are told when the fallback is on. Unknown hwcaps names are
# ignored by glibc, so the list is safe on every release.
_HWCAPS = "-AVX,-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD,-AVX_VNNI,-FMA,-FMA4,-F16C"
GUEST_ENVIRONMENT = {
    "GLIBC_TUNABLES": f"glibc.cpu.hwcaps={_HWCAPS}",
    # OpenSSL's own CPU check: word 0 bit 60 is AVX (CPUID 1 ECX 28); word 1 is CPUID 7 EBX
    # (AVX2, AVX512F, DQ, IFMA, CD, BW, VL).
    "OPENSSL_ia32cap": "~0x1000000000000000:~0xD0230020",
}


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    return libc


def applies_here() -> bool:
    """Whether this host can need the fallback at all (x86-64 Linux, where the 6.1 kernel is built)."""
    return sys.platform == "linux" and platform.machine() == "x86_64"


def uml_restore_fails() -> bool:
    """Whether a ``SETREGSET NT_X86_XSTATE`` of the UML kernel's size fails on this host.

    False when it works, when the host has no XSAVE (UML uses FXSAVE then) and when the
    question cannot be asked (ptrace refused): the kernel is then run as it is.
    """
    if not applies_here():
        return False
    libc = _libc()
    pid = os.fork()
    if pid == 0:  # the child: be traced, stop, and wait to be killed
        try:
            libc.ptrace(PTRACE_TRACEME, 0, None, None)
            os.kill(os.getpid(), signal.SIGSTOP)
        finally:
            os._exit(0)
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            return False
        buf = ctypes.create_string_buffer(UML_XSTATE_BYTES)
        iov = _Iovec(ctypes.addressof(buf), UML_XSTATE_BYTES)
        if libc.ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, ctypes.byref(iov)) != 0:
            return False  # no XSAVE here: UML takes the FXSAVE path by itself
        return bool(libc.ptrace(PTRACE_SETREGSET, pid, NT_X86_XSTATE, ctypes.byref(iov)) != 0)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _filter() -> bytes:
    """A seccomp program: ptrace(GETREGSET or SETREGSET, pid, NT_X86_XSTATE, ...) fails with EIO."""

    def stmt(code: int, k: int) -> bytes:
        return struct.pack("HBBI", code, 0, 0, k)

    def jeq(k: int, true: int, false: int) -> bytes:
        return struct.pack("HBBI", 0x15, true, false, k)  # BPF_JMP | BPF_JEQ | BPF_K

    load = 0x20  # BPF_LD | BPF_W | BPF_ABS, offsets into struct seccomp_data
    ret = 0x06  # BPF_RET | BPF_K
    return b"".join(
        [
            stmt(load, 4),  # arch
            jeq(AUDIT_ARCH_X86_64, 0, 7),
            stmt(load, 0),  # syscall number
            jeq(SYS_PTRACE, 0, 5),
            stmt(load, 16),  # args[0] (low half): the request
            jeq(PTRACE_GETREGSET, 1, 0),
            jeq(PTRACE_SETREGSET, 0, 2),
            stmt(load, 32),  # args[2] (low half): the regset
            jeq(NT_X86_XSTATE, 1, 0),
            stmt(ret, SECCOMP_RET_ALLOW),
            stmt(ret, SECCOMP_RET_ERRNO | EIO),
        ]
    )


def install_fallback() -> None:
    """Make this process, and what it execs, see no XSAVE through ptrace.

    Raises:
        OSError: the kernel refused the filter.
    """
    libc = _libc()
    program = _filter()
    buf = ctypes.create_string_buffer(program)
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    if os.geteuid() != 0 and libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(prog)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")


def guest_words() -> list[str]:
    """Kernel command-line words that keep the guest's programs off the AVX registers."""
    words = [f"{k}={v}" for k, v in GUEST_ENVIRONMENT.items()]  # to init's environment
    words += [f"systemd.setenv={k}={v}" for k, v in GUEST_ENVIRONMENT.items()]  # to systemd's services
    return words


def launch(argv: list[str]) -> list[str]:
    """``argv`` (a kernel and its words) run through this file, where the host may need it."""
    if not applies_here():
        return argv
    return [sys.executable, "-I", os.path.abspath(__file__), *argv]


def main(argv: list[str]) -> None:
    """Run ``argv`` (the kernel first), with the fallback when this host needs it."""
    if not argv:
        sys.exit("usage: hostfpu.py KERNEL [WORD ...]")
    try:
        needed = uml_restore_fails()
    except OSError:
        needed = False
    if needed:
        try:
            install_fallback()
        except OSError as err:
            print(f"umltui: cannot work round this host's FPU state size ({err}); booting as it is", file=sys.stderr)
        else:
            argv = [*argv, *guest_words()]
            print("umltui: host FPU state too large for this UML kernel: using its FXSAVE path", file=sys.stderr)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
