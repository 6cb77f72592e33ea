"""A VCF + PGS Catalog scoring file pair with every case a score matcher must handle, and the expected status.

Each score variant has a kind, and the kind fixes what a pgsc_calc-style matcher must report:
normal, indel and rsid_only (no position, found by rsID) -> matched; flip (score on the opposite strand)
-> flipped; ambiguous (A/T, C/G) and multiallelic -> excluded; absent (not in the VCF) and mismatch
(alleles on neither strand) -> missing. Genotypes include no-calls, half calls (``0/.``) and phased
records; the VCF also holds records no score uses. Lines are written as vectorised byte arrays, so a
200,000-sample VCF of 1,000 records takes seconds (used by bench/prs_bench.py).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

EXPECTED = {"normal": "matched", "indel": "matched", "rsid_only": "matched", "flip": "flipped",
            "ambiguous": "excluded", "multiallelic": "excluded", "absent": "missing", "mismatch": "missing"}
SHARES = {"flip": 0.05, "ambiguous": 0.05, "multiallelic": 0.03, "absent": 0.05, "mismatch": 0.02,
          "rsid_only": 0.02, "indel": 0.02}  # the rest are normal
_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_UNAMBIGUOUS = (("A", "G"), ("A", "C"), ("G", "A"), ("G", "T"), ("C", "T"), ("C", "A"), ("T", "C"), ("T", "G"))
_AMBIGUOUS = (("A", "T"), ("T", "A"), ("C", "G"), ("G", "C"))


@dataclass(frozen=True)
class PrsFixture:
    vcf: Path
    scoring: Path
    expected: pd.DataFrame  # rsid, kind, status: one row per score variant, in file order


@dataclass(frozen=True)
class VcfRecord:
    chrom: int
    pos: int
    rsid: str
    ref: str
    alts: tuple[str, ...]
    kind: str


def write_prs_fixture(out_dir: Path, n_samples: int, n_variants: int, seed: int, missing_rate: float = 0.02,
                      harmonised: bool = False, gzipped: bool = False, pgs_id: str = "PGS_SIM_FAULTS") -> PrsFixture:
    """Write ``genotypes.vcf[.gz]`` and ``<pgs_id>.txt[.gz]`` into ``out_dir``."""
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = _records(rng, n_variants)
    score = _score_rows(rng, [r for r in records if r.kind != "vcf_only"])
    vcf = out_dir / ("genotypes.vcf.gz" if gzipped else "genotypes.vcf")
    samples = [f"S{i:06d}" for i in range(n_samples)]
    in_vcf = sorted((r for r in records if r.kind != "absent"), key=lambda r: (r.chrom, r.pos))
    write_vcf_lines(vcf, samples, in_vcf, _genotypes(rng, in_vcf, n_samples, missing_rate))
    scoring = out_dir / (f"{pgs_id}.txt.gz" if gzipped else f"{pgs_id}.txt")
    write_pgs_file(scoring, score, pgs_id, harmonised)
    return PrsFixture(vcf, scoring, score[["rsid", "kind"]].assign(status=score["kind"].map(EXPECTED)))


def _records(rng: np.random.Generator, n_variants: int) -> list[VcfRecord]:
    counts = {k: max(1, round(share * n_variants)) for k, share in SHARES.items()}
    kinds = [k for k, c in counts.items() for _ in range(c)]
    kinds = kinds + ["normal"] * (n_variants - len(kinds)) + ["vcf_only"] * max(1, n_variants // 20)
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    codes = np.sort(rng.choice(22 * 100_000_000, size=len(kinds), replace=False))
    records = []
    for i, (kind, code) in enumerate(zip(kinds, codes, strict=True)):
        ref, alts = _alleles(rng, kind)
        records.append(VcfRecord(int(code // 100_000_000) + 1, int(code % 100_000_000) + 1, f"rs{900_000 + i}",
                               ref, alts, kind))
    return records


def _alleles(rng: np.random.Generator, kind: str) -> tuple[str, tuple[str, ...]]:
    if kind == "ambiguous":
        ref, alt = _AMBIGUOUS[rng.integers(len(_AMBIGUOUS))]
        return ref, (alt,)
    if kind == "multiallelic":
        bases = rng.permutation(list("ACGT"))
        return str(bases[0]), (str(bases[1]), str(bases[2]))
    ref, alt = _UNAMBIGUOUS[rng.integers(len(_UNAMBIGUOUS))]
    if kind == "indel":
        return (ref + alt + "T", (ref,)) if rng.random() < 0.5 else (ref, (ref + "GA",))
    return ref, (alt,)


def _score_rows(rng: np.random.Generator, records: list[VcfRecord]) -> pd.DataFrame:
    rows = []
    for r in records:
        effect_is_ref = r.kind != "multiallelic" and rng.random() < 0.3
        effect, other = (r.ref, r.alts[0]) if effect_is_ref else (r.alts[-1], r.ref)
        if r.kind == "flip":
            effect, other = effect.translate(_COMPLEMENT), other.translate(_COMPLEMENT)
        if r.kind == "mismatch":  # a base that is neither allele nor REF's complement: no strand matches
            effect, other = r.ref, next(b for b in "ACGT" if b not in (r.ref, r.alts[0], r.ref.translate(_COMPLEMENT)))
        weight = round(float(rng.normal(0, 0.3)), 6)
        rows.append((r.rsid, r.chrom, r.pos, effect, other, weight, r.kind))
    return pd.DataFrame(rows, columns=["rsid", "chrom", "pos", "effect_allele", "other_allele", "effect_weight",
                                       "kind"])


def _genotypes(rng: np.random.Generator, records: list[VcfRecord], n: int, missing_rate: float
               ) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """Per record: allele index of each haplotype (-1 = missing) and whether the record is phased."""
    for r in records:
        freqs = rng.dirichlet(np.ones(len(r.alts) + 1) * 2)
        first, second = (rng.choice(len(freqs), size=n, p=freqs).astype(np.int8) for _ in range(2))
        draw = rng.random(n)
        first[draw < missing_rate] = -1
        second[draw < missing_rate] = -1
        second[(draw >= missing_rate) & (draw < 1.25 * missing_rate)] = -1  # half calls, e.g. 0/.
        yield first, second, bool(rng.random() < 0.2)


def write_vcf_lines(path: Path, samples: list[str], records: list[VcfRecord],
                    genotypes: Iterator[tuple[np.ndarray, np.ndarray, bool]]) -> None:
    """VCF 4.2 with GT only; each sample cell is built as 4 bytes ('a/b' + tab) in one numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    contigs = sorted({r.chrom for r in records})
    with opener(path, "wb") as out:
        out.write(b"##fileformat=VCFv4.2\n##source=pmed-simulator prs_fixtures\n##reference=GRCh38\n")
        out.write("".join(f"##contig=<ID=chr{c}>\n" for c in contigs).encode())
        out.write(b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        out.write(("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n").encode())
        for r, (first, second, phased) in zip(records, genotypes, strict=True):
            cells = np.empty((len(samples), 4), dtype=np.uint8)
            cells[:, 0] = np.where(first < 0, ord("."), ord("0") + first)
            cells[:, 1] = ord("|") if phased else ord("/")
            cells[:, 2] = np.where(second < 0, ord("."), ord("0") + second)
            cells[:, 3] = ord("\t")
            cells[-1, 3] = ord("\n")
            out.write(f"chr{r.chrom}\t{r.pos}\t{r.rsid}\t{r.ref}\t{','.join(r.alts)}\t.\tPASS\t.\tGT\t".encode())
            out.write(cells.tobytes())


def write_pgs_file(path: Path, score: pd.DataFrame, pgs_id: str, harmonised: bool = False) -> None:
    """PGS Catalog format 2.0. Harmonised: hm_* columns hold the GRCh38 positions and chr_position an author
    build's (offset), so a reader that ignores hm_pos misses every variant."""
    rsid_only = score["kind"] == "rsid_only"
    table = pd.DataFrame({
        "rsID": score["rsid"],
        "chr_name": score["chrom"].astype(str).where(~rsid_only, ""),
        "chr_position": (score["pos"] + (10_000 if harmonised else 0)).astype(str).where(~rsid_only, ""),
        "effect_allele": score["effect_allele"], "other_allele": score["other_allele"],
        "effect_weight": score["effect_weight"].map(repr)})
    if harmonised:
        table["hm_source"] = "ENSEMBL"
        table["hm_rsID"] = score["rsid"]
        table["hm_chr"], table["hm_pos"] = table["chr_name"], score["pos"].astype(str).where(~rsid_only, "")
    header = ["###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring",
              "#format_version=2.0", f"#pgs_id={pgs_id}", "#pgs_name=pmed_sim_faults", "#trait_reported=none",
              "#weight_type=beta", f"#genome_build={'GRCh37' if harmonised else 'GRCh38'}",
              f"#variants_number={len(score)}", "#license=Synthetic, made by the pmed simulator (CC0-1.0)"]
    if harmonised:
        header += ["#HmPOS_build=GRCh38", "#HmPOS_date=2026-01-01"]
    text = "\n".join(header) + "\n" + table.to_csv(sep="\t", index=False, lineterminator="\n")
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
