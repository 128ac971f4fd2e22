"""The PNG figures, drawn from an evaluation result alone (no pyplot, no global state)."""

from __future__ import annotations

from pathlib import Path

TIER_COLORS = {"watch": "#f2c14e", "high": "#f78154", "critical": "#b2182b"}


def figure(width: float = 6.4, height: float = 4.2):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")


def _lead_time(result: dict, path: Path) -> None:
    fig = figure()
    ax = fig.subplots()
    leads = result.get("plot_data", {}).get("lead_times_days") or []
    lt = result.get("lead_time_days", {})
    if leads:
        width = 7
        top = max(leads)
        ax.hist(leads, bins=range(0, top + width + 1, width), color="#4c72b0", edgecolor="white")
        if lt.get("median") is not None:
            ax.axvline(lt["median"], color="black", linestyle="--",
                       label=f"median {lt['median']:.0f} days")
            ax.legend()
    else:
        no_data(ax, "no defaulter was flagged high-or-worse before default")
    share = lt.get("share_flagged")
    title = "Lead time of the first high-or-worse alert before 90+ DPD"
    if share is not None:
        title += f"\n{lt['count']} of {lt['defaulters']} defaulters flagged ({share:.0%})"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("days before the default date (weekly bins)")
    ax.set_ylabel("defaulters")
    fig.savefig(path)


def _roc_pr(result: dict, path: Path) -> None:
    fig = figure(10.5, 4.4)
    roc_ax, pr_ax = fig.subplots(1, 2)
    curves = result.get("plot_data", {})
    auc = result.get("auc", {})
    roc = curves.get("roc")
    if roc:
        roc_ax.plot(roc["fpr"], roc["tpr"], color="#4c72b0",
                    label=f"ROC AUC {auc['roc_auc']:.3f}")
        roc_ax.legend(loc="lower right")
    else:
        no_data(roc_ax, "no ROC curve (needs both outcomes)")
    roc_ax.plot([0, 1], [0, 1], color="gray", linestyle=":")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate",
               xlim=(0, 1), ylim=(0, 1.01), title="ROC, 90-day default (borrower-days)")
    pr = curves.get("pr")
    if pr:
        pr_ax.plot(pr["recall"], pr["precision"], color="#dd8452",
                   label=f"PR AUC {auc['pr_auc']:.3f}")
        if auc.get("base_rate") is not None:
            pr_ax.axhline(auc["base_rate"], color="gray", linestyle=":",
                          label=f"base rate {auc['base_rate']:.3%}")
        pr_ax.legend(loc="upper right")
    else:
        no_data(pr_ax, "no PR curve (needs both outcomes)")
    pr_ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01),
              title="Precision-recall, 90-day default")
    fig.savefig(path)


def _calibration(result: dict, path: Path) -> None:
    fig = figure(5.6, 5.2)
    ax = fig.subplots()
    cal = result.get("calibration", {})
    bins = [b for b in cal.get("bins", []) if b["count"]]
    top = 1.0
    if bins:
        x = [b["mean_predicted"] for b in bins]
        y = [b["observed_rate"] for b in bins]
        top = min(1.0, max(0.05, 1.1 * max(x + y)))  # zoom on where the borrower-days are
        ax.plot([0, top], [0, top], color="gray", linestyle=":", label="perfect")
        ax.plot(x, y, marker="o", color="#4c72b0", label=f"model (Brier {cal['brier']:.4f})")
        for b in bins:
            ax.annotate(f"{b['count']:,}", (b["mean_predicted"], b["observed_rate"]),
                        textcoords="offset points", xytext=(5, -11), fontsize=7, color="gray")
        ax.legend(loc="lower right")
    else:
        no_data(ax, "no scored borrower-days")
    ax.set(xlabel="mean predicted probability (10 bins of [0, 1])",
           ylabel="observed 90-day default rate", xlim=(0, top), ylim=(0, top),
           title="Calibration (borrower-days beside the points)")
    fig.savefig(path)


def _alerts_by_tier(result: dict, path: Path) -> None:
    weekly = result.get("plot_data", {}).get("alerts_by_week") or {}
    weeks = weekly.get("week_start", [])
    if not weeks or not any(sum(weekly.get(t, [])) for t in TIER_COLORS):
        fig = figure(9.0, 4.2)
        ax = fig.subplots()
        no_data(ax, "no raised or escalated alerts")
        ax.set(title="Alerts raised or escalated, by tier, per week (event time)")
        fig.savefig(path)
        return
    # one panel per tier, each on its own scale: watch alerts would dwarf the others
    fig = figure(9.0, 6.0)
    axes = fig.subplots(len(TIER_COLORS), 1, sharex=True)
    x = list(range(len(weeks)))
    for ax, (tier, color) in zip(axes, TIER_COLORS.items(), strict=True):
        counts = weekly.get(tier, [0] * len(weeks))
        ax.bar(x, counts, color=color, width=0.9)
        ax.set_ylabel(tier)
    step = max(1, len(weeks) // 12)
    axes[-1].set_xticks(x[::step], weeks[::step], rotation=45, ha="right", fontsize=8)
    axes[-1].set_xlabel("week starting (the last week may be partial)")
    fig.suptitle("Alerts raised or escalated, by tier, per week (event time)")
    fig.savefig(path)


def _capture_curve(result: dict, path: Path) -> None:
    fig = figure()
    ax = fig.subplots()
    drawn = False
    for (name, fig_), color in zip((result.get("at_budget") or {}).items(),
                                   ("#4c72b0", "#dd8452", "#55a868", "#8172b3"), strict=False):
        curve = (fig_ or {}).get("curve") or {}
        if curve.get("budget"):
            x = [100 * b for b in curve["budget"]]
            y = [None if c is None else 100 * c for c in curve["before_first_missed"]]
            ax.plot(x, y, color=color, label=f"{name} score")
            drawn = True
    if drawn:
        ax.plot([0, 30], [0, 30], color="gray", linestyle=":", label="no better than chance")
        for budget in (2, 5, 10):
            ax.axvline(budget, color="lightgray", linewidth=0.8)
        ax.legend(loc="lower right")
    else:
        no_data(ax, "no scores")
    ax.set(xlabel="alert budget: % of never-defaulting borrowers alerted in the window",
           ylabel="% of defaulters caught before the first missed payment",
           xlim=(0, 30), ylim=(0, 100),
           title="Capture at an alert budget (threshold set by the budget)")
    fig.savefig(path)


PLOTS = {
    "lead_time_hist.png": _lead_time,
    "roc_pr.png": _roc_pr,
    "calibration.png": _calibration,
    "alerts_by_tier.png": _alerts_by_tier,
    "capture_by_budget.png": _capture_curve,
}


def write_plots(result: dict, out_dir: str | Path) -> list[Path]:
    """Write the figures of an `evaluate()` result as PNG files in out_dir; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in PLOTS.items():
        path = out / name
        draw(result, path)
        paths.append(path)
    return paths
