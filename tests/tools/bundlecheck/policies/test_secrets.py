"""policies/secrets.py: every Secret reference finds a Secret this render or a component provides."""

from __future__ import annotations

from typing import Any

from bundlecheck.policies import POLICIES, Context
from bundlecheck.policies.secrets import component_secret_names
from tests.tools.bundlecheck.policies.bundle_objects import REPO, findings


def test_components_provide_the_token_secret() -> None:
    assert "hf-secret" in component_secret_names(REPO / "components")


def test_secret_ref_fails_when_no_component_provides_it(cpu_objects: list[dict[str, Any]]) -> None:
    assert findings("secret-ref-resolves", cpu_objects, component_secrets={"hf-secret"}) == []
    assert findings("secret-ref-resolves", cpu_objects, component_secrets=set()) == [
        ("ClusterStorageContainer/hf-hub", "spec.container.env[0].valueFrom.secretKeyRef.name")
    ]


def test_secret_ref_to_a_generated_name_that_was_not_rewritten(cpu_objects) -> None:
    objects = [
        *cpu_objects,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf-secret-5t9m8k2hbd"}},
    ]
    (finding,) = POLICIES["secret-ref-resolves"].check(Context(objects, {"hf-secret"}))
    assert "generates 'hf-secret-5t9m8k2hbd'" in finding.message
