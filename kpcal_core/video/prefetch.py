"""Work done ahead, in background threads: frames before they are shown.

Owns :class:`Prefetcher`, a bounded least-recently-used store of values (video
frames, or anything a page renders from them) filled by one background thread
(a page gives it :func:`kpcal_core.video.source.sample_frame_loader`), and
:class:`BackgroundJob`, one long task (filling the frame cache, indexing videos)
whose progress any thread can read, which goes on when the page that started
it is left.
No Streamlit here: a page keeps one prefetcher per browser session (e.g. in
``st.session_state``), calls ``prefetcher.prepare(next_keys)`` after showing a
sample and ``prefetcher.get(key)`` to show the next one.

Memory is bounded by ``capacity`` values per prefetcher (6 frames of 1280×1024
RGB are 23 MB), whatever the number of samples.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..errors import KpcalError
from ..logs import logger

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Values a prefetcher keeps by default (the one shown, a few behind, the next ones).
DEFAULT_CAPACITY = 6


#: Seconds without a request after which the background thread ends (a new one starts on
#: the next :meth:`Prefetcher.prepare`): an unused prefetcher holds no thread.
IDLE_EXIT_S = 30.0


class Prefetcher(Generic[K, V]):
    """Loads values ahead in a background thread and keeps the last ``capacity`` used.

    Parameters
    ----------
    load
        ``load(key) -> value``; called in the background thread for prepared
        keys, in the caller's thread by :meth:`get` for keys not prepared.
        A background failure is not kept: :meth:`get` then loads again (and
        raises in the caller).
    capacity
        How many values are kept (least recently used dropped first).
    """

    def __init__(self, load: Callable[[K], V], capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._load = load
        self.capacity = int(capacity)
        self._values: OrderedDict[K, V] = OrderedDict()
        self._queue: deque[K] = deque()
        self._loading: K | None = None
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ public

    def prepare(self, keys: Iterable[K]) -> None:
        """Load ``keys`` in the background, in this order, replacing earlier requests.

        Keys already held or being loaded are not loaded again. Only the first
        ``capacity - 1`` keys are taken, so preparing never evicts what it prepares.
        """
        with self._cond:
            if self._closed:
                return
            wanted = []
            for key in keys:
                if key not in wanted and key not in self._values and key != self._loading:
                    wanted.append(key)
            self._queue = deque(wanted[: max(1, self.capacity - 1)])
            if self._queue and self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="kpcal-prefetch", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def get(self, key: K) -> V:
        """The value of ``key``: held, or awaited from the background, or loaded now."""
        with self._cond:
            while True:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
                if self._loading == key:
                    self._cond.wait()
                    continue
                with contextlib.suppress(ValueError):
                    self._queue.remove(key)
                break
        value = self._load(key)
        self._store(key, value)
        return value

    def peek(self, key: K) -> V | None:
        """The value of ``key`` if it is held now, else ``None`` (never loads or waits)."""
        with self._cond:
            return self._values.get(key)

    def held(self) -> list[K]:
        """Keys held now, least recently used first."""
        with self._cond:
            return list(self._values)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every prepared key is loaded; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self) -> None:
        """Stop the background thread and drop every value."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._values.clear()
            self._cond.notify_all()

    def __contains__(self, key: object) -> bool:
        with self._cond:
            return key in self._values

    # ------------------------------------------------------------------ internals

    def _store(self, key: K, value: V) -> None:
        with self._cond:
            if self._closed:
                return
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.capacity:
                self._values.popitem(last=False)

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed, IDLE_EXIT_S)
                if self._closed or not self._queue:  # closed, or idle: the thread ends
                    self._thread = None  # (prepare starts another), nothing keeps self alive
                    return
                key = self._queue.popleft()
                if key in self._values:
                    continue
                self._loading, self._busy = key, True
            try:
                value = self._load(key)
            except Exception:  # get() loads again and raises in the caller
                pass
            else:
                self._store(key, value)
            with self._cond:
                self._loading, self._busy = None, False
                self._cond.notify_all()


@dataclass(frozen=True)
class JobProgress:
    """What a :class:`BackgroundJob` has done so far (a snapshot).

    Attributes
    ----------
    done, total
        Units done (e.g. video frames cached) and to do.
    ready
        Keys reported ready so far (e.g. sample keys whose frame is cached).
    finished
        The task returned or failed.
    error
        The failure's message (a :class:`~kpcal_core.errors.KpcalError` names the
        file or frame at fault), else ``None``.
    result
        What the task returned, once finished.
    """

    done: int = 0
    total: int = 0
    ready: frozenset = field(default_factory=frozenset)
    finished: bool = False
    error: str | None = None
    result: Any = None


#: How much lower than the server's own threads background jobs run (Linux nice steps).
BACKGROUND_NICE = 10


def lower_thread_priority(steps: int = BACKGROUND_NICE) -> bool:
    """Lower the calling thread's CPU priority by ``steps`` (Linux only; else nothing).

    On Linux the nice value belongs to each thread (``setpriority(2)`` with a
    thread id) and threads inherit it, so decoder threads started from here run
    below the threads that answer people: a cache filling on a shared server
    does not slow anyone's Next. Returns whether it was lowered.
    """
    if not sys.platform.startswith("linux") or steps <= 0:
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + steps)
    except OSError:
        return False
    return True


class BackgroundJob:
    """Runs ``task(progress, should_stop)`` once in a daemon thread; anyone can watch it.

    ``task`` reports with ``progress(done, total, ready_keys)`` and polls
    ``should_stop()``. The job outlives the page run that started it (a page
    that is left stops, the job does not); :meth:`stop` ends it early. Its
    thread, and the threads it starts, run at a lower CPU priority
    (:func:`lower_thread_priority`).

    Parameters
    ----------
    task
        The work, e.g. :func:`kpcal_core.workflows.fill_frame_cache` bound to a project.
    name
        The thread's name.
    """

    def __init__(
        self,
        task: Callable[[Callable[[int, int, Iterable[Hashable]], None], Callable[[], bool]], Any],
        name: str = "kpcal-job",
    ) -> None:
        self._lock = threading.Lock()
        self._progress = JobProgress()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(task,), name=name, daemon=True)
        self._thread.start()

    def progress(self) -> JobProgress:
        """The progress now."""
        with self._lock:
            return self._progress

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job finished; False if ``timeout`` passed first."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Ask the task to stop at its next check (what it did so far stays)."""
        self._stop.set()

    def _report(self, done: int, total: int, ready: Iterable[Hashable]) -> None:
        with self._lock:
            old = self._progress
            keys = old.ready | frozenset(ready) if ready else old.ready
            self._progress = JobProgress(int(done), int(total), keys)

    def _run(self, task) -> None:
        error, result = None, None
        lower_thread_priority()
        try:
            result = task(self._report, self._stop.is_set)
        except KpcalError as exc:  # bad input: its message names what is at fault
            error = str(exc)
        except Exception as exc:  # a bug: logged whole, reported in one line
            logger().exception("background job %s failed", self._thread.name)
            error = f"{type(exc).__name__}: {exc} (details in the server log)"
        with self._lock:
            old = self._progress
            self._progress = JobProgress(old.done, old.total, old.ready, True, error, result)
        self._done.set()
