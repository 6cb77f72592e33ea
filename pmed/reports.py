"""How the CLI words model metrics: a treatment model's evaluation after training, and the headline metric
`pmed models` shows for each registered version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path


def treatment_evaluation_lines(m: Mapping[str, float], simulated: bool, quarantined: Iterable[Path]) -> list[str]:
    """What `pmed train-treatment` says about a fitted treatment model, before it is registered.

    ``quarantined``: the rejected-rows file of each trial read (a CSV with a header line)."""
    lines = [f"evaluated on {int(m['n_evaluated'])} patients the model never saw; rejected trial rows (file, line, "
             "field, rule): " + ", ".join(f"{_data_rows(q)} in {q}" for q in quarantined)]
    if simulated:
        lines.append(f"PEHE {m['pehe']:.4f}; 95% coverage {m['coverage_95']:.3f} (mean width {m['mean_width']:.4f}); "
                     f"policy regret {m['policy_regret']:.4f} vs CPIC rule {m['cpic_regret']:.4f}")
    lines.append(f"estimated 1-year risk: model rule {m['est_model_risk']:.4f}, CPIC rule {m['est_cpic_risk']:.4f} "
                 f"(difference {m['est_model_minus_cpic']:+.4f}, 95% CI {m['est_model_minus_cpic_ci_low']:+.4f} to "
                 f"{m['est_model_minus_cpic_ci_high']:+.4f}); effect-ranking slope {m['blp_slope']:.2f} "
                 f"(95% CI {m['blp_slope_ci_low']:.2f} to {m['blp_slope_ci_high']:.2f}; 1 = right size, "
                 "0 = no information)")
    if not simulated:
        lines.append("interval: the bootstrap's alone (sampling variance; no truth to calibrate it on), "
                     "labelled so when served")
    return lines


def _data_rows(csv_file: Path) -> int:
    with csv_file.open() as rows:
        return sum(1 for _ in rows) - 1


def headline(metrics: Mapping[str, float]) -> str:
    """The test metric a version is judged by: MAE and PW20 for a dose model (it has no AUROC), PEHE and
    coverage (or, without truth, estimated risks) for a treatment model, else AUROC."""
    if "pehe" in metrics:
        return f"PEHE {metrics['pehe']:.4f}  coverage {metrics.get('coverage_95', float('nan')):.3f}"
    if "est_model_value" in metrics:  # a trial spec (task treatment_effect)
        return (f"est. outcome: model rule {metrics['est_model_value']:.4f}, best simple rule "
                f"{metrics.get('est_best_simple_value', float('nan')):.4f}")
    if "est_model_risk" in metrics:
        return (f"est. 1-year risk: model rule {metrics['est_model_risk']:.4f}, "
                f"CPIC {metrics.get('est_cpic_risk', float('nan')):.4f}")
    if "auroc" not in metrics and "mae" in metrics:
        pw20 = metrics.get("pw20")
        return f"MAE {metrics['mae']:.2f} mg/week  PW20 {'None' if pw20 is None else f'{pw20:.1f}%'}"
    auroc = metrics.get("auroc")
    return f"AUROC {auroc if auroc is None else f'{auroc:.3f}'}"
