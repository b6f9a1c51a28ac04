"""A progress line on stderr that advances every training step, shared by all four commands.

The estimate of the time left is (steps left) x (mean wall time per step measured in this
process so far), so the expensive measured steps are counted at their real share and steps
done before a resume (which took no time here) are not. The line is redrawn at most every
:data:`REDRAW_S` seconds (and at the end), so a fast loop is not slowed by the terminal.
"""

from __future__ import annotations

import sys
import time

REDRAW_S = 0.2  # Seconds between redraws of the line.
BAR_WIDTH = 24  # Characters of the bar.


def format_seconds(s):
    s = int(round(s))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


class Progress:
    """``with Progress(total, done, label) as bar: ... bar.advance(1, "loss 0.3")``.

    Disabled (``enabled=False``) it does nothing; ``stream`` defaults to stderr.
    """

    def __init__(self, total, done=0, label="training", enabled=True, stream=None, clock=None):
        self.total, self.done, self.label = int(total), int(done), label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock or time.perf_counter
        self._start_done = self.done
        self._start = self._last_draw = None
        self.text = ""

    def __enter__(self):
        self._start = self.clock()
        self._last_draw = -float("inf")
        self._draw(force=True)
        return self

    def eta(self):
        """Seconds left by the mean step time of this process; None before the first step."""
        steps = self.done - self._start_done
        if steps <= 0:
            return None
        return (self.clock() - self._start) / steps * max(self.total - self.done, 0)

    def advance(self, n=1, text=None):
        self.done += n
        if text is not None:
            self.text = text
        self._draw()

    def tick(self):
        """One step (for :func:`counting`)."""
        self.advance(1)

    def finish_unit(self, done):
        """Set the count to ``done`` (a unit of work, e.g. a sweep point, ended early)."""
        self.done = int(done)
        self._draw(force=True)

    def write(self, line, echo=None):
        """Print ``line`` above the progress line (with ``echo(line)`` if given)."""
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
        (echo or (lambda text: print(text, file=self.stream)))(line)
        self._draw(force=True)

    def line(self):
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * BAR_WIDTH))
        eta = self.eta()
        left = "--:--" if eta is None else format_seconds(eta)
        text = f"  {self.text}" if self.text else ""
        return (f"{self.label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] "
                f"{self.done}/{self.total} {100 * frac:3.0f}%  ETA {left}{text}")

    def _draw(self, force=False):
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._last_draw < REDRAW_S and self.done < self.total:
            return
        self._last_draw = now
        self.stream.write("\r" + self.line() + "\033[K")
        self.stream.flush()

    def __exit__(self, *exc):
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
        return False


def counting(fn, tick):
    """``fn`` that calls ``tick()`` after every call: counts the steps of a step function or of
    a batch function inside code that takes one (the perturbed copies, the tangent vector)."""
    if tick is None:
        return fn

    def counted(*args, **kwargs):
        out = fn(*args, **kwargs)
        tick()
        return out

    return counted
