"""What the test suites share (and the benchmarks may use): the seed request and generated
bodies (``workload``), a real server process (``server_process``), /metrics (``metrics``), the
app in-process and engine runners (``app``), models built on the fly (``tiny_models``), a fake
engine (``fake_engine``), the schema sources (``schema_sources``) and the seed contract's checks
(``seed_contract``), a process's peak memory and the overlays' limits (``peak_memory``), and the
benchmark's models in real shapes (``model_shapes``)."""
