"""Running the server as a production service: request ids, structured logs, traces.

``observe.Observe`` wraps every request: it gives it an id (``request_id.py``) and a record
the API fills in (``context.py``), opens its server span (``tracing.py``, only when an OTLP
endpoint is configured) and writes its access log line (``logs.py``). ``request_metrics.py``
counts and times every answer; ``client_closed.py`` marks a request whose client hung up, so
that each of them reports it alike (499).
"""
