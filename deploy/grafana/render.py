"""Draws Vigie's Grafana dashboards as PNG images from a real Prometheus, without Grafana.

    .venv/bin/python deploy/grafana/render.py --prometheus http://127.0.0.1:9090 --out docs/img

Each dashboard JSON under deploy/grafana/dashboards/ becomes ``dashboard-<name>.png``: its
panels at their grid positions, each panel's queries run over the last ``--minutes`` minutes
(``query_range``), template variables set to "All". Time series are drawn as lines with the
panel's legend format and unit; stat panels show their last values.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402  (after the backend is chosen)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

DASHBOARDS = Path(__file__).resolve().parent / "dashboards"
ROW_INCHES = 0.5  # one Grafana grid row
WIDTH_INCHES = 22.0
HEADER_INCHES = 0.6
DPI = 80
MAX_LEGEND = 12
LEGEND_COLUMNS = 4


@dataclass(frozen=True)
class Series:
    name: str
    times: list[datetime]
    values: list[float]


def concrete(expr: str, variables: Mapping[str, str], rate_interval: str) -> str:
    """The query as Grafana sends it with every variable on "All"."""
    out = expr.replace("$__rate_interval", rate_interval)
    for name, value in variables.items():
        out = re.sub(rf"\$\{{{name}\}}|\${name}\b", value, out)
    return out


def legend(template: str, labels: Mapping[str, str]) -> str:
    name = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    return " ".join(name.split()) or "value"


def duration(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "–"
    for limit, unit, scale in ((1, "ms", 1e-3), (120, "s", 1), (7200, "min", 60)):
        if abs(seconds) < limit:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 3600:.3g} h"


def formatter(unit: str) -> Callable[[float], str]:
    if unit == "s":
        return duration
    if unit == "percentunit":
        return lambda v: f"{v * 100:.3g}%"
    suffix = {"reqps": " req/s", "ops": "/s"}.get(unit, "")
    if unit.startswith("suffix:"):
        suffix = unit.removeprefix("suffix:")
    return lambda v: f"{short(v)}{suffix}"


def short(value: float) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{prefix}"
    return f"{value:.3g}"


class Prometheus:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=30)

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/v1/{path}", params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{params['query']}: {response.text}")
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def series(
        self, expr: str, template: str, start: float, end: float, step: float
    ) -> list[Series]:
        params = {"query": expr, "start": str(start), "end": str(end), "step": str(step)}
        return [
            Series(
                legend(template, r["metric"]),
                [datetime.fromtimestamp(float(t)) for t, _ in r["values"]],
                [float(v) for _, v in r["values"]],
            )
            for r in self._get("query_range", params)
        ]

    def last(self, expr: str, template: str, at: float) -> list[tuple[str, float]]:
        result = self._get("query", {"query": expr, "time": str(at)})
        return [(legend(template, r["metric"]), float(r["value"][1])) for r in result]


def _legend_rows(count: int) -> int:
    return math.ceil(min(count, MAX_LEGEND) / LEGEND_COLUMNS)


def draw_timeseries(ax: Axes, lines: list[Series], unit: str, start: float, end: float) -> None:
    span = [datetime.fromtimestamp(start), datetime.fromtimestamp(end)]
    ax.set_xlim(*mdates.date2num(span))  # type: ignore[no-untyped-call]
    for line in lines:
        days = mdates.date2num(line.times)  # type: ignore[no-untyped-call]
        ax.plot(days, line.values, linewidth=1.3, label=line.name)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: formatter(unit)(v)))
    every = max(1, round((end - start) / 60 / 6))
    ax.xaxis.set_major_locator(mdates.MinuteLocator(interval=every))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not lines:
        ax.text(0.5, 0.5, "No data", ha="center", va="center", transform=ax.transAxes)
        return
    ax.legend(
        handles=ax.get_lines()[:MAX_LEGEND],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(0.0, -0.09),
        ncol=LEGEND_COLUMNS,
        frameon=False,
        borderaxespad=0.0,
    )


def draw_stat(ax: Axes, values: list[tuple[str, float]], unit: str, names_only: bool) -> None:
    ax.set_axis_off()
    if not values:
        ax.text(0.5, 0.5, "No data", ha="center", va="center", transform=ax.transAxes)
        return
    show = formatter(unit)
    shown = values[:8]
    for i, (name, value) in enumerate(shown):
        x = (i + 0.5) / len(shown)
        big = name if names_only else ("–" if math.isnan(value) else show(value))
        size = 13 if names_only else 20
        ax.text(x, 0.5, big, ha="center", va="center", fontsize=size, weight="bold")
        if not names_only:
            ax.text(x, 0.12, name, ha="center", va="center", fontsize=9)


def render(
    dashboard: dict[str, Any],
    prometheus: Prometheus,
    *,
    minutes: float,
    rate_interval: str,
    out: Path,
    end: float,
) -> None:
    variables = {v["name"]: v.get("allValue", ".*") for v in dashboard["templating"]["list"]}
    start = end - minutes * 60
    step = max(5.0, minutes * 60 / 240)
    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    height = rows * ROW_INCHES + HEADER_INCHES
    fig = plt.figure(figsize=(WIDTH_INCHES, height), facecolor="white")
    fig.text(
        0.01,
        1 - 0.3 / height,
        f"{dashboard['title']}   ·   last {minutes:g} minutes, until "
        f"{datetime.fromtimestamp(end):%Y-%m-%d %H:%M}",
        fontsize=16,
        va="center",
    )
    for panel in panels:
        pos = panel["gridPos"]
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        targets = [
            (concrete(t["expr"], variables, rate_interval), t.get("legendFormat", ""))
            for t in panel["targets"]
        ]
        # The panel's cell in inches from the top left, then its axes inside the cell.
        left, top = pos["x"] * WIDTH_INCHES / 24, HEADER_INCHES + pos["y"] * ROW_INCHES
        width, cell = pos["w"] * WIDTH_INCHES / 24, pos["h"] * ROW_INCHES
        if panel["type"] == "stat":
            values = [v for e, f in targets for v in prometheus.last(e, f, end)]
            ax = fig.add_axes(_rect(left + 0.2, top + 0.35, width - 0.4, cell - 0.45, height))
            names_only = panel.get("options", {}).get("textMode") == "name"
            draw_stat(ax, values, unit, names_only)
        else:
            lines = [s for e, f in targets for s in prometheus.series(e, f, start, end, step)]
            below = 0.35 + 0.19 * _legend_rows(len(lines))
            ax = fig.add_axes(
                _rect(left + 0.85, top + 0.35, width - 1.1, cell - 0.35 - below, height)
            )
            draw_timeseries(ax, lines, unit, start, end)
        ax.set_title(panel["title"], fontsize=11, loc="left", pad=6)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def _rect(
    left: float, top: float, width: float, height: float, total: float
) -> tuple[float, float, float, float]:
    """(left, bottom, width, height) as figure fractions, from inches measured from the top."""
    return (left / WIDTH_INCHES, 1 - (top + height) / total, width / WIDTH_INCHES, height / total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw Vigie's dashboards as PNG images.")
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL")
    parser.add_argument("--out", type=Path, required=True, help="directory of the images")
    parser.add_argument("--minutes", type=float, default=15, help="time range (default 15)")
    parser.add_argument("--rate-interval", default="1m", help="$__rate_interval (default 1m)")
    parser.add_argument("--dashboard", action="append", help="only these (default: all)")
    parser.add_argument(
        "--end", type=float, default=None, help="end of the range, Unix seconds (default: now)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    prometheus = Prometheus(args.prometheus)
    for path in sorted(DASHBOARDS.glob("*.json")):
        if args.dashboard and path.stem not in args.dashboard:
            continue
        target = args.out / f"dashboard-{path.stem}.png"
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        render(
            dashboard,
            prometheus,
            minutes=args.minutes,
            rate_interval=args.rate_interval,
            out=target,
            end=time.time() if args.end is None else args.end,
        )
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
