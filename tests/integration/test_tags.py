"""AddTags, ListTags and DeleteTags work on an endpoint's ARN."""

import pytest

from endpointd_harness import endpoint_arn


@pytest.fixture
def tagged(api, endpoints):
    name, _ = endpoints.create("tags", tags=[{"Key": "team", "Value": "search"}])
    return endpoint_arn(name)


def _tags(api, arn):
    body = api.ok("ListTags", {"ResourceArn": arn})
    return {t["Key"]: t["Value"] for t in body["Tags"]}


def test_tags_given_at_create_are_listed(api, tagged):
    assert _tags(api, tagged) == {"team": "search"}


def test_add_tags_adds_to_the_existing_ones(api, tagged):
    api.ok("AddTags", {"ResourceArn": tagged, "Tags": [{"Key": "env", "Value": "test"}]})
    assert _tags(api, tagged) == {"team": "search", "env": "test"}


def test_add_tags_answers_with_the_tags_added(api, tagged):
    body = api.ok("AddTags", {"ResourceArn": tagged, "Tags": [{"Key": "env", "Value": "test"}]})
    assert body["Tags"] == [{"Key": "env", "Value": "test"}]


def test_add_tags_overwrites_the_value_of_an_existing_key(api, tagged):
    api.ok("AddTags", {"ResourceArn": tagged, "Tags": [{"Key": "team", "Value": "ranking"}]})
    assert _tags(api, tagged) == {"team": "ranking"}


def test_delete_tags_removes_the_keys_given(api, tagged):
    api.ok("AddTags", {"ResourceArn": tagged, "Tags": [{"Key": "env", "Value": "test"}]})
    api.ok("DeleteTags", {"ResourceArn": tagged, "TagKeys": ["team"]})
    assert _tags(api, tagged) == {"env": "test"}


def test_list_tags_of_an_endpoint_without_tags_is_empty(api, endpoints):
    name, _ = endpoints.create("no-tags")
    assert _tags(api, endpoint_arn(name)) == {}


def test_add_tags_beyond_50_in_all_is_refused(api, tagged):
    more = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    r = api.call("AddTags", {"ResourceArn": tagged, "Tags": more})
    assert r.status == 400, r
    assert _tags(api, tagged) == {"team": "search"}


def test_tag_key_longer_than_128_is_refused(api, tagged):
    r = api.call("AddTags", {"ResourceArn": tagged, "Tags": [{"Key": "k" * 129, "Value": "v"}]})
    assert r.status == 400 and r.error_type == "ValidationException", r


def test_tag_value_longer_than_256_is_refused(api, tagged):
    r = api.call("AddTags", {"ResourceArn": tagged, "Tags": [{"Key": "k", "Value": "v" * 257}]})
    assert r.status == 400 and r.error_type == "ValidationException", r


def test_tags_vanish_with_their_endpoint(api, endpoints):
    name, _ = endpoints.create("tags-gone", tags=[{"Key": "a", "Value": "b"}])
    api.wait_settled(name)
    api.ok("DeleteEndpoint", {"EndpointName": name})
    api.wait_gone(name)
    endpoints.create("tags-gone", name=name)
    assert _tags(api, endpoint_arn(name)) == {}
