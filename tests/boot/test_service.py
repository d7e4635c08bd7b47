"""endpointd as installed, under a real systemd, with the real unit files."""

import json
import os
import re

from aws_cli import aws, invoke
from conftest import wait_active
from endpointd_harness import wait_until

# What systemd-analyze security may rate the unit at most (README, endpointd(8)).
EXPOSURE_MAX = 2.0


def test_service_is_ready_with_a_status_line(machine):
    p = machine.show("endpointd.service", "ActiveState", "SubState", "StatusText", "Type")
    assert p["ActiveState"] == "active" and p["SubState"] == "running", p
    assert p["Type"] == "notify"
    assert re.fullmatch(r"\d+ InService, \d+ Creating, \d+ Failed", p["StatusText"]), p


def test_socket_unit_hands_its_port_to_the_daemon(machine):
    assert machine.show("endpointd.socket", "ActiveState")["ActiveState"] == "active"
    log = machine.unit_log()
    assert any("serving 1 socket-activated listener" in m for m in log), log[-20:]


def test_endpoint_goes_in_service_and_invocations_go_through_the_dialer(machine, demo_endpoint):
    d = aws(machine.port, "sagemaker", "describe-endpoint", "--endpoint-name", demo_endpoint)
    assert d["EndpointStatus"] == "InService"
    meta, body = invoke(machine.port, demo_endpoint, b'{"x": 1}',
                        os.path.join(machine.run_dir, "invoke.out"))
    assert meta["InvokedProductionVariant"] == "AllTraffic"
    echo = json.loads(body)
    # The demo model reports where the call came from: the container's own
    # loopback through endpointd-dialer, not docker-proxy's bridge address.
    assert echo["peer"] == "127.0.0.1", echo


def test_status_line_counts_the_endpoint(machine, demo_endpoint):
    def counted():
        text = machine.show("endpointd.service", "StatusText")["StatusText"]
        return int(text.split(" InService")[0]) >= 1
    wait_until(counted, 10, what="STATUS= counting the endpoint")


def test_reload_takes_a_good_config(machine, api):
    pid = machine.main_pid()
    cursor = machine.journal_cursor()
    extra = os.path.join(machine.config_dir, "conf.d", "reload-extra.yaml")
    machine.write(extra, """\
EndpointConfigs:
  - EndpointConfigName: reloaded-config
    ProductionVariants:
      - { VariantName: AllTraffic, ModelName: demo, InitialInstanceCount: 1,
          InstanceType: ml.t2.medium }
""")
    try:
        machine.systemctl("reload", "endpointd.service")
        wait_until(lambda: any("reloaded" in m for m in machine.unit_log(cursor)), 10,
                   what="the reload")
        assert machine.main_pid() == pid
        d = api.ok("DescribeEndpointConfig", {"EndpointConfigName": "reloaded-config"})
        assert d["ProductionVariants"][0]["ModelName"] == "demo"
    finally:
        machine.remove(extra)
        machine.systemctl("reload", "endpointd.service")


def test_reload_refuses_a_bad_config_and_keeps_serving(machine, api, demo_endpoint):
    pid = machine.main_pid()
    cursor = machine.journal_cursor()
    bad = os.path.join(machine.config_dir, "conf.d", "reload-bad.yaml")
    machine.write(bad, "Models:\n  - ModelName: [unclosed\n")
    try:
        machine.systemctl("reload", "endpointd.service")
        wait_until(lambda: any("reload refused" in m for m in machine.unit_log(cursor)), 10,
                   what="the refusal")
        refusal = [m for m in machine.unit_log(cursor) if "reload refused" in m][0]
        assert re.search(r"reload-bad\.yaml:\d+:\d+", refusal), refusal
        p = machine.show("endpointd.service", "ActiveState", "MainPID")
        assert p["ActiveState"] == "active" and int(p["MainPID"]) == pid
        assert api.ok("DescribeEndpoint", {"EndpointName": demo_endpoint})[
            "EndpointStatus"] == "InService"
    finally:
        machine.remove(bad)
        machine.systemctl("reload", "endpointd.service")


def test_journal_records_carry_endpoint_and_request_id_fields(machine, api):
    name = "boot-failing"
    api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "boot-failing-config"})
    try:
        api.wait_in_service(name)
        r = api.raw(b"{}", content_type="application/json",
                    path=f"/endpoints/{name}/invocations")
        assert r.status == 424, r
        request_id = r.headers["x-amzn-requestid"]
        records = machine.journal("-u", "endpointd.service")

        def has(**fields):
            return any(all(rec.get(k) == v for k, v in fields.items()) for rec in records)
        assert has(ENDPOINT=name), "no record with ENDPOINT=" + name
        assert has(REQUEST_ID=request_id, ENDPOINT=name), \
            "no record of the failed call with REQUEST_ID=" + request_id
    finally:
        api.ok("DeleteEndpoint", {"EndpointName": name})
        api.wait_gone(name)


def test_hardening_exposure_stays_low(machine):
    r = machine.run("systemd-analyze", "security", "--no-pager", "endpointd.service")
    m = re.search(r"Overall exposure level for endpointd\.service: (\d+(?:\.\d+)?)", r.stdout)
    assert m, r.stdout[-2000:]
    assert float(m.group(1)) <= EXPOSURE_MAX, r.stdout


def test_sigterm_leaves_the_containers_and_the_next_start_adopts_them(machine, api, docker,
                                                                      demo_endpoint):
    before = [c["Id"] for c in docker.endpoint_containers(demo_endpoint, all=False)]
    assert before
    cursor = machine.journal_cursor()
    machine.systemctl("stop", "endpointd.service")
    assert machine.show("endpointd.service", "ActiveState")["ActiveState"] == "inactive"
    # Stopped by SIGTERM, not killed at the timeout.
    assert machine.show("endpointd.service", "Result")["Result"] == "success"
    assert [c["Id"] for c in docker.endpoint_containers(demo_endpoint, all=False)] == before
    machine.systemctl("start", "endpointd.service")
    d = api.wait_in_service(demo_endpoint)
    assert d["EndpointStatus"] == "InService"
    assert [c["Id"] for c in docker.endpoint_containers(demo_endpoint, all=False)] == before
    assert any("adopted" in m for m in machine.unit_log(cursor))


def test_watchdog_restarts_a_stuck_daemon_which_adopts_its_containers(machine, api, docker,
                                                                     demo_endpoint):
    before = [c["Id"] for c in docker.endpoint_containers(demo_endpoint, all=False)]
    machine.dropin("endpointd.service", "20-watchdog", "[Service]\nWatchdogSec=2s\n")
    machine.systemctl("daemon-reload")
    machine.systemctl("restart", "endpointd.service")
    try:
        pid = machine.main_pid()
        cursor = machine.journal_cursor()
        machine.systemctl("kill", "--kill-whom=main", "--signal=SIGSTOP", "endpointd.service")
        wait_active(machine, pid_not=pid, timeout=30)
        log = machine.unit_log(cursor)
        assert any("Watchdog timeout" in m for m in log), log[-20:]
        assert api.wait_in_service(demo_endpoint)["EndpointStatus"] == "InService"
        assert [c["Id"] for c in docker.endpoint_containers(demo_endpoint, all=False)] == before
    finally:
        machine.remove("/etc/systemd/system/endpointd.service.d/20-watchdog.conf")
        machine.systemctl("daemon-reload")
        machine.systemctl("restart", "endpointd.service")


def test_a_daemon_killed_by_a_signal_is_restarted(machine, api, demo_endpoint):
    pid = machine.main_pid()
    machine.systemctl("kill", "--kill-whom=main", "--signal=SIGKILL", "endpointd.service")
    wait_active(machine, pid_not=pid, timeout=30)
    assert api.wait_in_service(demo_endpoint)["EndpointStatus"] == "InService"
