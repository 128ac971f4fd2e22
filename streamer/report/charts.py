"""The report's charts as inline SVG text, drawn from the report dict alone.

matplotlib's SVG keeps text as text (`svg.fonttype: none`), a fixed hash salt per chart
makes the output reproducible and its ids distinct between charts on one page, and the
XML prologue and metadata (which name external URIs) are dropped: the SVG is embedded.
"""

from __future__ import annotations

import io
import re

from streamer.evaluation.plots import TIER_COLORS, figure, no_data

BUCKET_COLORS = ("#9ecae1", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000")
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def to_svg(fig, salt: str) -> str:
    """A matplotlib figure as an `<svg>` element to paste into HTML."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return _METADATA.sub("", _PROLOGUE.sub("", buf.getvalue(), count=1), count=1)


def _labels(report: dict) -> list[str]:
    return [m["month"] for m in report["months"]]


def _months_axis(*axes) -> None:
    """Month labels slanted, so that a year of them does not overlap."""
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)


def _stacked(report: dict, name: str, title: str, ylabel: str, series) -> str:
    """A month-end chart of bars stacked in order, one (label, color, values) per layer."""
    fig = figure(7.5, 3.6)
    ax = fig.subplots()
    x = _labels(report)
    bottom = [0.0] * len(x)
    for label, color, values in series:
        ax.bar(x, values, bottom=bottom, color=color, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title, fontsize=10)
    _months_axis(ax)
    return to_svg(fig, name)


def book(report: dict) -> str:
    fig = figure(7.5, 3.6)
    ax = fig.subplots()
    x = _labels(report)
    ax.bar(x, [m["book"]["exposure"] / 1e6 for m in report["months"]], color="#4c72b0")
    ax.set_ylabel("exposure, million CNY")
    right = ax.twinx()
    right.plot(x, [m["book"]["open_accounts"] for m in report["months"]], color="black",
               marker="o")
    right.set_ylabel("open accounts")
    right.set_ylim(bottom=0)
    ax.set_title("Book size and exposure at month end", fontsize=10)
    _months_axis(ax)
    return to_svg(fig, "book")


def delinquency(report: dict) -> str:
    return _stacked(
        report, "delinquency", "Delinquency by bucket at month end (worst loan)",
        "% of open accounts",
        ((f"{bucket} DPD", color,
          [100 * (m["delinquency"]["share"][bucket] or 0) for m in report["months"]])
         for bucket, color in zip(report["buckets"][1:], BUCKET_COLORS[1:])))


def roll_rates(report: dict) -> str:
    """All month-to-month transitions of the period pooled, as row shares."""
    fig = figure(5.6, 4.4)
    ax = fig.subplots()
    names = report["buckets"]
    k = len(names)
    pooled = [[0] * k for _ in range(k)]
    for rr in report["roll_rates"]:
        for i in range(k):
            for j in range(k):
                pooled[i][j] += rr["counts"][i][j]
    if not report["roll_rates"]:
        no_data(ax, "one month end only: no transition")
    else:
        shares = [[c / sum(row) if sum(row) else 0.0 for c in row] for row in pooled]
        ax.imshow(shares, cmap="Reds", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                if pooled[i][j]:
                    ax.text(j, i, f"{100 * shares[i][j]:.0f}%\n({pooled[i][j]})", ha="center",
                            va="center", fontsize=7,
                            color="white" if shares[i][j] > 0.6 else "black")
        ax.set_xticks(range(k), names)
        ax.set_yticks(range(k), names)
    ax.set(xlabel="bucket at the next month end", ylabel="bucket at a month end")
    ax.set_title("Roll rates, all transitions of the period", fontsize=10)
    return to_svg(fig, "roll")


def vintages(report: dict) -> str:
    fig = figure(7.5, 3.6)
    ax = fig.subplots()
    for v in report["vintages"]:
        curve = [100 * s for s in v["reached_90plus"]]
        ax.plot(range(len(curve)), curve, marker=".", label=f"{v['cohort']} ({v['accounts']})")
    if report["vintages"]:
        ax.legend(fontsize=7, ncol=2, loc="upper left")
    else:
        no_data(ax, "no account opened")
    ax.set(xlabel="months on book (0: the opening month's end)",
           ylabel="% of the cohort ever 90+ DPD")
    ax.set_title("Vintage curves by opening month", fontsize=10)
    return to_svg(fig, "vintage")


def tiers(report: dict) -> str:
    return _stacked(
        report, "tiers", "Exposure under an alert tier at month end (tier none not shown)",
        "exposure, million CNY",
        ((tier, color, [m["tiers"][tier]["exposure"] / 1e6 for m in report["months"]])
         for tier, color in TIER_COLORS.items()))


def alerts(report: dict) -> str:
    fig = figure(7.5, 3.6)
    ax = fig.subplots()
    x = list(range(len(report["months"])))
    ax.bar([i - 0.2 for i in x], [m["alerts"]["raised"] for m in report["months"]], width=0.4,
           color="#f78154", label="raised or escalated")
    ax.bar([i + 0.2 for i in x], [m["alerts"]["cured"] for m in report["months"]], width=0.4,
           color="#55a868", label="resolved")
    ax.set_xticks(x, _labels(report))
    ax.set_ylabel("alerts")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Alerts raised and cured per month", fontsize=10)
    _months_axis(ax)
    return to_svg(fig, "alerts")


def segments(report: dict) -> str:
    """30+ DPD share by industry and by region, and the macro indicators, by month."""
    names = sorted({(i["scope"], i["name"]) for m in report["months"] for i in m["macro"]})
    fig = figure(10.0, 3.4 * (1 + (len(names) + 1) // 2))
    axes = fig.subplots(1 + (len(names) + 1) // 2, 2, squeeze=False)
    x = _labels(report)
    for ax, key, title in ((axes[0][0], "industry", "30+ DPD by industry"),
                           (axes[0][1], "region", "30+ DPD by region")):
        codes = sorted({c for m in report["months"]
                        for c in m[f"delinquency_30plus_by_{key}"]})
        for code in codes:
            ax.plot(x, [100 * (m[f"delinquency_30plus_by_{key}"].get(code, {})
                               .get("share_30plus") or 0) for m in report["months"]],
                    marker=".", label=code)
        if codes:
            ax.legend(fontsize=6, ncol=3, loc="upper left")
        ax.set_ylabel("% of open accounts")
        ax.set_title(title, fontsize=10)
    flat = [ax for row in axes[1:] for ax in row]
    for ax, (scope, name) in zip(flat, names):
        series = sorted({i["scope_id"] for m in report["months"] for i in m["macro"]
                         if (i["scope"], i["name"]) == (scope, name)})
        for sid in series:
            values = [{(i["scope"], i["scope_id"], i["name"]): i["value"] for i in m["macro"]}
                      .get((scope, sid, name), float("nan")) for m in report["months"]]
            ax.plot(x, values, marker=".", label=sid)
        ax.legend(fontsize=6, ncol=3, loc="best")
        ax.set_title(f"{name} by {scope} (latest at month end)", fontsize=10)
    for ax in flat[len(names):]:
        ax.set_axis_off()
    _months_axis(*(ax for row in axes for ax in row))
    return to_svg(fig, "segments")


def quality(report: dict) -> str:
    fig = figure(7.5, 3.4)
    ax = fig.subplots()
    rows = (report.get("model_quality") or {}).get("months", [])
    points = [(r["month"], r["roc_auc"], r["positives"]) for r in rows if r["roc_auc"] is not None]
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", color="#4c72b0")
        for month, auc, positives in points:  # an AUC on a handful of defaults is noise
            ax.annotate(f"{positives}", (month, auc), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=7, color="gray")
        ax.axhline(0.5, color="gray", linestyle=":")
        ax.set_ylim(min(0.4, min(p[1] for p in points) - 0.05), 1.0)
        ax.set_xlabel("month (beside each point: borrowers who reached 90+ DPD)", fontsize=8)
    else:
        no_data(ax, "not enough outcomes")
    ax.set_ylabel("ROC AUC")
    ax.set_title("Score at the month's start vs 90+ DPD within 90 days", fontsize=10)
    _months_axis(ax)
    return to_svg(fig, "quality")


CHARTS = {"book": book, "delinquency": delinquency, "roll_rates": roll_rates,
          "vintages": vintages, "tiers": tiers, "alerts": alerts, "segments": segments,
          "quality": quality}
