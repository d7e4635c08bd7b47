"""Models, endpoint configs and their tags created through the API, across
kill -9, SIGTERM restarts and SIGHUP reloads of the daemon (each test on a
daemon of its own, restarted on the same state_dir).

A YAML that comes to declare a name the API holds is refused: by a reload
(the running config stays), and by a restart (the daemon does not start,
and says which name and where).
"""

import os
import shutil
import signal
import time

import endpointd_harness as h
from endpointd_harness import INSTANCE_TYPE, endpoint_config_arn, model_arn
from recovery_helpers import RESTART_READY_S, wait_for
from test_invoke_support import invoke

ROLE = "arn:aws:iam::123456789012:role/endpointd-test"
MODEL = "api-model"
CONFIG = "api-config"
RELOAD_S = 10


def create_model(api, demo_image, name=MODEL, tags=None):
    doc = {"ModelName": name, "PrimaryContainer": {"Image": demo_image, "Environment": {"DEMO_START_DELAY_MS": "0"}},
           "ExecutionRoleArn": ROLE}
    if tags:
        doc["Tags"] = tags
    return api.ok("CreateModel", doc)


def create_config(api, name=CONFIG, model=MODEL, tags=None):
    doc = {"EndpointConfigName": name, "ProductionVariants": [{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
        "InstanceType": INSTANCE_TYPE, "ContainerStartupHealthCheckTimeoutInSeconds": h.STARTUP_TIMEOUT_S}]}
    if tags:
        doc["Tags"] = tags
    return api.ok("CreateEndpointConfig", doc)


def snapshot(api):
    """What the API says of MODEL and CONFIG and their tags."""
    return {
        "model": api.ok("DescribeModel", {"ModelName": MODEL}),
        "config": api.ok("DescribeEndpointConfig", {"EndpointConfigName": CONFIG}),
        "model_tags": api.ok("ListTags", {"ResourceArn": model_arn(MODEL)})["Tags"],
        "config_tags": api.ok("ListTags", {"ResourceArn": endpoint_config_arn(CONFIG)})["Tags"],
    }


def made_through_the_api(api, demo_image):
    create_model(api, demo_image, tags=[{"Key": "team", "Value": "search"}])
    create_config(api, tags=[{"Key": "stage", "Value": "prod"}])
    api.ok("AddTags", {"ResourceArn": model_arn(MODEL), "Tags": [{"Key": "added", "Value": "later"}]})
    return snapshot(api)


def yaml_model(name, demo_image):
    """The daemon's extra YAML with one more model, of name."""
    return (f"  - ModelName: {name}\n"
            "    PrimaryContainer:\n"
            f"      Image: {demo_image}\n")


def declare_in_extra_yaml(d, name, demo_image):
    """d's extra YAML (written at each start) declares model name too."""
    d.extra_yaml = d.extra_yaml.replace("Models:\n", "Models:\n" + yaml_model(name, demo_image), 1)


def start_refused(d, what):
    """Start d (same state_dir) and insist that it does not come up: its
    exit status and what it logged."""
    since = d.log_size()
    try:
        h.Daemon.start(d, attempts=1)
    except RuntimeError:
        pass
    else:
        raise AssertionError(f"endpointd started although its YAML declares {what}")
    rc = d.proc.wait(RESTART_READY_S)
    return rc, d.log_tail(since)


def sighup(d, until):
    """SIGHUP; wait for a log line with `until`; the log since."""
    since = d.log_size()
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: until in d.log_tail(since), RELOAD_S, f"{until!r} in the log after SIGHUP",
             report=lambda: d.log_tail(since))
    return d.log_tail(since)


def test_api_models_configs_and_tags_survive_kill_9(make_daemon, demo_image):
    d = make_daemon()
    before = made_through_the_api(d.api, demo_image)
    d.kill()
    d.start()
    assert snapshot(d.api) == before


def test_api_models_configs_and_tags_survive_a_sigterm_restart(make_daemon, demo_image):
    d = make_daemon()
    before = made_through_the_api(d.api, demo_image)
    assert d.term() == 0
    d.start()
    assert snapshot(d.api) == before


def test_api_resources_keep_their_creation_time_across_restarts(make_daemon, demo_image):
    d = make_daemon()
    before = made_through_the_api(d.api, demo_image)
    time.sleep(1.1)  # a restart that stamped a new time would show it
    d.kill()
    d.start()
    assert d.term() == 0
    d.start()
    after = snapshot(d.api)
    assert after["model"]["CreationTime"] == before["model"]["CreationTime"]
    assert after["config"]["CreationTime"] == before["config"]["CreationTime"]


def test_restored_api_resources_are_listed_with_the_yaml_ones(make_daemon, demo_image):
    d = make_daemon()
    made_through_the_api(d.api, demo_image)
    d.kill()
    d.start()
    models = [m["ModelName"] for m in d.api.ok("ListModels", {"MaxResults": 100})["Models"]]
    configs = [c["EndpointConfigName"] for c in d.api.ok("ListEndpointConfigs", {"MaxResults": 100})["EndpointConfigs"]]
    assert MODEL in models and "demo" in models and "rec-slow-call" in models
    assert CONFIG in configs and "demo-config" in configs


def test_a_deleted_model_and_config_stay_deleted_after_kill_9(make_daemon, demo_image):
    d = make_daemon()
    made_through_the_api(d.api, demo_image)
    assert d.api.ok("DeleteEndpointConfig", {"EndpointConfigName": CONFIG}) == {}
    assert d.api.ok("DeleteModel", {"ModelName": MODEL}) == {}
    d.kill()
    d.start()
    r = d.api.error("DescribeModel", {"ModelName": MODEL})
    assert r.message == f'Could not find model "{model_arn(MODEL)}".', r
    r = d.api.error("DescribeEndpointConfig", {"EndpointConfigName": CONFIG})
    assert r.message == f'Could not find endpoint configuration "{endpoint_config_arn(CONFIG)}".', r


def test_a_name_deleted_and_created_again_comes_back_as_the_new_one_without_old_tags(make_daemon, demo_image):
    d = make_daemon()
    made_through_the_api(d.api, demo_image)
    d.api.ok("DeleteModel", {"ModelName": MODEL})
    d.api.ok("CreateModel", {"ModelName": MODEL, "PrimaryContainer": {"Image": demo_image}})
    d.kill()
    d.start()
    m = d.api.ok("DescribeModel", {"ModelName": MODEL})
    assert "ExecutionRoleArn" not in m
    assert d.api.ok("ListTags", {"ResourceArn": model_arn(MODEL)})["Tags"] == []


def test_an_endpoint_whose_api_model_and_config_were_deleted_comes_back_in_service_and_serves(make_daemon, demo_image):
    d = make_daemon()
    create_model(d.api, demo_image)
    create_config(d.api)
    d.api.ok("CreateEndpoint", {"EndpointName": "api-made", "EndpointConfigName": CONFIG})
    d.wait_converged("api-made", desired=1)
    d.api.ok("DeleteModel", {"ModelName": MODEL})
    d.api.ok("DeleteEndpointConfig", {"EndpointConfigName": CONFIG})
    d.kill()
    d.start()
    desc = d.wait_converged("api-made", desired=1)
    assert desc["EndpointConfigName"] == CONFIG
    r = invoke(d.api, "api-made", b'{"x": 1}', content_type="application/json")
    assert r.status == 200, r
    d.api.error("DescribeModel", {"ModelName": MODEL})


def test_a_sighup_reload_keeps_api_resources(make_daemon, demo_image):
    d = make_daemon()
    before = made_through_the_api(d.api, demo_image)
    log = sighup(d, "reloaded ")
    assert "reload refused" not in log, log
    assert snapshot(d.api) == before


def test_a_reload_whose_yaml_declares_an_api_model_name_is_refused(make_daemon, demo_image):
    d = make_daemon()
    before = made_through_the_api(d.api, demo_image)
    extra = os.path.join(d.workdir, "conf.d", "extra.yaml")
    with open(extra) as f:
        text = f.read()
    line = text.splitlines().index("Models:") + 2  # the new entry's first line
    with open(extra, "w") as f:
        f.write(text.replace("Models:\n", "Models:\n" + yaml_model(MODEL.upper(), demo_image), 1))
    log = sighup(d, "reload refused")
    assert (f"reload refused, keeping the running config: {extra}:{line}:") in log, log
    # Said at the YAML's line, with the name as the API holds it.
    assert f'ModelName "{MODEL}" is also the name of a model created through the API ' \
           "(names are case-insensitive)" in log, log
    assert "reloaded " not in log, log
    assert d.running()
    assert snapshot(d.api) == before


def test_after_a_refused_reload_the_daemon_keeps_serving_the_old_config(make_daemon, demo_image):
    d = make_daemon()
    made_through_the_api(d.api, demo_image)
    extra = os.path.join(d.workdir, "conf.d", "extra.yaml")
    with open(extra) as f:
        text = f.read()
    with open(extra, "w") as f:
        f.write(text.replace("Models:\n", "Models:\n" + yaml_model(MODEL, demo_image), 1)
                    .replace("ModelName: rec-slow-call", "ModelName: rec-renamed"))
    sighup(d, "reload refused")
    # The old YAML is still in force: its model, and not the new file's.
    assert d.api.ok("DescribeModel", {"ModelName": "rec-slow-call"})["ModelName"] == "rec-slow-call"
    d.api.error("DescribeModel", {"ModelName": "rec-renamed"})
    # And the API still changes it.
    create_model(d.api, demo_image, name="api-model-2")
    assert d.api.ok("DescribeModel", {"ModelName": "api-model-2"})["ModelName"] == "api-model-2"


def test_a_restart_whose_yaml_declares_an_api_model_name_fails_naming_both(make_daemon, demo_image):
    d = make_daemon()
    made_through_the_api(d.api, demo_image)
    assert d.term() == 0
    declare_in_extra_yaml(d, MODEL, demo_image)
    rc, log = start_refused(d, "a model the API created")
    extra = os.path.join(d.workdir, "conf.d", "extra.yaml")
    assert rc == 1, f"exit status {rc}: {log}"
    assert (f"{d.state_dir}/journal: the models and endpoint configs created through the API "
            f"no longer fit {d.config_path}: {extra}:") in log, log
    assert f'ModelName "{MODEL}" is also the name of a model created through the API' in log, log


def yaml_config(name):
    return (f"  - EndpointConfigName: {name}\n"
            "    ProductionVariants:\n"
            "      - VariantName: AllTraffic\n"
            "        ModelName: demo\n"
            "        InitialInstanceCount: 1\n"
            f"        InstanceType: {INSTANCE_TYPE}\n")


def test_a_reload_whose_yaml_declares_an_api_config_name_is_refused(make_daemon, demo_image):
    d = make_daemon()
    before = made_through_the_api(d.api, demo_image)
    extra = os.path.join(d.workdir, "conf.d", "extra.yaml")
    with open(extra) as f:
        text = f.read()
    with open(extra, "w") as f:
        f.write(text.replace("EndpointConfigs:\n", "EndpointConfigs:\n" + yaml_config(CONFIG.upper()), 1))
    log = sighup(d, "reload refused")
    assert f"reload refused, keeping the running config: {extra}:" in log, log
    assert f'EndpointConfigName "{CONFIG}" is also the name of an endpoint config created through the API ' \
           "(names are case-insensitive)" in log, log
    assert snapshot(d.api) == before


def test_a_restart_whose_yaml_declares_an_api_config_name_fails_naming_both(make_daemon, demo_image):
    d = make_daemon()
    made_through_the_api(d.api, demo_image)
    d.kill()
    d.extra_yaml = d.extra_yaml.replace("EndpointConfigs:\n", "EndpointConfigs:\n" + yaml_config(CONFIG.upper()), 1)
    rc, log = start_refused(d, "an endpoint config the API created")
    extra = os.path.join(d.workdir, "conf.d", "extra.yaml")
    assert rc == 1, f"exit status {rc}: {log}"
    assert (f"{d.state_dir}/journal: the models and endpoint configs created through the API "
            f"no longer fit {d.config_path}: {extra}:") in log, log
    assert f'EndpointConfigName "{CONFIG}" is also the name of an endpoint config created through the API' in log, log


def test_a_restart_refused_for_a_name_clash_starts_again_once_the_yaml_gives_the_name_up(make_daemon, demo_image):
    d = make_daemon()
    before = made_through_the_api(d.api, demo_image)
    d.kill()
    original = d.extra_yaml
    declare_in_extra_yaml(d, MODEL, demo_image)
    rc, log = start_refused(d, "a model the API created")
    assert rc == 1, log
    d.extra_yaml = original
    d.start()
    assert snapshot(d.api) == before


def test_check_config_warns_of_a_yaml_that_would_stop_the_next_start(make_daemon, demo_image):
    # The operator can learn before a restart what the restart would refuse.
    d = make_daemon()
    made_through_the_api(d.api, demo_image)
    rc, out, err = d.run_once("--check-config")
    assert rc == 0 and "OK (" in out and "created through the API" in out, (rc, out, err)
    assert d.term() == 0
    declare_in_extra_yaml(d, MODEL, demo_image)
    # The files as the next start would write them, without starting.
    shutil.rmtree(os.path.join(d.workdir, "conf.d"), ignore_errors=True)
    d.config_path = h.write_config(d.workdir, d.port, d.docker_sock, d.demo_image, d.extra_config,
                                   d.extra_yaml, d.extra_instance_types)
    rc, out, err = d.run_once("--check-config")
    assert rc == 1, (rc, out, err)
    assert "the models and endpoint configs created through the API" in err, err
    assert f'ModelName "{MODEL}" is also the name of a model created through the API' in err, err
