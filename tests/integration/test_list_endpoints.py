"""ListEndpoints sorts, filters and pages the way SageMaker's does."""

import secrets
import time

import pytest

from endpointd_harness import SESSION_PREFIX, assert_validation_error

# Created in this order, a second apart, so that creation order, name order
# and status order all differ: zeta (InService), alpha (Failed), mid (InService).
ORDER = [("zeta", "demo-config"), ("alpha", "exit-config"), ("mid", "demo-config")]


@pytest.fixture(scope="module")
def listed(api, module_endpoints):
    token = f"{SESSION_PREFIX}-ls{secrets.token_hex(2)}"
    names = {}
    for i, (short, config) in enumerate(ORDER):
        if i:
            time.sleep(1.1)  # distinct CreationTime even at one-second resolution
        names[short], _ = module_endpoints.create(short, config=config, name=f"{token}-{short}")
    for name in names.values():
        api.wait_settled(name)
    described = {short: api.describe(name) for short, name in names.items()}
    return token, names, described


def _list(api, **params):
    return api.ok("ListEndpoints", params)


def _names(body):
    return [e["EndpointName"] for e in body["Endpoints"]]


def _short(names, listing):
    rev = {v: k for k, v in names.items()}
    return [rev[n] for n in listing]


def test_endpoints_are_listed_newest_first_by_default(api, listed):
    token, names, _ = listed
    assert _short(names, _names(_list(api, NameContains=token))) == ["mid", "alpha", "zeta"]


def test_sort_by_creation_time_ascending(api, listed):
    token, names, _ = listed
    body = _list(api, NameContains=token, SortBy="CreationTime", SortOrder="Ascending")
    assert _short(names, _names(body)) == ["zeta", "alpha", "mid"]


def test_sort_by_name_ascending(api, listed):
    token, names, _ = listed
    body = _list(api, NameContains=token, SortBy="Name", SortOrder="Ascending")
    assert _short(names, _names(body)) == ["alpha", "mid", "zeta"]


def test_sort_by_name_descending(api, listed):
    token, names, _ = listed
    body = _list(api, NameContains=token, SortBy="Name", SortOrder="Descending")
    assert _short(names, _names(body)) == ["zeta", "mid", "alpha"]


def test_sort_by_status_ascending(api, listed):
    token, names, _ = listed
    body = _list(api, NameContains=token, SortBy="Status", SortOrder="Ascending")
    statuses = [e["EndpointStatus"] for e in body["Endpoints"]]
    assert statuses == ["Failed", "InService", "InService"], body


def test_sort_by_status_descending(api, listed):
    token, names, _ = listed
    body = _list(api, NameContains=token, SortBy="Status", SortOrder="Descending")
    statuses = [e["EndpointStatus"] for e in body["Endpoints"]]
    assert statuses == ["InService", "InService", "Failed"], body


def test_list_entries_carry_name_arn_status_and_times(api, listed):
    token, names, described = listed
    (entry,) = _list(api, NameContains=names["alpha"])["Endpoints"]
    d = described["alpha"]
    assert entry["EndpointName"] == d["EndpointName"]
    assert entry["EndpointArn"] == d["EndpointArn"]
    assert entry["EndpointStatus"] == "Failed"
    assert entry["CreationTime"] == d["CreationTime"]
    assert isinstance(entry["LastModifiedTime"], (int, float))


def test_max_results_1_pages_through_every_endpoint_once(api, listed):
    token, names, _ = listed
    seen, params = [], {"NameContains": token, "MaxResults": 1}
    for _ in range(10):
        body = _list(api, **params)
        assert len(body["Endpoints"]) <= 1, body
        seen += _names(body)
        if not body.get("NextToken"):
            break
        params["NextToken"] = body["NextToken"]
    assert _short(names, seen) == ["mid", "alpha", "zeta"]


def test_pages_of_one_cover_the_unfiltered_listing(api, listed):
    everything = _names(_list(api, MaxResults=100))
    seen, params = [], {"MaxResults": 1}
    for _ in range(len(everything) + 5):
        body = _list(api, **params)
        seen += _names(body)
        if not body.get("NextToken"):
            break
        params["NextToken"] = body["NextToken"]
    assert seen == everything


def test_last_page_has_no_next_token(api, listed):
    token, _, _ = listed
    body = _list(api, NameContains=token, MaxResults=3)
    assert len(body["Endpoints"]) == 3
    assert not body.get("NextToken"), body


def test_default_page_holds_at_most_10(api):
    assert len(_list(api)["Endpoints"]) <= 10


def test_name_contains_filters_by_substring(api, listed):
    token, names, _ = listed
    assert _names(_list(api, NameContains=f"{token}-zet")) == [names["zeta"]]


def test_name_contains_matches_every_name_holding_the_substring(api, listed):
    token, names, _ = listed
    assert sorted(_names(_list(api, NameContains=token))) == sorted(names.values())


def test_name_contains_with_no_match_lists_nothing(api, listed):
    assert _list(api, NameContains="matches-nothing-at-all")["Endpoints"] == []


def test_status_equals_failed(api, listed):
    token, names, _ = listed
    assert _names(_list(api, NameContains=token, StatusEquals="Failed")) == [names["alpha"]]


def test_status_equals_in_service(api, listed):
    token, names, _ = listed
    body = _list(api, NameContains=token, StatusEquals="InService", SortBy="Name", SortOrder="Ascending")
    assert _short(names, _names(body)) == ["mid", "zeta"]


def _between(described, a, b):
    return (described[a]["CreationTime"] + described[b]["CreationTime"]) / 2


def test_creation_time_after(api, listed):
    token, names, described = listed
    after = _between(described, "zeta", "alpha")
    body = _list(api, NameContains=token, CreationTimeAfter=after)
    assert _short(names, _names(body)) == ["mid", "alpha"]


def test_creation_time_before(api, listed):
    token, names, described = listed
    before = _between(described, "alpha", "mid")
    body = _list(api, NameContains=token, CreationTimeBefore=before)
    assert _short(names, _names(body)) == ["alpha", "zeta"]


def test_creation_time_after_and_before_together(api, listed):
    token, names, described = listed
    body = _list(
        api,
        NameContains=token,
        CreationTimeAfter=_between(described, "zeta", "alpha"),
        CreationTimeBefore=_between(described, "alpha", "mid"),
    )
    assert _short(names, _names(body)) == ["alpha"]


@pytest.mark.parametrize("max_results", [0, 101, -1])
def test_max_results_out_of_range_is_refused(api, max_results):
    r = api.call("ListEndpoints", {"MaxResults": max_results})
    assert_validation_error(r, field="maxResults")


def test_max_results_100_is_accepted(api):
    assert api.call("ListEndpoints", {"MaxResults": 100}).status == 200


def test_unknown_sort_by_is_refused(api):
    r = api.call("ListEndpoints", {"SortBy": "Size"})
    assert_validation_error(r, field="sortBy")


def test_unknown_status_equals_is_refused(api):
    r = api.call("ListEndpoints", {"StatusEquals": "Sleeping"})
    assert_validation_error(r, field="statusEquals")
