"""What `pmed features pgx` does, kept out of pmed/cli.py so the CLI stays a thin edge."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.genetic.pgx.calls import CALL_COLUMNS, call_vcf
from features.genetic.pgx.pharmcat import PharmcatError, read_outside_calls, read_report, write_outside_calls
from features.quarantine import Quarantine


class PgxInputError(ValueError):
    """Bad command-line combination or unreadable input."""


def pgx_table(out: Path, vcf: Path | None, reports: list[Path], outside: list[Path], sample: str | None,
              outside_call_dir: Path | None, assume_trans: bool
              ) -> tuple[pd.DataFrame, int, Path | None, list[Path]]:
    """Call or read, write the table (and the quarantine beside it when lines were rejected)."""
    given = [bool(vcf), bool(reports), bool(outside)]
    if sum(given) != 1:
        raise PgxInputError("give exactly one of --vcf, --pharmcat-report, --outside-calls")
    if sample and len(reports) + len(outside) > 1:
        raise PgxInputError("--sample names one file's sample; with several files, name them <sample>.report.tsv")
    for path in [p for p in (vcf, *reports, *outside) if p is not None]:
        if not path.is_file():
            raise PgxInputError(f"{path} does not exist")
    if out.suffix not in (".csv", ".parquet"):
        raise PgxInputError(f"{out}: output must end in .csv or .parquet")
    quarantine = Quarantine()
    try:
        if vcf:
            calls = call_vcf(vcf, assume_trans)
        else:
            reader = read_report if reports else read_outside_calls
            frames = [reader(p, quarantine, sample) for p in (reports or outside)]
            calls = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CALL_COLUMNS)
    except (PharmcatError, UnicodeDecodeError) as exc:
        raise PgxInputError(str(exc)) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        calls.to_parquet(out, index=False)
    else:
        calls.to_csv(out, index=False)
    rejected = quarantine.frame()
    quarantine_path = None
    if len(rejected):
        quarantine_path = out.with_name(f"{out.stem}.quarantine.csv")
        quarantine.write(quarantine_path)
    written = write_outside_calls(calls, outside_call_dir) if outside_call_dir else []
    return calls, len(rejected), quarantine_path, written
