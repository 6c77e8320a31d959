"""Threads the CLI starts block SIGINT, so the kernel delivers Ctrl-C to the main thread."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time


def test_threads_started_after_routing_block_sigint_and_the_main_thread_does_not() -> None:
    code = textwrap.dedent("""
        import signal, threading
        from portable.cli.interrupt import route_sigint_to_main_thread
        route_sigint_to_main_thread()
        seen = {}
        t = threading.Thread(target=lambda: seen.update(mask=signal.pthread_sigmask(signal.SIG_BLOCK, [])))
        t.start(); t.join()
        print(signal.SIGINT in seen["mask"], signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == ["True", "False"], run.stdout + run.stderr


def test_sigint_aimed_at_a_worker_thread_interrupts_a_main_thread_waiting_forever() -> None:
    """kill(2) on a thread id tries that thread first: without routing, the worker takes
    the signal and the main thread, blocked on an event nobody sets, never wakes."""
    code = textwrap.dedent("""
        import os, sys, threading
        from portable.cli.interrupt import route_sigint_to_main_thread
        route_sigint_to_main_thread()
        ready = threading.Event()
        def worker():
            ready.set()
            threading.Event().wait()
        threading.Thread(target=worker, daemon=True).start()
        ready.wait()
        print(threading.get_native_id(), flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        main_tid = int(child.stdout.readline())
        workers = [int(t) for t in os.listdir(f"/proc/{child.pid}/task") if int(t) != main_tid]
        assert workers
        time.sleep(0.2)
        os.kill(workers[0], signal.SIGINT)
        out, _ = child.communicate(timeout=3)
        assert "interrupted" in out
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
