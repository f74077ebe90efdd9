"""The DaskCluster spec validates (offline) against the operator's own CRD schema.

The package's ``customresources/daskcluster.yaml`` is a template whose schema is a ``$ref`` into
``templates.yaml`` and from there into Kubernetes definitions of a package (k8s_crd_resolver) that
is not installed; the same package ships the resolved CRD in its Helm chart
(``deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml``), which is what the operator
installs. We validate against that concrete ``openAPIV3Schema`` with jsonschema, and also check what
the API server would do that jsonschema does not: fields unknown to a structural schema are pruned
silently, so every field we set must be declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask_kubernetes
import jsonschema
import pytest
import yaml
from gridtwin.compute.kube import example_yaml, make_kube_cluster_spec
from gridtwin.config.settings import Settings

REPO = Path(__file__).resolve().parents[4]
CRD = (
    Path(dask_kubernetes.__file__).parent
    / "operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
)


@pytest.fixture(scope="module")
def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    assert "$ref" not in CRD.read_text()  # concrete, nothing left to resolve
    return schema


def unknown_fields(instance: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of keys a structural schema does not declare (the API server would prune them)."""
    found: list[str] = []
    if isinstance(instance, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return found
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if props is not None and key in props:
                found += unknown_fields(value, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                found += unknown_fields(value, extra, f"{path}.{key}")
            elif props is not None or extra is None:
                found.append(f"{path}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(instance):
            found += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


def test_spec_validates_against_crd(crd_schema: dict[str, Any]) -> None:
    spec = make_kube_cluster_spec(Settings.model_construct(dask_namespace="grid"), n_workers=3)
    jsonschema.validate(spec, crd_schema)
    assert unknown_fields({"spec": spec["spec"]}, crd_schema) == []
    assert spec["kind"] == "DaskCluster" and spec["apiVersion"] == "kubernetes.dask.org/v1"
    worker = spec["spec"]["worker"]
    assert worker["replicas"] == 3
    pod = worker["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["GRIDTWIN_DATA_DIR"] == "/data"
    assert {"name": "gridtwin-data", "mountPath": "/data"} in container["volumeMounts"]
    assert {"name": "gridtwin-data", "persistentVolumeClaim": {"claimName": "gridtwin-data"}} in pod[
        "volumes"
    ]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert (
        "--nthreads" in container["args"]
        and container["args"][container["args"].index("--nthreads") + 1] == "1"
    )
    assert spec["metadata"]["namespace"] == "grid"


def test_schema_catches_bad_spec(crd_schema: dict[str, Any]) -> None:
    """The schema is strict enough to mean something: wrong types and missing parts fail."""
    spec = make_kube_cluster_spec(Settings.model_construct())
    spec["spec"]["worker"]["replicas"] = "three"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, crd_schema)
    spec = make_kube_cluster_spec(Settings.model_construct())
    del spec["spec"]["scheduler"]["service"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, crd_schema)
    spec = make_kube_cluster_spec(Settings.model_construct())
    spec["spec"]["worker"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True  # typo
    assert unknown_fields({"spec": spec["spec"]}, crd_schema) == [
        ".spec.worker.spec.containers[0].securityContext.readOnlyRootFS"
    ]


def test_bad_cluster_name_is_input_error() -> None:
    from gridtwin.errors import InputError

    with pytest.raises(InputError) as err:
        make_kube_cluster_spec(Settings.model_construct(dask_cluster_name="Not_Valid"))
    assert err.value.details[0].where == "GRIDTWIN_DASK_CLUSTER_NAME"


def test_example_yaml_is_current() -> None:
    path = REPO / "k8s" / "dask" / "daskcluster-example.yaml"
    assert path.read_text() == example_yaml(), (
        "regenerate: uv run python -m gridtwin.compute.kube > k8s/dask/daskcluster-example.yaml"
    )


def test_rbac_allows_what_kubecluster_does() -> None:
    docs = list(yaml.safe_load_all((REPO / "k8s" / "dask" / "rbac.yaml").read_text()))
    kinds = {d["kind"] for d in docs}
    assert {"ServiceAccount", "Role", "RoleBinding"} <= kinds
    (role,) = [d for d in docs if d["kind"] == "Role"]
    allowed = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    for need in [
        ("kubernetes.dask.org", "daskclusters", "create"),
        ("kubernetes.dask.org", "daskclusters", "get"),
        ("kubernetes.dask.org", "daskclusters", "delete"),
        ("kubernetes.dask.org", "daskworkergroups", "patch"),
        ("", "pods", "get"),
        ("", "services", "get"),
    ]:
        assert need in allowed, need
