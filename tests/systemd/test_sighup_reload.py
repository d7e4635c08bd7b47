"""SIGHUP: the config is parsed and validated again and swapped in only when
valid; a bad one leaves the running config in force and the log says why;
endpoints that exist are not touched."""

import signal

from sd_harness import api, endpoint_config_names

NEW_CONFIG = """\
  - EndpointConfigName: added-by-reload
    ProductionVariants:
      - VariantName: AllTraffic
        ModelName: demo
        InitialInstanceCount: 1
        InstanceType: ml.m5.large
"""


def reload_and_wait(d, notify):
    """SIGHUP, then wait for the READY=1 that ends the reload."""
    start = len(notify.messages)
    d.signal(signal.SIGHUP)
    r = notify.wait_for(lambda m: m.get("RELOADING") == "1", start=start)
    notify.wait_for(lambda m: m.get("READY") == "1", start=r + 1)


def test_reload_adds_a_new_endpoint_config(make_daemon, notify):
    d = make_daemon().start(notify=notify)
    notify.wait_for(lambda m: m.get("READY") == "1")
    assert endpoint_config_names(d.port) == ["demo-config"]
    d.write_config(NEW_CONFIG)
    reload_and_wait(d, notify)
    assert endpoint_config_names(d.port) == ["added-by-reload", "demo-config"]
    assert "reloaded " in d.read_log()


def test_reload_with_a_broken_file_keeps_the_old_config(make_daemon, notify):
    d = make_daemon().start(notify=notify)
    notify.wait_for(lambda m: m.get("READY") == "1")
    d.write_config(NEW_CONFIG + "      - VariantName: [unclosed\n")
    reload_and_wait(d, notify)
    assert endpoint_config_names(d.port) == ["demo-config"]
    log = d.read_log()
    assert "reload refused, keeping the running config" in log
    # file:line:column of what is wrong.
    assert f"{d.config_path}:" in log.split("reload refused", 1)[1].splitlines()[0]
    assert d.proc.poll() is None


def test_reload_with_an_invalid_value_names_it(make_daemon, notify):
    d = make_daemon().start(notify=notify)
    notify.wait_for(lambda m: m.get("READY") == "1")
    d.write_config(NEW_CONFIG.replace("InitialInstanceCount: 1", "InitialInstanceCount: 0"))
    reload_and_wait(d, notify)
    assert endpoint_config_names(d.port) == ["demo-config"]
    line = d.read_log().split("reload refused", 1)[1].splitlines()[0]
    assert "InitialInstanceCount" in line


def test_reload_refuses_to_move_state_dir(make_daemon, notify, workdir):
    d = make_daemon().start(notify=notify)
    notify.wait_for(lambda m: m.get("READY") == "1")
    d.write_config(NEW_CONFIG, state_dir=workdir + "/elsewhere")
    reload_and_wait(d, notify)
    assert endpoint_config_names(d.port) == ["demo-config"]
    assert "state_dir changed" in d.read_log()


def test_reload_leaves_existing_endpoints_alone(make_daemon, notify):
    d = make_daemon().start(notify=notify)
    notify.wait_for(lambda m: m.get("READY") == "1")
    status, body = api(d.port, "CreateEndpoint",
                       {"EndpointName": "kept", "EndpointConfigName": "demo-config"})
    assert status == 200, body
    _, before = api(d.port, "DescribeEndpoint", {"EndpointName": "kept"})
    # The new config no longer has the endpoint's config at all.
    d.write_config(text=d.config_text().split("EndpointConfigs:")[0])
    reload_and_wait(d, notify)
    assert endpoint_config_names(d.port) == []
    status, after = api(d.port, "DescribeEndpoint", {"EndpointName": "kept"})
    assert status == 200
    assert after["EndpointConfigName"] == "demo-config"
    assert after["CreationTime"] == before["CreationTime"]


def test_reload_after_a_refused_one_takes_the_fixed_file(make_daemon, notify):
    d = make_daemon().start(notify=notify)
    notify.wait_for(lambda m: m.get("READY") == "1")
    d.write_config(text="listen: [\n")
    reload_and_wait(d, notify)
    d.write_config(NEW_CONFIG)
    reload_and_wait(d, notify)
    assert endpoint_config_names(d.port) == ["added-by-reload", "demo-config"]
