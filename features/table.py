"""Build the patient-level feature table from a folder of raw files.

Outputs (``out_dir``):
- ``features.parquet``: patient_key, index_date, then every registry feature in registry order (float64,
  NaN = missing). index_date stays because it is the reference date the features describe.
- ``outcomes.parquet``: patient_key, one nullable binary label per outcome (NA = not at risk, or censored
  before the horizon), its time to event (``cad_time_days``, ``cad_event``; ``t2d_...``: features/outcomes.py),
  and the cohort columns used for subgroup reporting (sex, ancestry, site, age_band); on simulated data also
  the true risks from truth.csv.
- ``lab_trends.parquet``: patient_key, index_date, and per lab feature the mean, count and slope per year
  of its values in the look-back window (the last value is the feature itself). A registry feature named
  like one of these columns is taken into features.parquet, so a model can declare it.
None of them holds a patient identifier or date of birth; the id -> key link lives in ``link_path``.

The EHR comes from the CSV extracts in ``raw_dir`` or, with ``fhir``, from FHIR R4 files (Bundles or
NDJSON); lifestyle.csv, follow_up.csv (each patient's last contact: the end of follow-up), the genotypes and
truth.csv come from ``raw_dir`` either way. Without follow_up.csv follow-up is taken as complete to each horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.ehr.build import read_ehr_csv, read_ehr_fhir
from features.ehr.labs import LAB_NAMES
from features.ehr.patients import NO_PATIENT
from features.genetic.calls import Calls, first_biallelic, read_calls
from features.genetic.pgx import allele_counts, wanted_pgx_sites
from features.genetic.prs import ScoreResult, read_scoring_file, score_many, wanted_ids, wanted_sites
from features.lifestyle import read_lifestyle
from features.outcomes import OUTCOMES, label, time_to_event
from features.parsing import blank, parse_dates, read_raw_csv
from features.pseudonyms import assign_keys
from features.quarantine import Quarantine, SourceCheck, SourceCounts
from features.registry import FEATURES

PRS_FEATURES = {"cad_prs_sum": "pgs_cad.txt", "t2d_prs_sum": "pgs_t2d.txt"}
AGE_BANDS = [0, 45, 55, 65, 75, 200]
AGE_LABELS = ["<45", "45-54", "55-64", "65-74", "75+"]
FOLLOW_UP_FILE = "follow_up.csv"


@dataclass
class BuildReport:
    sources: list[SourceCounts]
    patients_out: int
    prs: dict[str, dict[str, int]]
    quarantine_path: Path
    outputs: list[Path] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        width = max(18, *(len(s.source_file) for s in self.sources))
        lines = [f"{'source':{width}} {'rows in':>9} {'used':>9} {'ignored':>9} {'quarantined':>11}"]
        for s in self.sources:
            lines.append(f"{s.source_file:{width}} {s.rows_in:9d} {s.rows_used:9d} {s.rows_ignored:9d} "
                         f"{s.rows_quarantined:11d}")
            lines += [f"{'':{width}}   ignored: {n} {reason}" for reason, n in s.ignored.most_common()]
        lines += [f"{name}: " + ", ".join(f"{n} {status}" for status, n in counts.items())
                  for name, counts in self.prs.items()]
        quarantined = sum(s.rows_quarantined for s in self.sources)
        lines.append(f"{self.patients_out} patients -> {', '.join(str(p) for p in self.outputs)}")
        lines.append(f"{quarantined} records quarantined -> {self.quarantine_path}")
        return lines


def build_feature_table(raw_dir: Path, out_dir: Path, link_path: Path, quarantine_path: Path,
                        fhir: Path | None = None) -> BuildReport:
    quarantine = Quarantine()
    ehr = read_ehr_fhir(fhir, quarantine) if fhir is not None else read_ehr_csv(raw_dir, quarantine)
    patients = ehr.patients
    lifestyle, lifestyle_counts = read_lifestyle(raw_dir / "lifestyle.csv", patients, quarantine)
    genetic, prs_results, vcf_counts = genetic_features(raw_dir, patients.index, quarantine)
    table = pd.concat([patients[["age_years", "sex_male"]].astype(float), ehr.labs, ehr.conditions,
                       ehr.medications, lifestyle, genetic], axis=1)
    keys = assign_keys(patients.index, link_path)
    features = _keyed(table.reindex(columns=[f.name for f in FEATURES]), patients, keys)
    trends = _keyed(ehr.labs.drop(columns=LAB_NAMES), patients, keys)
    last_contact, follow_up_counts = read_follow_up(raw_dir / FOLLOW_UP_FILE, patients, quarantine)
    outcomes = _outcomes(raw_dir, patients, ehr.events, keys, last_contact)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = [out_dir / "features.parquet", out_dir / "outcomes.parquet", out_dir / "lab_trends.parquet"]
    for frame, path in zip((features, outcomes, trends), outputs, strict=True):
        frame.reset_index(drop=True).to_parquet(path, index=False)
    quarantine.write(quarantine_path)
    sources = [*ehr.sources, lifestyle_counts, *follow_up_counts, *vcf_counts]
    return BuildReport(sources,
                       len(features), {r.pgs_id: r.counts() for r in prs_results}, quarantine_path, outputs)


def _keyed(table: pd.DataFrame, patients: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """patient_key, index_date, then the columns as float64 (NaN = missing)."""
    keyed = table.astype("float64")
    keyed.insert(0, "index_date", patients["index_date"])
    keyed.insert(0, "patient_key", keys)
    return keyed


def genetic_features(raw_dir: Path, patient_ids: pd.Index, quarantine: Quarantine
                     ) -> tuple[pd.DataFrame, list[ScoreResult], list[SourceCounts]]:
    """PRS sums and PGx counts per patient (NaN for patients absent from the VCF, or with no VCF).

    One read of the VCF (``read_calls``, the reader of ``pmed features prs``) at the score and PGx sites;
    the sums come from ``score_many``, so a PRS feature equals the CLI's ``<pgs_id>_SUM`` on the same files.
    Malformed, multiallelic and repeated records are quarantined with their line, not scored."""
    vcf = raw_dir / "genotypes.vcf"
    if not vcf.is_file():
        vcf = raw_dir / "genotypes.vcf.gz"
    if not vcf.is_file():
        return pd.DataFrame(index=patient_ids), [], []
    scores = {name: read_scoring_file(raw_dir / file) for name, file in PRS_FEATURES.items()
              if (raw_dir / file).is_file()}
    scorings = list(scores.values())
    read = read_calls(vcf, wanted_sites(scorings) | wanted_pgx_sites(), wanted_ids(scorings), strict=False)
    calls = first_biallelic(read)
    results = score_many(calls, scorings) if scorings else []
    sums = [r.sums.rename(n) for n, r in zip(scores, results, strict=True)]
    genetic = pd.concat([allele_counts(calls), *sums], axis=1)
    return genetic.reindex(patient_ids), results, [_vcf_counts(vcf.name, calls, quarantine)]


def _vcf_counts(source_file: str, calls: Calls, quarantine: Quarantine) -> SourceCounts:
    """VCF records as a source: kept records are used, rejected ones quarantined, the rest ignored."""
    counts = SourceCounts(source_file, rows_in=calls.records_in, rows_used=len(calls.sites),
                          rows_quarantined=len(calls.rejected))
    rejected = pd.DataFrame(list(calls.rejected), columns=["line", "field", "rule"])
    for rule, rows in rejected.groupby("rule", sort=False):
        quarantine.add(source_file, rows["line"].to_numpy(), rows["field"].to_numpy(), str(rule))
    unused = counts.rows_in - counts.rows_used - counts.rows_quarantined
    if unused:
        counts.ignored["site not used by any score or PGx allele"] = unused
    return counts.check()


def read_follow_up(path: Path, patients: pd.DataFrame, quarantine: Quarantine
                   ) -> tuple[pd.Series | None, list[SourceCounts]]:
    """Each patient's last contact (NaT where not given or quarantined: follow-up unknown), or ``None`` without
    the file. A row for an unknown patient, a repeated patient, a bad date or one before the index date is
    quarantined (file, line, field, rule)."""
    if not path.is_file():
        return None, []
    check = SourceCheck(path.name, read_raw_csv(path, ["patient_id", "last_contact_date"]), quarantine)
    f = check.frame
    check.reject(blank(f["patient_id"]) | ~f["patient_id"].isin(patients.index), "patient_id", NO_PATIENT)
    check.reject(check.frame["patient_id"].duplicated(), "patient_id", "patient_id repeats an earlier row")
    check.reject(parse_dates(check.frame["last_contact_date"]).isna(), "last_contact_date",
                 "not a valid YYYY-MM-DD date")
    date = parse_dates(check.frame["last_contact_date"])
    check.reject((date < check.frame["patient_id"].map(patients["index_date"])).to_numpy(), "last_contact_date",
                 "the last contact may not precede the index date")
    rows = check.finish()
    last = pd.Series(parse_dates(rows["last_contact_date"]).to_numpy(), index=rows["patient_id"].to_numpy())
    return last.reindex(patients.index), [check.counts]


def _outcomes(raw_dir: Path, patients: pd.DataFrame, events: pd.DataFrame, keys: pd.Series,
              last_contact: pd.Series | None) -> pd.DataFrame:
    outcomes = pd.DataFrame({"patient_key": keys}, index=patients.index)
    for name, outcome in OUTCOMES.items():
        outcomes[name] = label(outcome, events, patients, last_contact)
    for outcome in OUTCOMES.values():
        outcomes = outcomes.join(time_to_event(outcome, events, patients, last_contact))
    outcomes["sex"] = patients["sex"]
    outcomes["ancestry"] = patients["ancestry"]
    outcomes["site"] = patients["site"]
    outcomes["age_band"] = pd.cut(patients["age_years"], AGE_BANDS, right=False, labels=AGE_LABELS).astype(str)
    truth_path = raw_dir / "truth.csv"
    if truth_path.is_file():
        truth = pd.read_csv(truth_path, dtype={"patient_id": str}).set_index("patient_id")
        outcomes = outcomes.join(truth[[c for c in truth.columns if c.startswith("true_risk_")]])
    return outcomes.astype(dict.fromkeys(OUTCOMES, "Int8")).assign(
        **{c: outcomes[c].astype(np.float64) for c in outcomes.columns if c.startswith("true_risk_")})
