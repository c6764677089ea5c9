"""Prefect flows of the curation tool and its command line."""
