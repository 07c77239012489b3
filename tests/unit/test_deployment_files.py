"""The deployment files and docs agree with the code: settings, probes, cluster shape."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from unitledger.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "deployment.md").read_text()
DEPLOY = ROOT / "deploy"
# Read outside Settings: the identity key path (bootstrap) and the TOML file (config).
EXTRA_SERVER_VARIABLES = {"UNITLEDGER_IDENTITY_KEY_FILE", "UNITLEDGER_CONFIG"}


def setting_variables() -> set[str]:
    return {f"UNITLEDGER_{name.upper()}" for name in Settings.model_fields}


def documented_variables() -> set[str]:
    table = DOC.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(UNITLEDGER_[A-Z_]+)`", table, flags=re.MULTILINE))


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def by_kind(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name)


def test_settings_table_lists_every_server_setting_and_nothing_else() -> None:
    assert documented_variables() == setting_variables() | EXTRA_SERVER_VARIABLES


def test_deployment_files_name_only_settings_that_exist() -> None:
    known = setting_variables() | EXTRA_SERVER_VARIABLES
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            used = set(re.findall(r"UNITLEDGER_[A-Z_]+", path.read_text()))
            assert used <= known, (path, used - known)


def test_kubernetes_probes_use_health_and_ready_and_pods_drain_before_sigterm() -> None:
    pod = by_kind("Deployment", "unitledger")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert pod["terminationGracePeriodSeconds"] > 5 + 10  # preStop + uvicorn's graceful timeout
    env = {e["name"] for e in container["env"]}
    assert {"UNITLEDGER_DATABASE_URL", "UNITLEDGER_NATS_URL"} <= env


def test_kubernetes_nats_is_a_three_node_jetstream_cluster_routing_to_every_node() -> None:
    nats = by_kind("StatefulSet", "nats")
    assert nats["spec"]["replicas"] == 3
    config = by_kind("ConfigMap", "nats-config")["data"]["nats.conf"]
    assert "jetstream" in config
    routes = re.findall(r"nats-route://(nats-\d)\.nats-cluster:6222", config)
    assert routes == ["nats-0", "nats-1", "nats-2"]


def test_compose_runs_postgres_three_nats_nodes_replicas_and_the_dashboard() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "nats-1", "nats-2", "nats-3", "unitledger", "dashboard"}
    replica = services["unitledger"]
    assert replica["deploy"]["replicas"] >= 2
    assert "/api/v1/ready" in " ".join(replica["healthcheck"]["test"])
    assert replica["stop_signal"] == "SIGTERM"
    nats_conf = (DEPLOY / "compose" / "nats.conf").read_text()
    assert re.findall(r"nats-route://(nats-\d):6222", nats_conf) == ["nats-1", "nats-2", "nats-3"]
