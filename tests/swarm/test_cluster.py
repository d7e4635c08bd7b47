"""What the Swarm backend relies on, shown on a real multi-node swarm.

Raw Engine API calls against the cluster of conftest.py (node 1 the manager
without GPUs, nodes 2 and 3 with two and one fake NVIDIA-GPU): placement by
generic resources, the scheduler's own words for a service nobody can hold,
a task on another node reached from the host at node address and published
port, and what a crashed node's engine does to its node and task records.
The node crash runs last: it takes a node away for a while.
"""

import http.client
import json
import subprocess
import threading
import time

import pytest

from conftest import FINDINGS, record, wait_until

PORT_FIXED = 18081
LABEL = "io.endpointd.test"


def service_spec(name, image, port=None, gpus=0, replicas=1, nano_cpus=0, constraints=()):
    """A replicated service as the backend will make one: host-mode port (the
    node's engine picks it unless `port` is given), no routing mesh (dnsrr),
    GPUs as generic resources, Swarm's restarts off."""
    published = {"Protocol": "tcp", "TargetPort": 8080, "PublishMode": "host"}
    if port:
        published["PublishedPort"] = port
    reservations = {}
    if gpus:
        reservations["GenericResources"] = [
            {"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": gpus}}]
    if nano_cpus:
        reservations["NanoCPUs"] = nano_cpus
    return {
        "Name": name,
        "Labels": {LABEL: "1"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": image, "Labels": {LABEL: "1"}},
            "Resources": {"Reservations": reservations} if reservations else {},
            "Placement": {"Constraints": list(constraints)},
            "RestartPolicy": {"Condition": "none"},
        },
        "Mode": {"Replicated": {"Replicas": replicas}},
        "EndpointSpec": {"Mode": "dnsrr", "Ports": [published]},
    }


def running_tasks(cluster, service, count, timeout=60):
    """The service's tasks once `count` of them are running."""
    def ready():
        tasks = [t for t in cluster.manager.tasks(service) if t["DesiredState"] == "running"]
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        return running if len(running) >= count else None
    return wait_until(ready, timeout, what=f"{count} running task(s) of {service}")


def http_call(address, port, method, path, body=None, timeout=3):
    """(status, body) of one request from the host, or None when nothing answers."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        headers = {"Content-Type": "text/plain"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    except OSError:
        return None
    finally:
        conn.close()


@pytest.fixture
def service(cluster, demo_image):
    """Makes services on the manager and removes them after the test."""
    made = []

    def make(name, **kw):
        made.append(cluster.manager.create_service(service_spec(name, demo_image, **kw)))
        return made[-1]

    yield make
    for sid in made:
        cluster.manager.remove_service(sid)


def test_every_node_has_the_demo_image(cluster, demo_image):
    for node in cluster.nodes:
        status, _ = node.engine.request("GET", f"/images/{demo_image}/json")
        assert status == 200, f"node {node.number} lacks {demo_image}"


def test_nodes_advertise_their_namespace_address_gpus_and_labels(cluster):
    for node in cluster.nodes:
        n = cluster.manager.node(node.id)
        assert n["Status"]["State"] == "ready"
        assert n["Status"]["Addr"] == node.address
        advertised = sorted(r["NamedResourceSpec"]["Value"]
                            for r in n["Description"]["Resources"].get("GenericResources") or []
                            if r.get("NamedResourceSpec", {}).get("Kind") == "NVIDIA-GPU")
        assert advertised == sorted(node.gpus)
        assert n["Spec"]["Labels"]["endpointd.test.node"] == str(node.number)
        assert n["Spec"]["Labels"]["endpointd.test.gpu"] == ("true" if node.gpus else "false")
    record("node_description_resources_example",
           cluster.manager.node(cluster.nodes[1].id)["Description"]["Resources"])


def test_gpu_service_lands_only_on_nodes_with_a_free_gpu(cluster, service):
    sid = service("gpu-spread", gpus=1, replicas=3)
    tasks = running_tasks(cluster, sid, 3)
    gpu_nodes = {n.id for n in cluster.nodes if n.gpus}
    assert {t["NodeID"] for t in tasks} <= gpu_nodes
    # Each task holds one of its own node's GPU IDs, and no two share one.
    held = []
    for t in tasks:
        ids = [r["NamedResourceSpec"]["Value"] for r in t.get("AssignedGenericResources") or
               t.get("GenericResources") or []]
        node = cluster.node_by_id(t["NodeID"])
        assert len(ids) == 1 and ids[0] in node.gpus
        held += ids
        # The engine hands the ID to the container as DOCKER_RESOURCE_<KIND>.
        cid = t["Status"]["ContainerStatus"]["ContainerID"]
        env = node.engine.ok("GET", f"/containers/{cid}/json")["Config"]["Env"]
        assert f"DOCKER_RESOURCE_NVIDIA-GPU={ids[0]}" in env
    assert len(set(held)) == 3
    record("task_gpu_field", "GenericResources" if "GenericResources" in tasks[0] else "AssignedGenericResources")


def host_port(task):
    """The port the task's node published 8080/tcp on (Status.PortStatus)."""
    ports = {(p["PublishMode"], p["TargetPort"], p["PublishedPort"])
             for p in task["Status"]["PortStatus"]["Ports"]}
    assert len(ports) == 1, f"one published port expected: {ports}"
    mode, target, published = ports.pop()
    assert (mode, target) == ("host", 8080) and 0 < published < 65536
    return published


def test_fixed_host_port_holds_one_task_per_node_the_rest_pending(cluster, service):
    sid = service("gpu-fixed-port", port=PORT_FIXED, gpus=1, replicas=3)
    running_tasks(cluster, sid, 2)

    def explained():
        pending = [t for t in cluster.manager.tasks(sid) if t["Status"]["State"] == "pending"
                   and t["Status"].get("Err")]
        return pending[0] if pending else None

    task = wait_until(explained, 30, what="the third task pending with a reason")
    record("fixed_port_pending_status", {k: task["Status"].get(k) for k in ("State", "Message", "Err")})
    assert "host-mode port already in use" in task["Status"]["Err"]


def test_service_wanting_more_gpus_than_any_node_has_stays_pending_with_the_schedulers_reason(
        cluster, service):
    sid = service("gpu-too-big", gpus=3)

    def explained():
        tasks = cluster.manager.tasks(sid)
        return tasks if tasks and tasks[0]["Status"].get("Err") else None

    tasks = wait_until(explained, 30, what="the scheduler's reason on the pending task")
    status = tasks[0]["Status"]
    assert status["State"] == "pending"
    assert status["Err"].startswith("no suitable node (insufficient resources on ")
    assert "NodeID" not in tasks[0] or not tasks[0]["NodeID"]
    record("unplaceable_task_status", {k: status.get(k) for k in ("State", "Message", "Err")})
    # It stays so: the scheduler keeps it pending rather than failing it.
    time.sleep(2)
    again = cluster.manager.tasks(sid)
    assert len(again) == 1 and again[0]["Status"]["State"] == "pending"


def test_cpu_reservation_beyond_every_node_stays_pending_with_the_schedulers_reason(
        cluster, service):
    most = max(cluster.manager.node(n.id)["Description"]["Resources"]["NanoCPUs"]
               for n in cluster.nodes)
    sid = service("cpu-too-big", nano_cpus=most + 1_000_000_000)

    def explained():
        tasks = cluster.manager.tasks(sid)
        return tasks if tasks and tasks[0]["Status"].get("Err") else None

    status = wait_until(explained, 30, what="the scheduler's reason")[0]["Status"]
    assert status["State"] == "pending"
    assert status["Err"].startswith("no suitable node (insufficient resources on ")
    record("cpu_unplaceable_task_status", {k: status.get(k) for k in ("State", "Message", "Err")})


def test_constraint_on_a_node_label_puts_the_task_on_that_node(cluster, service):
    target = cluster.nodes[-1]
    sid = service("pinned", constraints=[f"node.labels.endpointd.test.node=={target.number}"])
    assert running_tasks(cluster, sid, 1)[0]["NodeID"] == target.id


def test_constraint_no_node_meets_stays_pending_with_the_schedulers_reason(cluster, service):
    sid = service("pinned-nowhere", constraints=["node.labels.endpointd.test.node==99"])

    def explained():
        tasks = cluster.manager.tasks(sid)
        return tasks if tasks and tasks[0]["Status"].get("Err") else None

    status = wait_until(explained, 30, what="the scheduler's reason")[0]["Status"]
    assert status["State"] == "pending"
    assert status["Err"].startswith("no suitable node (scheduling constraints not satisfied on ")
    record("constraint_unplaceable_task_status",
           {k: status.get(k) for k in ("State", "Message", "Err")})


def test_task_on_another_node_answers_ping_and_invocations_at_node_address(cluster, service):
    sid = service("invoke", gpus=1)
    task = running_tasks(cluster, sid, 1)[0]
    node = cluster.node_by_id(task["NodeID"])
    assert node.role != "manager", "a GPU task landed on the manager, which has no GPU"
    port = host_port(task)
    record("task_port_status", task["Status"]["PortStatus"]["Ports"])

    assert wait_until(lambda: http_call(node.address, port, "GET", "/ping"), 20,
                      what="/ping at the node address") == (200, b"ok")
    status, body = http_call(node.address, port, "POST", "/invocations", b"hello")
    assert status == 200
    reply = json.loads(body)
    assert reply["length"] == 5
    # The request came from the host's end of the cluster link, nowhere else.
    assert reply["peer"] == cluster.host_address


def test_traffic_stays_on_the_clusters_own_link_and_namespaces(cluster):
    ip = ["ip", "-4", "-o"]
    for node in cluster.nodes:
        route = subprocess.run(ip + ["route", "get", node.address], capture_output=True,
                               text=True, check=True).stdout
        assert f"dev {cluster.host_link} " in route and f"src {cluster.host_address}" in route
        routes = subprocess.run(ip + ["-n", node.netns, "route", "show"], capture_output=True,
                                text=True, check=True).stdout
        assert "default" not in routes
        assert f"{cluster.subnet} dev eth0" in routes
        # Beyond the subnet (and the engine's own bridges) nothing is reachable.
        out = subprocess.run(ip + ["-n", node.netns, "route", "get", "203.0.113.1"],
                             capture_output=True, text=True)
        assert out.returncode != 0 and "unreachable" in out.stderr
    host_routes = subprocess.run(ip + ["route", "show", "dev", cluster.host_link],
                                 capture_output=True, text=True, check=True).stdout.splitlines()
    assert [r.split()[0] for r in host_routes] == [cluster.subnet]


class _NodeEvents(threading.Thread):
    """Collects the manager's node events with their arrival times."""

    def __init__(self, engine, since):
        super().__init__(daemon=True)
        self.conn, self.resp = engine.events({"type": ["node"]}, since)
        self.seen = []

    def run(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                self.seen.append((time.monotonic(), json.loads(line)))
        except Exception:  # noqa: BLE001 - closed under it by close(): the end
            return

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def test_crashed_node_goes_down_its_task_is_shut_down_not_replaced_and_keeps_serving(
        cluster, service):
    sid = service("crash", gpus=1)
    task = running_tasks(cluster, sid, 1)[0]
    node = cluster.node_by_id(task["NodeID"])
    port = host_port(task)
    assert node.role != "manager"
    assert wait_until(lambda: http_call(node.address, port, "GET", "/ping"), 20,
                      what="/ping before the crash")[0] == 200

    events = _NodeEvents(cluster.manager, time.time())
    events.start()
    t0 = time.monotonic()
    cluster.run("kill", str(node.number))
    killed = time.monotonic() - t0

    marks = {}
    history = []

    def observe():
        n = cluster.manager.node(node.id)
        t = next(x for x in cluster.manager.tasks(sid) if x["ID"] == task["ID"])
        now = time.monotonic() - t0
        seen = [n["Status"]["State"], t["DesiredState"], t["Status"]["State"],
                t["Status"].get("Message"), t["Status"].get("Err")]
        if not history or history[-1][1:] != seen:
            history.append([round(now, 2)] + seen)
        if n["Status"]["State"] != "ready":
            marks.setdefault("node_not_ready_s", now)
            marks.setdefault("node_status", n["Status"])
        if t["DesiredState"] != "running":
            marks.setdefault("task_desired_state_changed_s", now)
            marks.setdefault("task_after", {"DesiredState": t["DesiredState"],
                                            "Status": {k: t["Status"].get(k) for k in
                                                       ("State", "Message", "Err")}})
        return n["Status"]["State"] == "down" and t["DesiredState"] != "running"

    wait_until(observe, 60, interval=0.1, what="the node down and its task leaving")
    down_at = time.monotonic() - t0

    # Restart policy "none": Swarm leaves the slot empty, the backend decides.
    # The container outlives its engine: /ping still answers at the node.
    # Status.State is not to be trusted here: it stays "running" (the node
    # cannot report) or turns "rejected" by the constraint enforcer, by race.
    end = time.monotonic() + 5
    while time.monotonic() < end:
        observe()
        time.sleep(0.2)
    tasks = cluster.manager.tasks(sid)
    still_serving = http_call(node.address, port, "GET", "/ping")
    record("crash_history [t_s, node, task desired, task state, message, err]", history)
    record("crashed_node_status", marks["node_status"])
    record("crashed_task_after", marks["task_after"])
    record("crash_timings", {
        "heartbeat": cluster.env.get("heartbeat"),
        "kill_returned_s": round(killed, 2),
        "node_not_ready_s": round(marks["node_not_ready_s"], 2),
        "task_desired_state_changed_s": round(marks["task_desired_state_changed_s"], 2),
        "both_seen_s": round(down_at, 2),
    })
    assert [t["ID"] for t in tasks] == [task["ID"]]
    assert marks["node_status"]["State"] == "down"
    assert marks["task_after"]["DesiredState"] == "shutdown"
    assert still_serving == (200, b"ok")

    t1 = time.monotonic()
    cluster.run("restart", str(node.number))
    wait_until(lambda: cluster.manager.node(node.id)["Status"]["State"] == "ready", 60,
               what="the node Ready again")
    ready_again = time.monotonic() - t1
    gone = wait_until(lambda: http_call(node.address, port, "GET", "/ping", timeout=1) is None,
                      30, what="the old container to stop")
    time.sleep(1)
    final = next(x for x in cluster.manager.tasks(sid) if x["ID"] == task["ID"])
    events.close()
    node_events = [(round(t - t0, 2), e["Action"], e["Actor"]["Attributes"])
                   for t, e in events.seen if e["Actor"]["ID"] == node.id]
    assert gone
    record("crash_timings", {**FINDINGS["crash_timings"], "restart_to_ready_s": round(ready_again, 2)})
    record("crashed_task_final", {"DesiredState": final["DesiredState"],
                                  "Status": {k: final["Status"].get(k)
                                             for k in ("State", "Message", "Err")}})
    record("crash_node_events", node_events)
    record("replacement_tasks_with_restart_none", len(tasks) - 1)
