"""Validation: check rows against the file contract with Great Expectations; quarantine bad pool rows.

The validation and test sets define the target, so any bad row there is a hard error. A pool is
large and messy, and checked in two parts:
- the scan involves no target: streamed batch by batch through the row format's checks and the
  duplicate checks, its valid rows kept in the validated-pool cache (`curation.cache.pools`), so a
  rerun, a resumed run or another target on the same pool reads no pool file;
- admission applies what depends on the target (feature length, labels, leakage against the
  validation and test rows) to the cached valid rows, and spills the admitted ones to local
  Parquet parts (the shards), so memory stays flat however large the pool.
Bad rows are quarantined with a reason and the run goes on with the rest, unless the pool as a
whole is unusable (a required column missing, no valid rows, more than `max_reject_share` of
rows rejected).

- `target.py`: the validation and test sets checked strictly, the reference they fix for every
  other file (`reference_from`), the holdout split when there is no test set (`check_target`).
- `scan.py`: a pool's checks that involve no target, streamed, valid rows to Parquet parts and bad
  ones to the quarantine (`scan_pool`).
- `duplicates.py`: which content hashes and ids earlier batches held (`SeenKeys`), and the
  duplicate checks' figures.
- `admit.py`: a scanned pool's rows one target may use (`admit`), refused whole when too many are bad.
- `pool.py`: a pool for one target, scanned once per content version through the cache, then
  admitted (`check_pool_for`; `check_pool` for one-off use).
- `checks.py`: what those share: the checks tables, their suite and facts, ids and content
  hashes, rejected rows as one table.
"""
