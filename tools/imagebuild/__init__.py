"""Build the serving image with the container engine at hand, and run it as KServe would."""
