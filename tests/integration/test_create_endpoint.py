"""CreateEndpoint brings an endpoint up: Creating, containers, InService."""

import time

import pytest

from endpointd_harness import LABEL, endpoint_arn, http_get, instance_slot, published_port


def test_create_endpoint_answers_with_the_endpoint_arn(endpoints):
    name, body = endpoints.create("arn")
    assert body == {"EndpointArn": endpoint_arn(name)}


def test_created_endpoint_is_creating_or_in_service_right_away(api, endpoints):
    name, _ = endpoints.create("early")
    assert api.describe(name)["EndpointStatus"] in ("Creating", "InService")


def test_created_endpoint_goes_in_service(api, endpoints):
    name, _ = endpoints.create("ok")
    assert api.wait_settled(name)["EndpointStatus"] == "InService"


def test_in_service_endpoint_runs_one_container_labelled_with_endpoint_and_variant(api, docker, endpoints):
    name, _ = endpoints.create("labels")
    api.wait_in_service(name)
    containers = docker.endpoint_containers(name)
    assert len(containers) == 1, containers
    labels = containers[0]["Labels"]
    assert labels[f"{LABEL}.managed"] == "true"
    assert labels[f"{LABEL}.endpoint"] == name
    assert labels[f"{LABEL}.variant"] == "AllTraffic"
    assert instance_slot(containers[0])
    assert containers[0]["State"] == "running"


def test_in_service_container_answers_ping_on_its_published_loopback_port(api, docker, endpoints):
    name, _ = endpoints.create("ping")
    api.wait_in_service(name)
    (c,) = docker.endpoint_containers(name)
    port = published_port(docker.inspect(c["Id"]))
    status, _ = http_get(port, "/ping")
    assert status == 200


def test_two_variants_of_two_instances_run_four_containers(api, docker, endpoints):
    name, _ = endpoints.create("two-by-two", config="two-variant-config")
    api.wait_in_service(name)
    containers = docker.endpoint_containers(name)
    running = [c for c in containers if c["State"] == "running"]
    assert len(running) == 4, containers
    slots = {}
    for c in running:
        slots.setdefault(c["Labels"][f"{LABEL}.variant"], set()).add(instance_slot(c))
    assert slots.keys() == {"VariantA", "VariantB"}
    assert all(len(s) == 2 for s in slots.values()), slots


def test_two_variants_of_two_instances_each_answer_ping(api, docker, endpoints):
    name, _ = endpoints.create("two-by-two-ping", config="two-variant-config")
    api.wait_in_service(name)
    for c in docker.endpoint_containers(name):
        status, _ = http_get(published_port(docker.inspect(c["Id"])), "/ping")
        assert status == 200, c["Names"]


def test_describe_reports_current_instance_count_of_each_variant(api, endpoints):
    name, _ = endpoints.create("counts", config="two-variant-config")
    d = api.wait_in_service(name)
    variants = {v["VariantName"]: v for v in d["ProductionVariants"]}
    assert variants.keys() == {"VariantA", "VariantB"}
    for v in variants.values():
        assert v["CurrentInstanceCount"] == 2, v
        assert v["DesiredInstanceCount"] == 2, v


def test_slow_starting_container_keeps_endpoint_creating_until_it_answers(api, endpoints):
    started = time.monotonic()
    name, _ = endpoints.create("slow-creating", config="slow-config")
    d = api.describe(name)
    if time.monotonic() - started > 2.5:
        pytest.skip("CreateEndpoint + DescribeEndpoint took longer than the container's start delay")
    assert d["EndpointStatus"] == "Creating", d


def test_slow_starting_container_goes_in_service_after_its_start_delay(api, endpoints):
    started = time.monotonic()
    name, _ = endpoints.create("slow", config="slow-config")
    api.wait_in_service(name)
    assert time.monotonic() - started >= 3.0
