"""The model card: what the model is for and not for, how it was built, how well it does and for whom.

Sections follow the TRIPOD+AI items a software report can fill (Collins et al., BMJ 2024;385:e078378);
item numbers are given in the headings. One structured document renders to Markdown (beside the
figures) and to self-contained HTML (figures embedded), both logged with the run.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.cohorts import DEFINITIONS as REGISTRY  # every registry and cohort feature
from training.gates import GateResult
from training.spec import ModelSpec


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


Block = str | Table | Path
Section = tuple[str, list[Block]]


def card_sections(spec: ModelSpec, report: dict[str, Any], gates: list[GateResult], context: dict[str, str],
                  figures: list[Path], feature_info: list[dict[str, Any]]) -> list[Section]:
    test = report["test"]
    model = test["model"]
    return [
        ("Intended use and users (TRIPOD+AI 3a-b, 4)", [spec.intended_use, f"Task: {spec.task}. {spec.description}"]),
        ("Data and eligibility (5-7, 10)", [
            (f"Feature table fingerprint `{context['fingerprint'][:16]}`, built by pmed from raw files; "
            f"{context['data_origin']}."),
            (f"Eligible: patients at risk at the index date (anyone with the outcome already diagnosed is "
            f"excluded). {_split_sentence(spec)}: "
            f"{report['split']['train']} train, {report['split']['validation']} validation (early stopping and "
            f"calibration), {report['split']['test']} test; {int(model['events'])} events in test.")]),
        ("Outcome and horizon (8a)", [(f"`{spec.target}`: first diagnosis within {spec.horizon_years:g} years "
                                      "after the index date.")]),
        ("Predictors (9a-b) and missing data (11, 26)", [_predictor_table(feature_info),
            ("Missing values are passed to XGBoost as missing and follow the branch learned for them; "
            "the serving API lists which inputs were missing. Labs use the most recent value in the 3 years "
            "before the index date; nothing after the index date is used.")]),
        ("Method (12a-c, 13)", [
            (f"XGBoost (`binary:logistic`, hist), best iteration {int(model.get('best_iteration', 0))} by early "
            f"stopping on validation log-loss; parameters {spec.xgboost.model_dump()}. Monotone constraints: "
            f"{spec.monotone_constraints or 'none'}. Probabilities calibrated on the validation patients "
            f"({spec.calibration}). Explanations: exact TreeSHAP on the log-odds scale.")]),
        ("Performance on held-out patients, 95% bootstrap CIs (12e, 23a)", [
            _performance_table(test),
            ("Baselines are scored on the same test patients; the Pooled Cohort Equations only where all their "
            "inputs are present (n shown; the row `model_on_..._patients` scores the model on exactly those "
            "patients for a like-for-like comparison), with African genetic ancestry standing in for self-reported "
            "Black race. The oracle is the true risk, known only on simulated data."), *figures]),
        ("Subgroups and fairness (3c, 14, 23a)", [_subgroup_table(report["subgroups"]),
                                                  _gap_sentence(report["largest_subgroup_gaps"])]),
        ("What drives predictions (global mean absolute SHAP, log-odds)", [
            Table(["Clinical concept", "Mean absolute SHAP"],
                  [[c, f"{v:.3f}"] for c, v in list(report["importance"]["concept"].items())[:10]])]),
        ("Promotion gates", [Table(["Gate", "Rule", "Value", "Result"],
                                   [[g.name, g.rule, f"{g.value:.3f}", "pass" if g.passed else "FAIL"]
                                    for g in gates])]),
        ("Limitations (24) and updating (12f, 27)", [
            spec.limitations or "Developed and evaluated on one cohort with a random patient split: expect lower "
            "performance elsewhere until externally validated. Race/ancestry enters only through the "
            "baselines (PCE) and the subgroup report.",
            ("Retrain with `pmed train` on new data; the new version is promoted only if it passes these gates "
            "and does not trail the current champion beyond the stated tolerance on the same test patients.")]),
        ("Provenance (18, 22)", [Table(["Item", "Value"], [[k, v] for k, v in context.items()])]),
    ]


def _split_sentence(spec: ModelSpec) -> str:
    split = spec.split
    if split.by == "site":
        return f"Sites {', '.join(split.test_sites)} held out as the test set (external-style validation)"
    if split.by == "time":
        return f"Patients indexed from {split.test_from} held out as the test set (temporal validation)"
    return f"Patients split at random by a seeded hash of their pseudonymous key (seed {spec.seed})"


def _predictor_table(feature_info: list[dict[str, Any]]) -> Table:
    rows = [[f["name"], f["display_name"], f["unit"], f["source"],
             REGISTRY[f["name"]].derivation if f["name"] in REGISTRY else f.get("derivation", ""),
             f"{100 * f['training_missing_rate']:.1f}%"] for f in feature_info]
    return Table(["Feature", "Display name", "Unit", "Source", "Derivation", "Missing (train)"], rows)


def _performance_table(test: dict[str, dict[str, float]]) -> Table:
    def ci(m: dict[str, float], key: str) -> str:
        low, high = m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high")
        return f"{m[key]:.3f} ({low:.3f}-{high:.3f})" if low is not None else f"{m[key]:.3f}"
    rows = [[name, str(int(m["n"])), ci(m, "auroc"), ci(m, "auprc"), f"{m['brier']:.4f}",
             f"{m['scaled_brier']:.3f}", f"{m['calibration_slope']:.2f}", f"{m['calibration_intercept']:.2f}"]
            for name, m in test.items()]
    return Table(["Predictor", "n", "AUROC", "AUPRC", "Brier", "Scaled Brier", "Cal. slope", "Cal. intercept"], rows)


def _subgroup_table(rows: list[dict[str, Any]]) -> Table:
    return Table(["Group", "Level", "n", "Events", "AUROC (95% CI)", "Cal. slope"], [
        [r["group"], r["level"], str(r["n"]), str(r["events"]),
         f"{r['auroc']:.3f} ({r['auroc_ci_low']:.3f}-{r['auroc_ci_high']:.3f})" if "auroc" in r else "too few events",
         f"{r['calibration_slope']:.2f}" if "auroc" in r else "-"] for r in rows])


def _gap_sentence(gaps: dict[str, dict[str, Any]]) -> str:
    if not gaps:
        return "No subgroup had enough events for a comparison."
    group, gap = max(gaps.items(), key=lambda kv: kv[1]["gap"])
    return (f"**Largest gap:** by {group}, AUROC {gap['worst_auroc']:.3f} in {gap['worst']} vs "
            f"{gap['best_auroc']:.3f} in {gap['best']} (difference {gap['gap']:.3f}).")


def render_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# Model card: {title}", ""]
    for heading, blocks in sections:
        out += [f"## {heading}", ""]
        for block in blocks:
            if isinstance(block, Table):
                out += ["| " + " | ".join(h.replace("|", "/") for h in block.headers) + " |",
                        "|" + "---|" * len(block.headers)]
                out += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in block.rows]
            elif isinstance(block, Path):
                out.append(f"![{block.stem}](figures/{block.name})")
            else:
                out.append(block)
            out.append("")
    return "\n".join(out)


def render_html(title: str, sections: list[Section]) -> str:
    parts = [(f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Model card: {html.escape(title)}"
             "</title><style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
             "text-align:left;font-size:.9rem}img{max-width:100%}</style></head><body>"),
             f"<h1>Model card: {html.escape(title)}</h1>"]
    for heading, blocks in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for block in blocks:
            if isinstance(block, Table):
                head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
                body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                               for row in block.rows)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(block, Path):
                data = base64.b64encode(block.read_bytes()).decode()
                parts.append(f"<img alt='{html.escape(block.stem)}' src='data:image/png;base64,{data}'>")
            else:
                parts.append(f"<p>{html.escape(block).replace('**', '')}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
