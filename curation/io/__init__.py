"""Reading a pool, validation set or test set: the files behind a path and their rows, in batches.

- `sources.py`: the files behind a path (a file, a directory's data files, a glob's matches; local
  or s3://) and what identifies each one's content (`Source`, `open_source`), storage failures as
  one-line errors (`storage_errors`).
- `columnar.py`: Parquet (footer checks, then record batches) and Arrow IPC files, as `datasets`'
  save_to_disk writes them.
- `json_rows.py`: JSON lines and .json files holding one JSON array (streamed with ijson), after a
  byte order mark; a text holding a lone surrogate marked for validation to quarantine.
- `batches.py`: every file of a source read by its suffix, in batches with provenance (file, row)
  (`iter_batches`), a small set whole (`read_rows`), every Parquet footer checked first (`check_files`).

`open_source` lists the files and what identifies their content (size and the ETag on S3, a fast
digest of the bytes locally), so a pool validated before is found in the cache (`curation.cache.pools`)
without a read. `check_files` reads every Parquet footer up front (column types), so that a truncated
part among good parts, or a column of the wrong type, stops the run before anything is scored.
`iter_batches` then streams record batches with provenance, so memory does not grow with the pool;
validation (`curation.validation`) detects the row format and hashes each row's content.
"""
