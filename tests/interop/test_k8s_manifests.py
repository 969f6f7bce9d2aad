"""The Kubernetes manifests in cluster/k8s are valid (checked offline against the
bundled schemas of kubernetes-validate) and use the same discovery path as
docker-compose: the SWITCHBOARD_MEMBERS list of node id -> DNS name:port."""

import pathlib
import re

import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "cluster" / "k8s"
MANIFESTS = ["configmap.yaml", "services.yaml", "statefulset.yaml", "pdb.yaml"]
KUBERNETES_VERSION = "1.30"


def documents(name):
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


@pytest.mark.parametrize("name", MANIFESTS)
def test_every_manifest_is_valid_kubernetes(name):
    for doc in documents(name):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(MANIFESTS)


def members(text):
    return dict(item.split("=", 1) for item in text.split(","))


def test_peers_are_the_statefulset_pods_stable_dns_names():
    config = documents("configmap.yaml")[0]["data"]
    statefulset = documents("statefulset.yaml")[0]
    headless = next(d for d in documents("services.yaml") if d["spec"].get("clusterIP") == "None")
    assert statefulset["spec"]["serviceName"] == headless["metadata"]["name"]
    assert headless["spec"]["publishNotReadyAddresses"] is True
    name, service = statefulset["metadata"]["name"], headless["metadata"]["name"]
    replicas = statefulset["spec"]["replicas"]
    expected = {str(i): f"{name}-{i}.{service}:19000" for i in range(replicas)}
    assert members(config["SWITCHBOARD_MEMBERS"]) == expected


def test_probes_hit_the_routers_health_endpoints():
    container = documents("statefulset.yaml")[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"


def test_compose_discovers_peers_the_same_way():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = {k: v for k, v in compose["services"].items() if k.startswith("node")}
    lists = {svc["environment"]["SWITCHBOARD_MEMBERS"] for svc in services.values()}
    assert len(lists) == 1, "every node gets the same member list"
    peers = members(lists.pop())
    for node_id, address in peers.items():
        host, port = address.rsplit(":", 1)
        assert host in services and port == "19000"
        assert services[host]["environment"]["SWITCHBOARD_NODE_ID"] == node_id
    assert all(re.fullmatch(r"127\.0\.0\.1:1808[0-2]:18080", svc["ports"][0]) for svc in services.values())
