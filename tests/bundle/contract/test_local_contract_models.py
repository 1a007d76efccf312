"""Local contract suite, model components: every model component on every overlay it claims
builds a kserve-container whose command line the server's own parser accepts, with the model's
length and family and the overlay's dtype and engine (no model is started: the flags are the
contract here; the families themselves are served in tests/serving).
"""

from __future__ import annotations

import pytest

from bundlecheck.kserve.predictor_container import predictor_container
from bundlecheck.model_components import model_components, read_claim
from bundlecheck.render import render, render_combination
from tests.bundle.contract.contract_checks import ContractViolation, check_command_line, check_probes_routed
from tests.support.app import SEED_REQUEST
from tests.support.local_pod import REPO, pod_process_spec

PAIRS = [(overlay, component.name) for component in model_components(REPO) for overlay in read_claim(component).fits]


def model_pod(overlay: str, model: str):
    target = f"{REPO / 'overlays' / overlay}+{REPO / 'components/models' / model}"
    return pod_process_spec(predictor_container(render_combination(target).objects))


def test_every_model_component_is_checked_on_at_least_one_overlay():
    assert {model for _, model in PAIRS} == {c.name for c in model_components(REPO)}
    assert len({model for _, model in PAIRS}) >= 3


@pytest.mark.parametrize(("overlay", "model"), PAIRS)
def test_should_accept_each_model_on_each_claimed_overlay_with_the_servers_own_parser(overlay, model):
    pod = model_pod(overlay, model)
    settings = check_command_line(pod, model_name=SEED_REQUEST["model"])
    check_probes_routed(pod, settings)

    claim = read_claim(REPO / "components/models" / model)
    overlay_settings = check_command_line(
        pod_process_spec(predictor_container(render(REPO / "overlays" / overlay).objects)),
        model_name=SEED_REQUEST["model"],
    )
    assert settings.max_model_len == claim.max_model_len
    assert settings.model_family == (claim.family or "auto")
    # The model changes what is served, not how the card runs it.
    assert (settings.dtype, settings.backend, settings.device) == (
        overlay_settings.dtype,
        overlay_settings.backend,
        overlay_settings.device,
    )


def test_should_fail_the_parser_check_for_a_family_the_server_does_not_know(tmp_path):
    component = tmp_path / "components/models/typo"
    component.mkdir(parents=True)
    (component / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "patches:\n  - path: args.yaml\n    target: {kind: InferenceService, name: reranker-model}\n"
    )
    (component / "args.yaml").write_text(
        "- {op: add, path: /spec/predictor/model/args/-, value: --model_family=qwen3_reranker}\n"
    )
    target = f"{REPO / 'overlays/l4'}+{component}"
    pod = pod_process_spec(predictor_container(render_combination(target).objects))
    with pytest.raises(ContractViolation, match=r"--model_family.*invalid choice: 'qwen3_reranker'"):
        check_command_line(pod, model_name=SEED_REQUEST["model"])
