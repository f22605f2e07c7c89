"""MovieLens ingestion, the Interactions container, synthetic data and splits."""
