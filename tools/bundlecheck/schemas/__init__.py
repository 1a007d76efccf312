"""Where the schemas come from (KServe's CRDs, the CRDs-catalog's third-party schemas) and the
check of each rendered object against its schema."""
