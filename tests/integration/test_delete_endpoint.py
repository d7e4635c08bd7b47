"""DeleteEndpoint takes an endpoint and its containers away."""

from endpointd_harness import endpoint_arn, wait_until


def test_delete_endpoint_answers_200_with_an_empty_object(api, endpoints):
    name, _ = endpoints.create("del-answer")
    api.wait_in_service(name)
    r = api.call("DeleteEndpoint", {"EndpointName": name})
    assert r.status == 200, r
    assert r.json == {}, r


def test_deleted_endpoint_is_deleting_until_gone(api, endpoints):
    name, _ = endpoints.create("del-status")
    api.wait_in_service(name)
    api.ok("DeleteEndpoint", {"EndpointName": name})
    seen = set()

    def gone():
        d = api.describe(name)
        if d is not None:
            seen.add(d["EndpointStatus"])
        return d is None

    wait_until(gone, 60, what=f"{name} to be deleted")
    assert seen <= {"Deleting"}, f"statuses seen after DeleteEndpoint: {seen}"


def test_describe_after_delete_says_could_not_find_endpoint(api, endpoints):
    name, _ = endpoints.create("del-describe")
    api.wait_in_service(name)
    api.ok("DeleteEndpoint", {"EndpointName": name})
    api.wait_gone(name)
    r = api.error("DescribeEndpoint", {"EndpointName": name})
    assert r.error_type == "ValidationException", r
    assert r.message == f'Could not find endpoint "{endpoint_arn(name)}".', r


def test_deleted_endpoint_leaves_no_container(api, docker, endpoints):
    name, _ = endpoints.create("del-containers", config="two-variant-config")
    api.wait_in_service(name)
    assert len(docker.endpoint_containers(name)) == 4
    api.ok("DeleteEndpoint", {"EndpointName": name})
    api.wait_gone(name)
    docker.assert_endpoint_left_nothing(name)


def test_deleted_endpoint_drops_out_of_list_endpoints(api, endpoints):
    name, _ = endpoints.create("del-list")
    api.wait_in_service(name)
    api.ok("DeleteEndpoint", {"EndpointName": name})
    api.wait_gone(name)
    assert name not in api.endpoint_names()


def test_deleted_name_can_be_used_again(api, endpoints):
    name, _ = endpoints.create("del-reuse")
    api.wait_in_service(name)
    api.ok("DeleteEndpoint", {"EndpointName": name})
    api.wait_gone(name)
    endpoints.create("del-reuse", name=name)
    assert api.wait_settled(name)["EndpointStatus"] == "InService"


def test_delete_unknown_endpoint_says_could_not_find_endpoint(api):
    name = "no-such-endpoint-here"
    r = api.error("DeleteEndpoint", {"EndpointName": name})
    assert r.error_type == "ValidationException", r
    assert r.message == f'Could not find endpoint "{endpoint_arn(name)}".', r


def test_describe_unknown_endpoint_says_could_not_find_endpoint(api):
    name = "no-such-endpoint-here"
    r = api.error("DescribeEndpoint", {"EndpointName": name})
    assert r.error_type == "ValidationException", r
    assert r.message == f'Could not find endpoint "{endpoint_arn(name)}".', r
