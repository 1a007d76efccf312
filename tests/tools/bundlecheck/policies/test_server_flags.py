"""policies/server_flags.py: the manifests' server args checked by the server's own parser."""

from __future__ import annotations

import copy

from tests.tools.bundlecheck.policies.bundle_objects import findings, the


def test_server_flag_check_uses_the_servers_parser(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    args = the(objects, "InferenceService")["spec"]["predictor"]["model"]["args"]
    args += ["--no-trust_remote_code", "--max_batch_tokens", "4096"]
    assert findings("server-flags", objects) == []
    args.append("--max_batch_tokens=10")  # below the server's minimum of 64
    assert findings("server-flags", objects) == [("InferenceService/reranker-model", "spec.predictor.model.args")]
