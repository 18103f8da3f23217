"""Writes the Grafana dashboards under deploy/grafana/dashboards/ from deploy/grafana/panels.py.

    .venv/bin/python deploy/grafana/build.py           # rewrite the JSON files
    .venv/bin/python deploy/grafana/build.py --check   # exit 1 if a file is out of date

The JSON files are what Grafana provisions; the panel definitions keep their layout, units and
datasource consistent. Edit the panels in panels.py, then run this.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from panels import DASHBOARDS, Dashboard, Panel, Variable

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
# The uid of the provisioned datasource (provisioning/datasources/prometheus.yml).
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
GRID_WIDTH = 24


def _positions(panels: tuple[Panel, ...]) -> list[dict[str, int]]:
    """Left to right, then down; a panel that does not fit on the row starts the next one."""
    x = y = row_height = 0
    out = []
    for panel in panels:
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        out.append({"h": panel.height, "w": panel.width, "x": x, "y": y})
        x += panel.width
        row_height = max(row_height, panel.height)
    return out


def _panel(panel: Panel, panel_id: int, position: dict[str, int]) -> dict[str, Any]:
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": query.expr,
            "legendFormat": query.legend,
            "range": True,
        }
        for i, query in enumerate(panel.queries)
    ]
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": position,
        "targets": targets,
    }
    if panel.kind == "stat":
        out["fieldConfig"] = {"defaults": {"unit": panel.unit}, "overrides": []}
        out["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": panel.text_mode,
            "colorMode": "none",
            "graphMode": "none",
        }
        return out
    out["fieldConfig"] = {
        "defaults": {
            "unit": panel.unit,
            "min": 0,
            "custom": {
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": 10,
                "showPoints": "never",
                "spanNulls": True,
            },
        },
        "overrides": [],
    }
    out["options"] = {
        "legend": {
            "displayMode": "table",
            "placement": "bottom",
            "showLegend": True,
            "calcs": ["mean", "max", "lastNotNull"],
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return out


def _variable(variable: Variable) -> dict[str, Any]:
    return {
        "name": variable.name,
        "label": variable.label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": variable.query,
        "definition": variable.query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def render(dashboard: Dashboard) -> dict[str, Any]:
    positions = _positions(dashboard.panels)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["vigie"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "schemaVersion": 39,
        "version": 1,
        "annotations": {"list": []},
        "templating": {"list": [_variable(v) for v in dashboard.variables]},
        "links": [{"type": "dashboards", "tags": ["vigie"], "asDropdown": True, "title": "Vigie"}],
        "panels": [
            _panel(panel, i, position)
            for i, (panel, position) in enumerate(
                zip(dashboard.panels, positions, strict=True), start=1
            )
        ],
    }


def text_of(dashboard: Dashboard) -> str:
    return json.dumps(render(dashboard), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, dashboard in DASHBOARDS.items():
        path = OUT / f"{name}.json"
        text = text_of(dashboard)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run deploy/grafana/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
