"""The nightly portfolio run: the loan book recomputed as of a business date, in bulk.

Stages (each a module, each pluggable): `inputs` (read the book as Arrow tables, from the
database or Parquet), `templates` (repayment-schedule amounts, computed once per distinct
set of terms by the domain core and cached), `engine` (the domain's posting, delinquency
and classification rules vectorized in DuckDB, partition by partition), `output` (bulk
writes of the results, atomically per run) and `runner` (the orchestration with progress,
fingerprint and summary). `reference` is the per-loan domain engine the vectorized engine
is tested against and benchmarked with.
"""
