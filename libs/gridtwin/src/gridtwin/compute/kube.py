"""The ``DaskCluster`` resource GridTwin asks the dask-kubernetes operator for.

Built with the operator's own ``make_cluster_spec`` and then hardened: workers get the ``GRIDTWIN_*``
environment they need (the data directory on a shared PersistentVolumeClaim, where profiles are read
and result files written), one thread each (OpenDSS contexts are single-threaded), and a locked-down
security context (non-root, read-only root filesystem with an ``emptyDir`` at ``/tmp``, no
capabilities). ``k8s/dask/daskcluster-example.yaml`` is this function's output for default settings.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from gridtwin.config.settings import Settings
from gridtwin.errors import ErrorDetail, InputError

__all__ = ["example_yaml", "make_kube_cluster_spec", "worker_env"]

DATA_VOLUME = "gridtwin-data"
TMP_VOLUME = "tmp"
RUN_AS_UID = 1000

# Scheduler needs far less than a worker; the operator's helper gives both the same resources.
SCHEDULER_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "2Gi"},
}

POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS_UID,
    "runAsGroup": RUN_AS_UID,
    "fsGroup": RUN_AS_UID,  # the shared data volume must be writable by the worker user
    "seccompProfile": {"type": "RuntimeDefault"},
}

CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
}


def worker_env(settings: Settings) -> dict[str, str]:
    """Environment of scheduler and worker pods: what ``gridtwin.compute.qsts_task`` reads on a worker."""
    return {
        "GRIDTWIN_DATA_DIR": settings.dask_data_mount,
        "GRIDTWIN_LOG_LEVEL": settings.log_level,
        # One solver thread per worker process: numeric libraries must not oversubscribe the pod's CPU.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # Read-only root filesystem: everything temporary (dask spill, OpenDSS engine dirs) under /tmp.
        "TMPDIR": "/tmp",  # nosec B108  # the pod's own emptyDir (_harden_pod), shared with no one
        "HOME": "/tmp",  # nosec B108  # the pod's own emptyDir, as TMPDIR
        "DASK_TEMPORARY_DIRECTORY": "/tmp/dask",  # nosec B108  # the pod's own emptyDir, as TMPDIR
        # Workers must spawn fresh interpreters (OpenDSS state must never be forked).
        "DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD": "spawn",
    }


def _harden_pod(pod: dict[str, Any], settings: Settings, *, data: bool) -> None:
    pod["securityContext"] = copy.deepcopy(POD_SECURITY)
    pod["automountServiceAccountToken"] = False  # dask pods never talk to the Kubernetes API
    volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]  # nosec B108  # pod's emptyDir
    if data:
        volumes.append({"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": settings.dask_data_pvc}})
        mounts.append({"name": DATA_VOLUME, "mountPath": settings.dask_data_mount})
    pod["volumes"] = volumes
    for container in pod["containers"]:
        container["securityContext"] = copy.deepcopy(CONTAINER_SECURITY)
        container["volumeMounts"] = copy.deepcopy(mounts)
        container["imagePullPolicy"] = "IfNotPresent"


def make_kube_cluster_spec(settings: Settings, *, n_workers: int | None = None) -> dict[str, Any]:
    """The ``DaskCluster`` resource (a dict) for ``KubeCluster(custom_cluster_spec=...)``."""
    from dask_kubernetes.exceptions import ValidationError
    from dask_kubernetes.operator import make_cluster_spec
    from dask_kubernetes.operator.validation import validate_cluster_name

    name = settings.dask_cluster_name
    try:
        validate_cluster_name(name)
    except ValidationError as exc:
        raise InputError(
            "invalid Dask cluster name", [ErrorDetail(where="GRIDTWIN_DASK_CLUSTER_NAME", message=str(exc))]
        ) from exc
    workers = n_workers or settings.dask_workers or 2
    worker_resources = {
        "requests": {"cpu": settings.dask_worker_cpu, "memory": settings.dask_worker_memory},
        "limits": {"memory": settings.dask_worker_memory},
    }
    spec: dict[str, Any] = make_cluster_spec(
        name=name,
        image=settings.dask_image,
        n_workers=workers,
        resources=worker_resources,
        env=worker_env(settings),
        # One single-threaded worker per pod; dask reads the pod's memory limit from its cgroup.
        worker_command="dask worker --nthreads 1 --local-directory /tmp/dask",
    )
    if settings.dask_namespace:
        spec["metadata"]["namespace"] = settings.dask_namespace
    labels = {"app.kubernetes.io/part-of": "gridtwin", "app.kubernetes.io/component": "qsts-workers"}
    spec["metadata"]["labels"] = labels
    worker = spec["spec"]["worker"]
    worker["metadata"] = {"labels": dict(labels)}
    _harden_pod(worker["spec"], settings, data=True)
    scheduler = spec["spec"]["scheduler"]
    scheduler["metadata"] = {"labels": {**labels, "app.kubernetes.io/component": "qsts-scheduler"}}
    scheduler["spec"]["containers"][0]["resources"] = copy.deepcopy(SCHEDULER_RESOURCES)
    _harden_pod(scheduler["spec"], settings, data=False)  # the scheduler never reads data files
    return spec


def example_yaml(settings: Settings | None = None) -> str:
    """The YAML written to ``k8s/dask/daskcluster-example.yaml`` (default settings, 4 workers)."""
    # Defaults only (model_construct reads no environment): the example must not depend on the caller.
    chosen = settings or Settings.model_construct()
    header = (
        "# Generated by gridtwin.compute.kube.example_yaml() -- do not edit by hand.\n"
        "# Regenerate: uv run python -m gridtwin.compute.kube > k8s/dask/daskcluster-example.yaml\n"
    )
    return header + yaml.safe_dump(make_kube_cluster_spec(chosen, n_workers=4), sort_keys=False)


if __name__ == "__main__":  # regeneration helper
    import sys

    sys.stdout.write(example_yaml())
