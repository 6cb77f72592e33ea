"""Match PGS Catalog score variants to VCF records, giving every variant a status and a reason.

Rules (the pgsc_calc / pgscatalog-match defaults, see shared/reference/domain.md section 2):
- a variant with a position is looked up at (chromosome without 'chr', position); one without a position
  by its rsID in the VCF ID column;
- the effect allele must be REF or one of the ALTs, and the other allele (when given) another allele of the
  record; tried as written first (``matched``), then with both alleles complemented (``flipped``, a score
  reported on the opposite strand);
- ``excluded`` by default: strand-ambiguous SNPs (A/T, C/G: the strand cannot be told from the alleles),
  multiallelic VCF records, non-additive rows, positions where several VCF records match equally well, and
  VCF records that several score rows claim (each would be counted twice);
- ``missing``: no VCF record at the position (a no-call for every sample, never reference), or alleles
  that match neither strand.
Matching is vectorised over pandas columns so a score of millions of variants matches in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MATCHED, FLIPPED, EXCLUDED, MISSING = "matched", "flipped", "excluded", "missing"
STATUSES = (MATCHED, FLIPPED, EXCLUDED, MISSING)
USED = (MATCHED, FLIPPED)
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
_AMBIGUOUS = {"AT", "TA", "CG", "GC"}
_DIRECT, _FLIP, _NONE = 0, 1, 2


@dataclass(frozen=True)
class MatchPolicy:
    """What to do with variants whose match is uncertain; the defaults are pgsc_calc's."""

    keep_ambiguous: bool = False  # True: score A/T and C/G SNPs assuming the VCF's strand
    keep_multiallelic: bool = False  # True: score the effect allele's copies at multiallelic records
    strand_flips: bool = True  # False: a match on the opposite strand only is reported missing


def match_variants(variants: pd.DataFrame, sites: pd.DataFrame, policy: MatchPolicy = MatchPolicy()) -> pd.DataFrame:
    """The score's variants plus status, reason, orientation, the VCF record (row of ``sites``, -1 if none),
    its file line and the index of the effect allele in that record (0 = REF, -1 if unused)."""
    v = variants.reset_index(drop=True)
    candidates = _candidates(v, sites)
    best = _best(candidates)
    report = v.assign(status=MISSING, reason="", orientation="", record=-1, vcf_line=0, allele=-1)
    report.loc[v["pos"] > 0, "reason"] = "no VCF record at this position: a no-call for every sample"
    report.loc[v["pos"] == 0, "reason"] = "rsID not found in the VCF ID column: a no-call for every sample"
    if len(best):
        _apply(report, best, policy)
    unsupported = report["unsupported"] != ""
    report.loc[unsupported, ["status", "reason"]] = [EXCLUDED, ""]
    report.loc[unsupported, "reason"] = report.loc[unsupported, "unsupported"]
    report.loc[unsupported, ["record", "allele"]] = -1
    _exclude_shared_records(report)
    return report


def complement(alleles: pd.Series) -> pd.Series:
    return alleles.str.translate(_COMPLEMENT)


def _candidates(v: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """Every (score variant, VCF record) pair at the same position, or with the same rsID if no position."""
    s = sites.reset_index(drop=True).assign(record=np.arange(len(sites)))
    s = s.rename(columns={"chrom": "vcf_chrom", "pos": "vcf_pos", "id": "vcf_id", "line": "vcf_line"})
    left = v[["effect_allele", "other_allele", "chrom", "pos", "rsid"]].assign(variant=np.arange(len(v)))
    by_pos = left[left["pos"] > 0].merge(s, left_on=["chrom", "pos"], right_on=["vcf_chrom", "vcf_pos"])
    by_id = left[(left["pos"] == 0) & (left["rsid"] != "")].merge(s, left_on="rsid", right_on="vcf_id")
    c = pd.concat([by_pos, by_id], ignore_index=True)
    alleles = c["ref"].combine(c["alts"], lambda ref, alts: (ref, *alts)) if len(c) else pd.Series(dtype=object)
    c["n_alts"] = c["alts"].map(len) if len(c) else pd.Series(dtype=int)
    direct = _allele_index(alleles, c["effect_allele"], c["other_allele"])
    flipped = _allele_index(alleles, complement(c["effect_allele"]), complement(c["other_allele"]))
    c["rank"] = np.where(direct >= 0, _DIRECT, np.where(flipped >= 0, _FLIP, _NONE))
    c["allele"] = np.where(direct >= 0, direct, flipped)
    c["ambiguous"] = _ambiguous(c, alleles)
    return c


def _allele_index(alleles: pd.Series, effect: pd.Series, other: pd.Series) -> np.ndarray:
    """Index of ``effect`` among the record's alleles when ``other`` (if given) is another of them, else -1."""
    index = np.full(len(alleles), -1)
    other_found = (other == "").to_numpy().copy()
    widest = int(alleles.map(len).max()) if len(alleles) else 0
    for k in range(widest):
        allele = alleles.str[k]
        index = np.where((index < 0) & (allele == effect).to_numpy(), k, index)
        other_found |= ((allele == other) & (other != effect)).to_numpy()
    return np.where(other_found, index, -1)


def _ambiguous(c: pd.DataFrame, alleles: pd.Series) -> np.ndarray:
    """A/T or C/G: from the score's two alleles, or from the record's when the score gives one allele."""
    pair = (c["effect_allele"] + c["other_allele"]).where(c["other_allele"] != "",
                                                         alleles.map("".join) if len(c) else "")
    return pair.isin(_AMBIGUOUS).to_numpy()


def _best(c: pd.DataFrame) -> pd.DataFrame:
    """Per score variant the best-ranked candidate, with how many candidates share that rank."""
    if not len(c):
        return c
    c = c.sort_values(["variant", "rank", "record"], kind="stable")
    c["tied"] = c.groupby(["variant", "rank"])["record"].transform("size")
    return c.drop_duplicates("variant")


def _apply(report: pd.DataFrame, best: pd.DataFrame, policy: MatchPolicy) -> None:
    rows = best["variant"].to_numpy()
    status = np.where(best["rank"] == _DIRECT, MATCHED, np.where(best["rank"] == _FLIP, FLIPPED, MISSING))
    vcf_alleles = best["ref"] + "/" + best["alts"].map(",".join)
    reason = np.where(status == MISSING, "alleles " + best["effect_allele"] + "/" + best["other_allele"]
                      + " match neither the VCF's " + vcf_alleles + " nor its complement", "")
    reason = np.where(status == FLIPPED, "alleles match the VCF on the opposite strand", reason)
    rules = [
        ((status == FLIPPED) & (not policy.strand_flips), MISSING,
         "alleles match only on the opposite strand and strand flips are off"),
        ((best["tied"] > 1).to_numpy(), EXCLUDED,
         "several VCF records at this position match equally well"),
        ((best["n_alts"] > 1).to_numpy() & (not policy.keep_multiallelic), EXCLUDED,
         "multiallelic VCF record " + vcf_alleles),
        (best["ambiguous"].to_numpy() & (not policy.keep_ambiguous), EXCLUDED,
         "strand-ambiguous SNP (A/T or C/G)"),
    ]
    for rule, new_status, why in rules:  # in order: the first rule that applies to a used match wins
        applies = np.asarray(rule, dtype=bool) & np.isin(status, USED)
        status = np.where(applies, new_status, status)
        reason = np.where(applies, why, reason)
    used = np.isin(status, USED)
    report.loc[rows, "status"] = status
    report.loc[rows, "reason"] = reason
    report.loc[rows, "vcf_line"] = best["vcf_line"].to_numpy()
    report.loc[rows, "record"] = np.where(used, best["record"], -1)
    report.loc[rows, "allele"] = np.where(used, best["allele"], -1)
    report.loc[rows, "orientation"] = np.where(
        used, np.where(best["allele"] == 0, "effect=REF", "effect=ALT" + np.where(best["n_alts"] > 1, best[
            "allele"].astype(str), "")), "")


def _exclude_shared_records(report: pd.DataFrame) -> None:
    """A VCF record claimed by several score rows is excluded for all of them (pgsc_calc drops duplicates)."""
    used = report["status"].isin(USED)
    shared = used & report["record"].duplicated(keep=False) & (report["record"] >= 0)
    report.loc[shared, "status"] = EXCLUDED
    report.loc[shared, "reason"] = "several score rows match this VCF record"
    report.loc[shared, ["record", "allele", "orientation"]] = [-1, -1, ""]
