"""Pipeline stages, one module each: plain functions first, a thin Prefect task at the bottom."""
