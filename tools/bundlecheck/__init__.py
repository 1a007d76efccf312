"""Render the Kustomize bundle and check it against schemas and policies."""
