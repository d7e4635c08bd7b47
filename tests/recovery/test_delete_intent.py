"""DeleteEndpoint writes its intent before it acts: the Deleting status is on
disk before any container of the endpoint is stopped.  A daemon killed -9 the
moment the Engine is told to stop one of them comes back with the endpoint
being deleted (or gone), never InService with a container missing."""

import json
import threading
import urllib.parse

import endpointd_harness as h
from endpointd_harness import unique_name
from recovery_helpers import ENDPOINT, PAIR_CONFIG, wait_for


class KillOnFirstStop(threading.Thread):
    """Kills the daemon -9 on the first "kill" event (what a stop sends
    first) of one endpoint's containers; subscribed before it returns."""

    def __init__(self, daemon, endpoint, timeout=60):
        super().__init__(daemon=True)
        self.d = daemon
        self.endpoint = endpoint
        self.timeout = timeout
        self.subscribed = threading.Event()
        self.fired = threading.Event()
        self.error = None

    def run(self):
        filters = {"type": ["container"], "event": ["kill"],
                   "label": [f"{ENDPOINT}={self.endpoint}"]}
        query = urllib.parse.urlencode({"filters": json.dumps(filters)})
        conn = h._UnixHTTPConnection(self.d.docker.sock_path, self.timeout)
        try:
            conn.request("GET", f"{self.d.docker.API}/events?{query}")
            r = conn.getresponse()
            self.subscribed.set()
            if r.status == 200 and r.readline():
                self.d.kill()
                self.fired.set()
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.subscribed.set()
            conn.close()


def test_daemon_killed_as_a_deleted_endpoints_container_stops_resumes_the_delete(make_daemon):
    d = make_daemon(grace=1)
    name = unique_name("intent-delete")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": PAIR_CONFIG})
    d.wait_converged(name)
    watch = KillOnFirstStop(d, name)
    watch.start()
    assert watch.subscribed.wait(10), "could not subscribe to the Engine's events"
    try:
        d.api.call("DeleteEndpoint", {"EndpointName": name})
    except OSError:
        pass  # killed before it could answer
    assert watch.fired.wait(30), f"no container of {name} was stopped ({watch.error!r})"
    d.start()
    desc = d.api.describe(name)
    assert desc is None or desc["EndpointStatus"] == "Deleting", desc
    wait_for(lambda: d.api.describe(name) is None, 30, f"{name} to be gone")
    wait_for(lambda: not d.containers(), d.grace + 20, "its containers to be removed",
             d.container_report)
