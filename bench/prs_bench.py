"""The PRS step, pmed vs plink2 on the same VCF, side by side: wall time, peak memory and the ratio.

Usage:
    .venv/bin/python bench/prs_bench.py [--samples 200000] [--variants 1000] [--threads 2] [--gzip]

The simulator (features/sim/prs_fixtures.py) writes a VCF and a PGS Catalog scoring file with flips,
ambiguous and multiallelic sites, no-calls and absent variants into a temporary folder. pmed runs as
`pmed features prs` (parse the scoring file, match, read the VCF, sum, write the table and the match
report: the whole CLI, interpreter start included). plink2 runs `--score ... cols=+scoresums
no-mean-imputation` on the variants and effect alleles pmed matched (prepared beforehand, not timed), so it
skips the matching pmed does. Peak memory is each process's max RSS (os.wait4). The sums are compared too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.genetic.calls import read_calls
from features.genetic.prs import MatchPolicy, match_all, read_scoring_file, wanted_ids, wanted_sites
from features.genetic.prs_match import USED
from features.sim.prs_fixtures import write_prs_fixture

BIN = Path(sys.executable).parent


def best_of(repeat: int, command: list[str]) -> tuple[float, float, float]:
    """Fastest wall and CPU time and largest peak RSS over ``repeat`` runs (the machine may be shared)."""
    runs = [timed(command) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)


# Started from the benchmark process, which may hold gigabytes: a child forked from it reports that memory
# as its own peak RSS (Linux records the old address space's high-water mark at exec). A small launcher
# process forks the command instead, so the reported peak is the command's own.
_LAUNCHER = """import os, sys, time
report, log, command = sys.argv[1], sys.argv[2], sys.argv[3:]
started = time.perf_counter()
with open(log, "wb") as out:
    pid = os.posix_spawnp(command[0], command, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, out.fileno(), 2)])
    _, status, usage = os.wait4(pid, 0)
with open(report, "w") as out:
    print(time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
          os.waitstatus_to_exitcode(status), file=out)
"""


def timed(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one child process."""
    with tempfile.TemporaryDirectory() as tmp:
        report, log = Path(tmp) / "usage", Path(tmp) / "log"
        subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(report), str(log), *command], check=True)
        wall, cpu, max_rss, code = report.read_text().split()
        if int(code) != 0:
            raise RuntimeError(f"{command[0]} failed:\n{log.read_text(errors='replace')[-3000:]}")
    return float(wall), float(cpu), int(max_rss) / 1024


def plink2_score_file(vcf: Path, scoring_path: Path, out: Path) -> int:
    """pmed's matched variants as a plink2 score file (ID chrom:pos, the VCF's allele, weight)."""
    scoring = read_scoring_file(scoring_path)
    calls = read_calls(vcf, wanted_sites([scoring]), wanted_ids([scoring]))
    report = match_all(calls, [scoring], MatchPolicy())[scoring.pgs_id]
    used = report[report["status"].isin(USED)]
    sites = calls.sites.iloc[used["record"].to_numpy()]
    pd.DataFrame({"ID": (sites["chrom"] + ":" + sites["pos"].astype(str)).to_numpy(),
                  "A1": [(r, *a)[k] for r, a, k in zip(sites["ref"], sites["alts"], used["allele"], strict=True)],
                  scoring.pgs_id: used["effect_weight"].map(repr).to_numpy()}).to_csv(out, sep="\t", index=False)
    return len(used)


def plink2_command(vcf: Path, score_file: Path, out_prefix: Path, threads: int) -> list[str]:
    """plink2 --score with a file from ``plink2_score_file``: sums, no mean imputation, half calls missing."""
    return ["plink2", "--vcf", str(vcf), "--set-all-var-ids", "@:#", "--vcf-half-call", "missing",
            "--score", str(score_file), "1", "2", "3", "header-read", "cols=+scoresums", "no-mean-imputation",
            "--threads", str(threads), "--out", str(out_prefix)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--variants", type=int, default=1_000)
    parser.add_argument("--threads", type=int, default=2, help="plink2 --threads (pmed uses one core)")
    parser.add_argument("--gzip", action="store_true", help="gzip the VCF (both tools decompress it)")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the temporary data")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the fastest is reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp_dir:
        tmp = Path(tmp_dir)
        started = time.perf_counter()
        fixture = write_prs_fixture(tmp / "data", args.samples, args.variants, seed=2026, gzipped=args.gzip)
        generated = time.perf_counter() - started
        size_mib = fixture.vcf.stat().st_size / 2**20
        n_used = plink2_score_file(fixture.vcf, fixture.scoring, tmp / "plink2_score.tsv")
        pmed = best_of(args.repeat, [str(BIN / "pmed"), "features", "prs", "--vcf", str(fixture.vcf), "--score",
                      str(fixture.scoring), "--out", str(tmp / "pmed" / "prs.tsv")])
        plink2 = best_of(args.repeat,
                         plink2_command(fixture.vcf, tmp / "plink2_score.tsv", tmp / "plink2", args.threads))
        ours = pd.read_csv(tmp / "pmed" / "prs.tsv", sep="\t").set_index("sample").iloc[:, 0]
        theirs = pd.read_csv(tmp / "plink2.sscore", sep="\t").set_index("#IID").loc[ours.index].iloc[:, -1]
        worst = float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-6)))
    print(f"\nPRS step: {args.samples:,} samples x {args.variants:,} score variants ({n_used} matched), "
          f"VCF {size_mib:,.0f} MiB{' gzipped' if args.gzip else ''}; data written in {generated:.1f} s")
    print(f"{'tool (best of ' + str(args.repeat) + ' runs)':<34}{'wall s':>9}{'CPU s':>9}{'peak MiB':>11}")
    print(f"{'pmed features prs':<34}{pmed[0]:>9.2f}{pmed[1]:>9.2f}{pmed[2]:>11.0f}")
    print(f"{f'plink2 --score ({args.threads} threads)':<34}{plink2[0]:>9.2f}{plink2[1]:>9.2f}{plink2[2]:>11.0f}")
    print(f"{'ratio pmed / plink2':<34}{pmed[0] / plink2[0]:>9.2f}{pmed[1] / plink2[1]:>9.2f}"
          f"{pmed[2] / plink2[2]:>11.2f}")
    print(f"machine load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"largest relative difference of the sums: {worst:.1e} (plink2 prints 6 significant digits)")
    print(f"target: pmed within 2x of plink2's wall time -> {'met' if pmed[0] <= 2 * plink2[0] else 'MISSED'}")


if __name__ == "__main__":
    main()
