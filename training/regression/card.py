"""The model card of a dose model: the same structure and renderers as the risk models' card."""

from __future__ import annotations

from typing import Any

from training.card import (
    Section,
    Table,
    _predictor_table,
    provenance_facts,
    provenance_section,
)
from training.gates import GateResult
from training.regression.fit import dose_settings
from training.regression.report import MODEL
from training.spec import ModelSpec

LABELS = {MODEL: "pmed (XGBoost)", "iwpc_pharmacogenetic": "IWPC pharmacogenetic", "iwpc_clinical": "IWPC clinical",
          "iwpc_form_refit": "IWPC form refitted on training sites", "fixed_35mg_week": "Fixed 35 mg/week"}


def dose_card_sections(spec: ModelSpec, report: dict[str, Any], gates: list[GateResult], context: dict[str, str],
                       features: list[dict[str, Any]], importance: dict[str, float]) -> list[Section]:
    pooled = report["table"]["pooled"]["all"][MODEL]
    versus = report["versus_iwpc_pharmacogenetic"]
    dose = dose_settings(spec)

    def diff(key: str) -> float:
        return float(versus.get(key, float("nan")))

    return [
        ("Intended use and users (TRIPOD+AI 3a-b, 4)", [spec.intended_use, f"Task: {spec.task}. {spec.description}"]),
        ("Data and eligibility (5-7, 10)", [
            (f"Training table fingerprint `{context['fingerprint'][:16]}`; {context['data_origin']}. "
            f"{report['n_patients']} patients from {report['n_sites']} sites.")]),
        ("Outcome (8a)", [f"`{spec.target}`: stable therapeutic weekly dose, mg/week."]),
        ("Predictors (9a-b) and missing data (11, 26)", [_predictor_table(features),
            "Missing genotypes are passed to XGBoost as missing; the IWPC algorithms use their 'unknown' terms."]),
        ("Method (12a-c, 13)", [
            (f"XGBoost `{dose.objective}` on the {'square root of the ' if dose.target_transform == 'sqrt' else ''}"
             f"dose (squared back), early stopping on validation MAE; parameters {spec.xgboost.model_dump()}; "
             f"monotone constraints {spec.monotone_constraints or 'none'}. Prediction interval: split-conformal at "
             f"{dose.interval_coverage:.0%} on validation patients, on the log-dose scale (width grows with "
             "the dose). The registered model is refitted on all sites; the figures below come from "
             f"{len(report['fold_sites'])} folds of whole sites, each held out from its fold's fitting.")]),
        ("Site-held-out comparison: MAE mg/week (95% CI) / PW20 % (95% CI) (12e, 23a)", [
            _comparison_table(report, "pooled"), _comparison_table(report, "fold"),
            "Folds: " + "; ".join(f"{f}: {', '.join(s)}" for f, s in report["fold_sites"].items()),
            (f"Model minus IWPC pharmacogenetic on the same patients: MAE {diff('mae_diff'):+.2f} "
             f"({diff('mae_diff_ci_low'):+.2f} to {diff('mae_diff_ci_high'):+.2f}) mg/week, "
             f"PW20 {diff('pw20_diff'):+.1f} ({diff('pw20_diff_ci_low'):+.1f} to {diff('pw20_diff_ci_high'):+.1f}) "
             "points. The published IWPC coefficients were estimated on most of this cohort, so the IWPC rows are "
             "partly in-sample; the refitted IWPC form is the fair linear comparison. Interval coverage "
             f"{pooled['interval_coverage']:.3f} (target {dose.interval_coverage:.2f}), median width "
             f"{pooled['interval_median_width']:.1f} mg/week.")]),
        ("Subgroups (3c, 14, 23a)", [_comparison_table(report, "race"), _comparison_table(report, "dose_band")]),
        ("What drives predictions (global mean absolute SHAP, fitted scale)", [
            Table(["Feature", "Mean absolute SHAP"], [[c, f"{v:.3f}"] for c, v in list(importance.items())[:10]])]),
        ("Promotion gates", [Table(["Gate", "Rule", "Value", "Result"],
                                   [[g.name, g.rule, f"{g.value:.3f}", "pass" if g.passed else "FAIL"]
                                    for g in gates])]),
        ("Limitations (24) and updating (12f, 27)", [spec.limitations or "Not externally validated."]),
        # every patient of a dose table has a dose (``training.data`` refuses a table otherwise): none left out
        provenance_section(spec, context, provenance_facts(spec, report["n_patients"], report["n_patients"])),
        ("Provenance (18, 22)", [Table(["Item", "Value"], [[k, v] for k, v in context.items()])]),
    ]


def _comparison_table(report: dict[str, Any], kind: str) -> Table:
    names = report["predictors"]
    rows = []
    for level, by_predictor in report["table"][kind].items():
        n = int(by_predictor[MODEL]["n"])
        rows.append([f"{kind} {level}" if kind != "pooled" else "all sites", str(n),
                     *(_cell(by_predictor[name]) for name in names)])
    return Table(["Slice", "n", *(LABELS.get(n, n) for n in names)], rows)


def _cell(m: dict[str, float]) -> str:
    def ci(key: str, fmt: str) -> str:
        low, high = m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high")
        return f"{m[key]:{fmt}}" + (f" ({low:{fmt}}-{high:{fmt}})" if low is not None else "")
    return f"{ci('mae', '.2f')} / {ci('pw20', '.1f')}"
