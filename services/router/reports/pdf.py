"""A PDF of the HTML report, printed by a headless Chromium (``VIGIE_CHROMIUM``).

Optional: Vigie does not depend on Chromium, and the CLI offers ``--format pdf`` only when
the setting names one. The page is printed from a file in a private temporary directory,
with a throw-away profile and no network, as the page needs nothing from outside.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)


class PdfError(RuntimeError):
    pass


def print_pdf(html: str, *, chromium: Path, timeout_s: float = 60.0) -> bytes:
    with tempfile.TemporaryDirectory(prefix="vigie-report-") as work:
        page, pdf = Path(work) / "report.html", Path(work) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            str(chromium),
            *FLAGS,
            # Chromium refuses to run as root inside its sandbox (containers).
            *(["--no-sandbox"] if os.geteuid() == 0 else []),
            f"--user-data-dir={Path(work) / 'profile'}",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ]
        try:
            process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its helpers too are ended below
            )
        except OSError as exc:
            raise PdfError(f"cannot run {chromium}: {exc.strerror}") from exc
        try:
            _, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # with its helpers
            process.wait()
            raise PdfError(f"{chromium} did not print within {timeout_s:.0f} s") from exc
        if not pdf.is_file() or pdf.stat().st_size == 0:
            tail = err.decode(errors="replace").strip().splitlines()[-3:]
            raise PdfError(f"{chromium} printed nothing: {' '.join(tail) or 'no message'}")
        return pdf.read_bytes()
