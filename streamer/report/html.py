"""The report as one self-contained HTML page: inline CSS, inline SVG charts, tables.

No script, no external asset, no link out: the file reads the same offline, attached to
an e-mail or archived. Every text from the data is escaped.
"""

from __future__ import annotations

from html import escape

from . import charts

_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 64em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
p.note { color: #555; font-size: 0.85em; }
svg { max-width: 100%; height: auto; }
"""

SECTIONS = (
    ("book", "1. Book size and exposure",
     "Open accounts (account opened before the month end) and exposure: principal drawn "
     "less payments per loan, floored at 0, in CNY."),
    ("delinquency", "2. Delinquency by bucket",
     "Share of open accounts by their worst loan's latest days past due at the month end."),
    ("roll_rates", "3. Roll rates",
     "Open accounts by bucket at one month end (rows) and at the next (columns)."),
    ("vintages", "4. Vintage curves",
     "For each opening month, the share of its accounts that has reached 90+ DPD."),
    ("tiers", "5. Exposure and borrowers by alert tier",
     "A borrower's tier is that of its latest alert before the month end; none without one."),
    ("alerts", "6. Alerts raised and cured, actions recommended",
     "Raised: alerts raised or escalated; cured: alerts resolved; by trigger time."),
    ("segments", "7. Delinquency by industry and region, macro indicators",
     "Share of open accounts at 30+ DPD, beside the latest value of each indicator."),
    ("quality", "8. Model quality",
     "Each borrower's latest score at the month's start against reaching 90+ DPD within 90 "
     "days; borrowers whose 90 days are not yet observed are left out."),
)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _cny(x: float) -> str:
    return f"{x:,.0f}"


def _table(head: list[str], rows: list[list]) -> str:
    th = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _tables(key: str, report: dict) -> str:
    months = report["months"]
    if key == "book":
        return _table(["month", "open accounts", "new accounts", "exposure (CNY)"],
                      [[m["month"], m["book"]["open_accounts"], m["book"]["new_accounts"],
                        _cny(m["book"]["exposure"])] for m in months])
    if key == "delinquency":
        return _table(["month", *(f"{b} DPD" for b in report["buckets"][1:])],
                      [[m["month"], *(_pct(m["delinquency"]["share"][b])
                                      for b in report["buckets"][1:])] for m in months])
    if key == "tiers":
        tiers = list(months[0]["tiers"]) if months else []
        return _table(["month", *(f"{t}: borrowers / CNY" for t in tiers)],
                      [[m["month"], *(f"{m['tiers'][t]['borrowers']} / "
                                      f"{_cny(m['tiers'][t]['exposure'])}" for t in tiers)]
                       for m in months])
    if key == "alerts":
        actions = list(months[0]["alerts"]["actions"]) if months else []
        return _table(["month", "raised", "cured", *actions],
                      [[m["month"], m["alerts"]["raised"], m["alerts"]["cured"],
                        *(m["alerts"]["actions"][a] for a in actions)] for m in months])
    if key == "vintages":
        width = max((len(v["reached_90plus"]) for v in report["vintages"]), default=0)
        return _table(["opened", "accounts", *(f"MOB {k}" for k in range(width))],
                      [[v["cohort"], v["accounts"], *(_pct(x) for x in v["reached_90plus"]),
                        *[""] * (width - len(v["reached_90plus"]))]
                       for v in report["vintages"]])
    if key == "segments":
        return "".join(_by_code(report, by) for by in ("industry", "region"))
    if key == "quality":
        q = report.get("model_quality")
        if q is None:
            return '<p class="note">No scores file given (--scores): not measured.</p>'
        return _table(["month", "scored at", "borrowers", "reached 90+", "ROC AUC",
                       "outcome not yet known"],
                      [[r["month"], r["as_of"], r["borrowers"], r["positives"],
                        "not enough outcomes" if r["roc_auc"] is None else f"{r['roc_auc']:.3f}",
                        r["outcome_unknown"]] for r in q["months"]])
    return ""


def _by_code(report: dict, by: str) -> str:
    """30+ DPD share by industry (or region): one row per code, one column per month."""
    field = f"delinquency_30plus_by_{by}"
    codes = sorted({c for m in report["months"] for c in m[field]})
    return _table([f"30+ DPD, {by}", *(m["month"] for m in report["months"])],
                  [[c, *(_pct(m[field].get(c, {}).get("share_30plus")) for m in report["months"])]
                   for c in codes])


def render(report: dict) -> str:
    """The whole page for a `figures.build_report` result."""
    p = report["period"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Portfolio report {escape(p['from'])} to {escape(p['to'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Portfolio report, {escape(p['from'])} to {escape(p['to'])}</h1>",
        f'<p class="note">{p["months"]} month(s), measured at each month end (UTC event '
        f"time); {p['events_in_period']:,} events in the period, {p['events_read']:,} read"
        f"{', ' + str(p['late_events']) + ' out of time order' if p['late_events'] else ''}. "
        f"Money in {escape(report['currency'])}. A month cut by the period is measured at "
        "the period's end.</p>",
    ]
    for key, title, note in SECTIONS:
        parts += [f'<section id="{key}"><h2>{escape(title)}</h2>',
                  f'<p class="note">{escape(note)}</p>', charts.CHARTS[key](report),
                  _tables(key, report), "</section>"]
    parts.append("</body></html>")
    return "\n".join(parts)
