"""The model card: what the model is for and not for, how it was built, how well it does and for whom.

Sections follow the TRIPOD+AI items a software report can fill (Collins et al., BMJ 2024;385:e078378);
item numbers are given in the headings. One structured document renders to Markdown (beside the
figures) and to self-contained HTML (figures embedded), both logged with the run.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.cohorts import DEFINITIONS as REGISTRY  # every registry and cohort feature
from training.gates import GateResult
from training.spec import ModelSpec, feature_definitions
from training.subgroups import MAX_LEVELS, MIN_EVENTS


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
            (f"Data fingerprint `{context['fingerprint'][:16]}`: {context['data_origin']}."),
            (f"Eligible: patients at risk at the index date (anyone with the outcome already diagnosed is "
            f"excluded). {_split_sentence(spec)}: "
            f"{report['split']['train']} train, {report['split']['validation']} validation (early stopping and "
            f"calibration), {report['split']['test']} test; {int(model['events'])} events in test.")]),
        ("Outcome and horizon (8a)", [(f"`{spec.target}`: first diagnosis within {spec.horizon_years:g} years "
                                      "after the index date.")]),
        ("Predictors (9a-b) and missing data (11, 26)", [_predictor_table(feature_info),
            ("Missing values are passed to XGBoost as missing and follow the branch learned for them; "
            "the serving API lists which inputs were missing. Labs use the most recent value in the 3 years "
            "before the index date; nothing after the index date is used."), missing_unseen_sentence(spec)]),
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
        ("Subgroups and fairness (3c, 14, 23a)", [_subgroup_table(report["subgroups"], spec.decision_thresholds),
                                                  SUBGROUP_NOTE, _gap_sentence(report["largest_subgroup_gaps"])]),
        ("What drives predictions (global mean absolute SHAP, log-odds)", [
            Table(["Clinical concept", "Mean absolute SHAP"],
                  [[c, f"{v:.3f}"] for c, v in list(report["importance"]["concept"].items())[:10]])]),
        ("Promotion gates", [Table(["Gate", "Rule", "Value", "Result"],
                                   [[g.name, g.rule, f"{g.value:.3f}", "pass" if g.passed else "FAIL"]
                                    for g in gates])]),
        ("Limitations (24) and updating (12f, 27)", [
            spec.limitations or "Developed and evaluated on one cohort with a random patient split: expect lower "
            "performance elsewhere until externally validated. Sensitive attributes: see Data provenance below.",
            ("Retrain with `pmed train` on new data; the new version is promoted only if it passes these gates "
            "and does not trail the current champion beyond the stated tolerance on the same test patients.")]),
        provenance_section(spec, context, report.get("provenance"), report.get("subgroups", [])),
        ("Provenance (18, 22)", [Table(["Item", "Value"], [[k, v] for k, v in context.items()])]),
    ]


def missing_unseen_sentence(spec: ModelSpec) -> str:
    """What serving does with a blank the model never learned (``ModelSpec.missing_unseen``)."""
    action = ("the answer abstains (no risk)" if spec.missing_unseen == "abstain" else
              "the answer carries a warning stating the risk change against the training median")
    return (f"An input missing for fewer than 1% of the training patients (see the column above) that is missing "
            f"at prediction is a blank the model never learned: {action} (`missing_unseen: {spec.missing_unseen}`).")


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


SUBGROUP_NOTE = (f"Per-group figures by fairlearn's MetricFrame on the test patients. A group with fewer than "
                 f"{MIN_EVENTS} events or non-events shows its size and events only: its AUROC and calibration "
                 "would be noise. O/E = observed events over the sum of predicted risks (calibration-in-the-large; "
                 "1 is ideal). TPR/FPR: true- and false-positive rates of risk >= each decision threshold. A numeric "
                 f"column with more than {MAX_LEVELS} values is split at its quartiles; `(missing)` = no value.")


def _subgroup_table(rows: list[dict[str, Any]], thresholds: tuple[float, ...] | list[float] = ()) -> Table:
    cuts = [f"{t:g}" for t in thresholds]

    def ci(r: dict[str, Any], key: str) -> str:
        if key not in r or r[key] != r[key]:
            return "-"
        low, high = r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")
        return f"{r[key]:.3f} ({low:.3f}-{high:.3f})" if low is not None and high is not None else f"{r[key]:.3f}"

    def rate(r: dict[str, Any], key: str) -> str:
        value = r.get(key)
        return f"{value:.2f}" if isinstance(value, float) and value == value else "-"

    return Table(["Group", "Level", "n", "Events", "AUROC (95% CI)", "O/E (95% CI)", "Cal. slope",
                  *(f"TPR/FPR at {c}" for c in cuts)], [
        [r["group"], r["level"], str(r["n"]), str(r["events"]),
         ci(r, "auroc") if "auroc" in r else "too few events", ci(r, "observed_expected"),
         f"{r['calibration_slope']:.2f}" if "calibration_slope" in r else "-",
         *(f"{rate(r, f'tpr_at_{c}')}/{rate(r, f'fpr_at_{c}')}" for c in cuts)] for r in rows])


def survival_subgroup_section(rows: list[dict[str, Any]]) -> Section:
    """The survival card's subgroup section (``training.subgroups.survival_subgroups`` rows)."""
    def ci(r: dict[str, Any], key: str) -> str:
        if key not in r or r[key] != r[key]:
            return "-"
        return f"{r[key]:.3f} ({r[f'{key}_ci_low']:.3f}-{r[f'{key}_ci_high']:.3f})"

    table = Table(["Group", "Level", "n", "Events", "Events by horizon", "C-index (95% CI)",
                   "Observed/expected at horizon (95% CI)"],
                  [[r["group"], r["level"], str(r["n"]), str(r["events"]), str(r.get("events_by_horizon", "-")),
                    ci(r, "c_index") if "c_index" in r else "too few events", ci(r, "observed_expected_at_horizon")]
                   for r in rows])
    note = (f"Per-group figures by fairlearn's MetricFrame on the test patients; a group with fewer than {MIN_EVENTS} "
            "events shows its size and events only. Observed = Kaplan-Meier risk at the horizon (censoring "
            f"accounted for), expected = mean predicted risk. A numeric column with more than {MAX_LEVELS} values is "
            "split at its quartiles; `(missing)` = no value.")
    return ("Subgroups and fairness (3c, 14, 23a)", [table, note] if rows else
            ["No subgroup reported (the spec names none and the table has none of the default columns)."])


def _gap_sentence(gaps: dict[str, dict[str, Any]]) -> str:
    if not gaps:
        return "No subgroup had enough events for a comparison."
    group, gap = max(gaps.items(), key=lambda kv: kv[1]["gap"])
    return (f"**Largest gap:** by {group}, AUROC {gap['worst_auroc']:.3f} in {gap['worst']} vs "
            f"{gap['best_auroc']:.3f} in {gap['best']} (difference {gap['gap']:.3f}).")


# --- where the data came from and what was done to it ------------------------------------------------------

# Attributes a fairness review asks about (protected characteristics and their usual codings), matched as
# whole words of a feature's name, display name and concept, and of a subgroup column's name.
SENSITIVE_TERMS = frozenset({
    "sex", "gender", "race", "racial", "ethnicity", "ethnic", "ancestry", "ancestral", "black", "white",
    "asian", "hispanic", "latino", "latina", "nationality", "religion", "religious", "caste", "tribe",
    "indigenous", "aboriginal", "immigrant", "immigration", "disability", "orientation", "transgender"})


def is_sensitive(*texts: str) -> bool:
    """Whether any text names a sensitive attribute (``SENSITIVE_TERMS``, as whole words: ``sex_male``,
    ``Ethnicity``, ``self-reported race``, not ``essex``)."""
    words = {w for text in texts for w in re.split(r"[^a-z]+", text.lower()) if w}
    return bool(words & SENSITIVE_TERMS)


def sensitive_attributes(spec: ModelSpec, subgroups: list[dict[str, Any]] | None = None) -> dict[str, list[str]]:
    """Which sensitive attributes the model uses as features, which appear only in the subgroup report, and
    which features are genetic scores (their distributions differ by genetic ancestry, so ancestry can reach
    the model through them even when it is not a feature)."""
    definitions = feature_definitions(spec)
    features = [f.name for f in definitions if is_sensitive(f.name, f.display_name, f.concept)]
    reported = list(dict.fromkeys(r["group"] for r in subgroups or [])) or list(spec.subgroups)
    only_reported = [c for c in reported if c not in spec.features and is_sensitive(c)]
    genetic = [f.name for f in definitions if f.source == "genetic"]
    return {"features": features, "subgroups_only": only_reported, "genetic_proxies": genetic}


def sensitive_sentence(found: dict[str, list[str]]) -> str:
    """The card's one sentence on sensitive attributes, from ``sensitive_attributes``: never a claim the spec
    does not support."""
    features = ", ".join(f"`{n}`" for n in found["features"]) or "none"
    only = ", ".join(f"`{n}`" for n in found["subgroups_only"]) or "none"
    text = (f"**Sensitive attributes.** Model features: {features}. Used only to report performance by group "
            f"(not model inputs): {only}.")
    if found["genetic_proxies"]:
        text += (" Genetic features (" + ", ".join(f"`{n}`" for n in found["genetic_proxies"]) + ") are distributed "
                 "differently across genetic ancestries, so ancestry can enter the model through them.")
    return text + (" Matched on feature names and concepts against a fixed list (sex, gender, race, ethnicity, "
                   "ancestry, nationality, religion, ...): review any proxy this list cannot see.")


def provenance_facts(spec: ModelSpec, rows_read: int, rows_used: int, not_used_reason: str = "",
                     quarantined: dict[str, int] | None = None, censored: str = "") -> dict[str, Any]:
    """What was done to the table between reading and fitting, as JSON-able facts for the report and the card.

    ``rows_read``: rows of the table as read (after joining features and outcomes); ``rows_used``: the patients
    the model was fitted and evaluated on; ``not_used_reason``: why the others were left out (default: the risk
    task's empty outcome = not at risk); ``quarantined``: rows set aside per rule; ``censored``: how censoring
    was handled (the task says).
    """
    declared = {f.name: f for f in spec.declared_features}
    encodings = {}
    for feature in feature_definitions(spec):
        levels = getattr(feature, "levels", None) or getattr(declared.get(feature.name), "levels", None)
        codes = getattr(feature, "codes", None)
        if levels:
            encodings[feature.name] = ", ".join(f"{level} = {i}" for i, level in enumerate(levels))
        elif codes:
            encodings[feature.name] = ", ".join(f"{code} = {i}" for i, code in enumerate(codes))
    overrides = getattr(spec, "overrides", None)
    return {"rows_read": int(rows_read), "rows_used": int(rows_used),
            "rows_not_used": int(rows_read - rows_used - sum((quarantined or {}).values())),
            "not_used_reason": not_used_reason or f"`{spec.target}` empty: not at risk at the index date",
            "quarantined": dict(quarantined or {}), "censored": censored, "encodings": encodings,
            "overrides": _jsonable(overrides) if overrides else {}}


def _jsonable(value: object) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _overrides_text(overrides: Any) -> str:
    if not overrides:
        return "none"
    if isinstance(overrides, dict):
        return "; ".join(f"{k}: {v}" for k, v in overrides.items())
    return str(overrides)


def provenance_section(spec: ModelSpec, context: dict[str, str], facts: dict[str, Any] | None = None,
                       subgroups: list[dict[str, Any]] | None = None) -> Section:
    """The card section every task shares: where the data came from (files, fingerprint, pmed's feature folder
    or the user's own table), what preprocessing was applied, and which sensitive attributes are features.

    ``context`` is ``training.run.card_context``; ``facts`` is ``provenance_facts`` (None: the task recorded
    none, and the card says so rather than guess)."""
    rows = [["Source file(s)", context.get("data source", "unknown")],
            ["Origin", context.get("data_origin", "unknown")],
            ["Content fingerprint (SHA-256 of the table contents)", context.get("fingerprint", "unknown")]]
    if facts is None:
        rows.append(["Preprocessing", "not recorded by this task"])
    else:
        rows += [["Rows read", str(facts["rows_read"])], ["Patients used", str(facts["rows_used"])],
                 ["Rows not used", f"{facts['rows_not_used']} ({facts['not_used_reason']})"
                  if facts["rows_not_used"] else "0"]]
        quarantined = facts.get("quarantined") or {}
        rows.append(["Rows quarantined (set aside, with file, row, column and rule)",
                     "; ".join(f"{rule}: {n}" for rule, n in quarantined.items()) if quarantined else "none"])
        if facts.get("censored"):
            rows.append(["Censored patients", facts["censored"]])
        encodings = facts.get("encodings") or {}
        rows.append(["Level encodings", "; ".join(f"{k}: {v}" for k, v in encodings.items()) if encodings
                     else "none (every feature numeric or 0/1)"])
        overrides: Any = facts.get("overrides")
        rows.append(["Registry overrides (spec)", _overrides_text(overrides)])
        rows.append(["Missing values", "kept as missing (XGBoost's learned default branch); nothing imputed"])
    found = sensitive_attributes(spec, subgroups)
    rows += [["Sensitive attributes used as features", ", ".join(found["features"]) or "none"],
             ["Sensitive attributes used only for subgroup reports", ", ".join(found["subgroups_only"]) or "none"]]
    return ("Data provenance and preprocessing (TRIPOD+AI 5-7, 9, 11)", [Table(["Item", "Value"], rows),
                                                                          sensitive_sentence(found)])


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
