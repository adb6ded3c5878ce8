"""deploy/: what can be checked without a container engine or a cluster."""

from __future__ import annotations

import json
import pathlib
import shlex

import pytest
import yaml

from dolphin.cli import build_parser

DEPLOY = pathlib.Path(__file__).resolve().parent.parent / "deploy"


def yaml_documents() -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    docs = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        docs.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def check_command(args: list[str]) -> None:
    """A dolphin command line must parse with the real CLI parser."""
    parsed = build_parser().parse_args(args)
    assert parsed.func is not None


def test_yaml_parses_and_has_kinds() -> None:
    kinds = {(name, doc.get("kind")) for name, doc in yaml_documents()}
    assert ("statefulset.yaml", "StatefulSet") in kinds and ("cronjob.yaml", "CronJob") in kinds
    assert ("service.yaml", "Service") in kinds and ("compose.yaml", None) in kinds


def test_dockerfile() -> None:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    entrypoint = json.loads(next(line for line in lines if line.startswith("ENTRYPOINT")).split(" ", 1)[1])
    cmd = json.loads([line for line in lines if line.startswith("CMD")][-1].split(" ", 1)[1])
    check_command(cmd)
    assert entrypoint == ["dolphin"]
    health = next(i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK"))
    probe = json.loads(lines[health + 1].split("CMD", 1)[1].strip())
    check_command(probe[1:])


def test_statefulset_probes_and_ports() -> None:
    sts = next(doc for name, doc in yaml_documents() if doc.get("kind") == "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    ports = {p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        port = container[probe]["grpc"]["port"]
        assert isinstance(port, int) and port in ports
    args = container["args"]
    assert str(container["readinessProbe"]["grpc"]["port"]) == args[args.index("--health-port") + 1]
    check_command(args)
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("kind", ["CronJob", "compose"])
def test_job_commands_parse(kind: str) -> None:
    if kind == "CronJob":
        job = next(doc for _, doc in yaml_documents() if doc.get("kind") == "CronJob")
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        check_command(job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"])
    else:
        compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
        for service in compose["services"].values():
            check_command(service["command"])


def test_cron_and_systemd_commands() -> None:
    line = next(x for x in (DEPLOY / "cron" / "crontab").read_text().splitlines() if x and not x.startswith("#"))
    check_command(shlex.split(line)[6:])
    for unit in ("dolphin-load.service", "dolphin.service"):
        exec_start = next(x for x in (DEPLOY / "cron" / unit).read_text().splitlines() if x.startswith("ExecStart="))
        check_command(shlex.split(exec_start.split("=", 1)[1])[1:])
    assert "Persistent=true" in (DEPLOY / "cron" / "dolphin-load.timer").read_text()


def test_kubernetes_manifests_validate() -> None:
    import shutil
    import subprocess
    import sys

    tool = shutil.which("kubernetes-validate", path=str(pathlib.Path(sys.executable).parent))
    assert tool, "kubernetes-validate is installed by the dev extra"
    result = subprocess.run([tool, "-k", "1.30.0", "--strict", *map(str, sorted((DEPLOY / "k8s").glob("*.yaml")))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") + result.stderr.count("passed") == 5


def test_ray_cluster_launcher_config_validates() -> None:
    """deploy/ray/cluster.yaml against Ray's own cluster-config schema (what `ray up` checks first)."""
    pytest.importorskip("ray")
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((DEPLOY / "ray" / "cluster.yaml").read_text())
    validate_config(prepare_config(config))  # `ray up`'s own steps: fill defaults, then the JSON schema
    assert config["provider"]["type"] == "local"
    assert any("dolphin-audience[cluster]" in c for c in config["setup_commands"])
    header = " ".join(line.lstrip("# ").rstrip("\\ ") for line in (DEPLOY / "ray" / "cluster.yaml").read_text()
                      .splitlines() if line.startswith("#"))
    commands = [part.split("'")[0] for part in header.split("'dolphin ")[1:]]  # what the header says to run
    assert len(commands) == 2
    for command in commands:
        check_command(shlex.split(command))


def raycluster() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((DEPLOY / "ray" / "raycluster.yaml").read_text())  # type: ignore[no-any-return]


def test_raycluster_pod_templates_validate(tmp_path: pathlib.Path) -> None:
    """KubeRay's CRD schema is not available offline, so its pod templates are validated as Pods."""
    import shutil
    import subprocess
    import sys

    spec = raycluster()["spec"]
    templates = [spec["headGroupSpec"]["template"], *(g["template"] for g in spec["workerGroupSpecs"])]
    for i, template in enumerate(templates):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i}", **template["metadata"]},
               "spec": template["spec"]}
        (tmp_path / f"pod-{i}.yaml").write_text(yaml.safe_dump(pod))
    tool = shutil.which("kubernetes-validate", path=str(pathlib.Path(sys.executable).parent))
    assert tool
    result = subprocess.run([tool, "-k", "1.30.0", "--strict", *map(str, sorted(tmp_path.glob("*.yaml")))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_raycluster_runs_the_front_on_the_head() -> None:
    doc = raycluster()
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayCluster"
    spec = doc["spec"]
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    script = head["lifecycle"]["postStart"]["exec"]["command"][2]
    command = shlex.split(script.split("nohup ", 1)[1].split(" >", 1)[0])
    assert command[:3] == ["dolphin", "cluster", "serve"] and "--ray-address" in command
    check_command(command[1:])
    assert str(head["readinessProbe"]["grpc"]["port"]) == command[command.index("--health-port") + 1]
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        mounts = {m["mountPath"] for m in group["template"]["spec"]["containers"][0]["volumeMounts"]}
        assert "/data" in mounts  # shards read the same data root as the front
