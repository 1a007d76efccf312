"""Side-by-side benchmark: our server against the in-process ceiling (and vLLM where installed).

One run measures every system on the same workload, the same request bodies and the same
precision. The systems of a model are loaded together and measured in rounds: each round measures
every system once, one at a time (the other servers frozen with SIGSTOP), in an order rotated each
round; --repeat rounds per point. The table gives each system's median docs/s and the median of its paired ratios
(its docs/s over the in-process docs/s of the same round), so a drift of a noisy machine lands on
every system alike instead of on whichever ran last.

  in-process   sentence-transformers in this process: CrossEncoder.predict, or
               SentenceTransformer.encode + cosine. At concurrency C one call scores the pairs of C
               requests together, in batches of --in-process-batch (auto: the library's default
               of 32 on CPU, which ran 10-20% faster there than one batch of all of them; all of
               them in one batch on CUDA). Each of those C requests' latency is that call's time.
  server       our server, torch engine (python -m reranker --backend torch), /openai/v1/rerank.
  vllm         vLLM's own server (.venv-vllm/bin/vllm serve --runner pooling), /v1/rerank.
  server-vllm  our server with --backend vllm, run by .venv-vllm's python.

Servers are loaded in a closed loop: C clients on keep-alive connections, each sending its next
request when the last is answered, for --seconds per round after --warmup seconds. The load
generator is raw asyncio HTTP over pre-serialized bodies; its own CPU use is reported (client
CPU %), as is the server's (its process tree). Peak RSS: each system's peak resident memory over
a point's measured runs (the largest round's), read from /proc: VmHWM, reset after each warm-up,
summed over the server's process tree (vLLM runs its engine in a child), or for in-process this
benchmark's own process.

Workloads, each 1 query + --documents documents (one token per word for these tokenizers):
  cross-encoder  uniform: documents of --words words, on a random-weight cross-encoder of --shape
                 (MiniLM-L6's by default)
  varied         the same model; document lengths log-uniform in 8-300 words (benchmarks/varied_bodies.py)
  llm            a random-weight Qwen3-Reranker of --llm-shape with a 106-word instruction and varied
                 documents; our server with and without prefix reuse (server-no-prefix-reuse), at
                 --llm-concurrency
  embedding      the packaged all-MiniLM-L6-v2, uniform documents
  seed           the seed guide's request alone (4 documents) on the cross-encoder, concurrency 1
After the rounds, the seed request is also sent one at a time, alternately in-process and to our
server, for --seconds x --repeat: the median of each pair's difference is the serving overhead,
resolved to a fraction of a millisecond. Under the table, paired ratios (the same rounds) compare
our server with `vllm serve` and prefix reuse on with off. With --json, a plot of docs/s per
system, workload and concurrency is written beside the JSON (FILE.png).

    make bench
    make bench BENCH_ARGS='--dtype float32 bfloat16 --seconds 20 --repeat 5'
    python -m benchmarks.bench --systems in-process server --workloads seed --seconds 5 --repeat 1
"""

# The package, one module per part of a run:
#   cli.py         the flags, and a run: load and measure (rounds.py), print (table.py), write (report.py)
#   workloads.py   Workload: a model, its request bodies and concurrencies; the named workloads
#   systems.py     the systems, the models each runs, their labels; Point and the Loaded interface
#   in_process.py  the in-process ceiling: sentence-transformers at the server's precision and threads
#   servers.py     our server and vLLM's as processes: their commands, the first answer checked
#   rounds.py      every system of a model loaded at once, measured in rotated rounds
#   overhead.py    the seed request one at a time, alternately in-process and served
#   precision.py   the dtype the server would pick for --dtype auto
#   processes.py   a server's process tree from /proc: its CPU seconds, signals to all of it
#   gpu_memory.py  device memory from nvidia-smi: a system's growth, a CUDA context's size
#   machine.py     the machine's description in the JSON report
#   ceiling.py     the limit: measured matmul peak over a workload's model FLOPs per pair
#   report.py      rows, ratios, ceilings and paired comparisons from the rounds; the JSON report
#   table.py       the table and the lines printed under it
#   plot.py        the PNG beside the JSON
