"""How long the kind suite may take, against the CI job that runs it.

The cluster's steps carry their own timeouts (kind_install.py); this module holds the others. Each
test of the suite times only its own body (pytest-timeout's ``func_only``), and every fixture is
bounded by the timeouts here and the plan's, so the worst cases add up to a bound on the job:
test_kind_install_plan.py checks that they fit in JOB_TIMEOUT_MINUTES with MARGIN_S to spare.
"""

from __future__ import annotations

# .github/workflows/ci.yml, jobs.e2e.timeout-minutes: where GitHub kills the job without the
# suite's own report, so everything the suite waits for must end well before.
JOB_TIMEOUT_MINUTES = 150
MARGIN_S = 600

# Before pytest: checkout, setup-python, and make setup (.venv from its lock: torch's CPU wheel).
JOB_SETUP_S = 600
# After pytest: kind export logs and the artifact upload.
JOB_LOGS_S = 180

# missing_prerequisite: `docker info`, then a privileged `docker run` of the node image (its pull).
DOCKER_INFO_S = 60
NODE_IMAGE_RUN_S = 300
# pytest-kind downloads kind and kubectl and runs `kind create cluster` without a timeout of its
# own; kubeadm's own waits bound the creation. An allowance, not a timeout the suite enforces.
KIND_CREATE_S = 300
# The CPU image: a first build downloads torch's CPU wheel and the base image (a few minutes on
# a GitHub runner), then `kind load docker-image` copies it into the node.
IMAGE_BUILD_S = 1200
IMAGE_LOAD_S = 300
# A kubectl read (a get, logs, a describe) of the tests and fixtures.
KUBECTL_READ_S = 30
# The port-forward to the predictor Service: until it answers, and its shutdown.
PORT_FORWARD_READY_S = 60
PORT_FORWARD_STOP_S = 30
# What failure reports spend reading the cluster (pods, events, logs), over the whole session.
DIAGNOSTICS_S = 300
DIAGNOSTIC_CALL_S = 20  # one kubectl call of a report

# The fixtures' waits besides the plan's, by name.
FIXTURE_WAITS_S = {
    "docker info": DOCKER_INFO_S,
    "node image run": NODE_IMAGE_RUN_S,
    "kind create cluster (allowance)": KIND_CREATE_S,
    "image build": IMAGE_BUILD_S,
    "image load": IMAGE_LOAD_S,
    "predictor Service port read": KUBECTL_READ_S,
    "port-forward ready": PORT_FORWARD_READY_S,
    "port-forward stop": PORT_FORWARD_STOP_S,
    "failure diagnostics": DIAGNOSTICS_S,
}
JOB_WAITS_S = {"job setup (allowance)": JOB_SETUP_S, "log export (allowance)": JOB_LOGS_S}
