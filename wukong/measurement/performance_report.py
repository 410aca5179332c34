"""`wukong.performance_report`: every job run inside a block, on one HTML page.

    with wukong.performance_report(filename="report.html"):
        x.compute(scheduler="wukong")
        y.compute(scheduler="wukong")

As Dask distributed's `performance_report`: the page is written when the block ends, also
when it ends with an error (a failed job's report shows how far it got). It holds every job
this process finished while the block ran, from any thread (see `report_page` for
what it shows). Needs bokeh (`pip install "wukong[diagnostics]"`), checked on entry, so a
missing plotting library shows before the jobs run, not after.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from wukong.measurement.report import collected


@contextlib.contextmanager
def performance_report(filename: str | os.PathLike = "report.html") -> Iterator[None]:
    from wukong.measurement.report_page import report_html  # bokeh: an optional dependency

    with collected() as jobs:
        try:
            yield
        finally:
            report_html(list(jobs), filename)
