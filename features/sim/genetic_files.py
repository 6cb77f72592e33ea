"""Write simulated genotypes as VCF 4.2 and polygenic scores as PGS Catalog scoring files (format 2.0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from features.sim.variants import ScoreVariant, Variant

_GT = np.array(["0/0", "0/1", "1/1", "./."])


def write_vcf(path: Path, sample_ids: np.ndarray, variants: list[Variant], alt_dosage: np.ndarray) -> None:
    """One row per variant (sorted by contig and position), GT only; dosage -1 is written as a no-call."""
    order = sorted(range(len(variants)), key=lambda i: (int(variants[i].chrom[3:]), variants[i].pos))
    contigs = sorted({v.chrom for v in variants}, key=lambda c: int(c[3:]))
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("##fileformat=VCFv4.2\n##source=pmed-simulator\n##reference=GRCh38\n")
        out.writelines(f"##contig=<ID={c}>\n" for c in contigs)
        out.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(sample_ids) + "\n")
        for i in order:
            v = variants[i]
            calls = "\t".join(_GT[np.where(alt_dosage[i] < 0, 3, alt_dosage[i])])
            out.write(f"{v.chrom}\t{v.pos}\t{v.rsid}\t{v.ref}\t{v.alt}\t.\tPASS\t.\tGT\t{calls}\n")


def write_scoring_file(path: Path, score: list[ScoreVariant], pgs_id: str, name: str, trait: str) -> None:
    header = [
        "###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring",
        "#format_version=2.0", "##POLYGENIC SCORE (PGS) INFORMATION", f"#pgs_id={pgs_id}", f"#pgs_name={name}",
        f"#trait_reported={trait}", "#trait_mapped=", "#trait_efo=", "#weight_type=beta",
        "#genome_build=GRCh38", f"#variants_number={len(score)}",
        "#license=Synthetic score made by the pmed simulator; no restrictions (CC0-1.0)",
    ]
    rows = ["rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight"]
    rows += [f"{s.variant.rsid}\t{s.variant.chrom.removeprefix('chr')}\t{s.variant.pos}\t{s.effect_allele}\t"
             f"{s.other_allele}\t{s.weight}" for s in score]
    path.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
