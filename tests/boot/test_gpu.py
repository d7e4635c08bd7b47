"""NVML reaches the GPUs through the unit's sandbox.

The unit keeps PrivateDevices=yes and binds in only the NVIDIA nodes NVML
opens (/dev/nvidiactl, /dev/nvidia<N>), with DeviceAllow= for exactly those
numbers.  The booted system has fake nodes bound at those paths and the
daemon loads a fake libnvidia-ml that, like the real one, fails to start
unless it can open them.  (The device cgroup half of DeviceAllow= is not
enforced inside this container, so only what the service's mount namespace
shows is proven here.)
"""

import pytest
from conftest import wait_active

FAKE_GPUS = ("GPU-00000000-fake-0|Fake GPU 0|1073741824;"
             "GPU-11111111-fake-1|Fake GPU 1|1073741824")


@pytest.fixture
def fake_nvml(machine):
    """A drop-in that gives the fake NVML two GPUs that need their nodes."""
    def restart_with(extra=""):
        machine.dropin("endpointd.service", "30-fake-nvml",
                       "[Service]\n"
                       f'Environment="FAKE_NVML_GPUS={FAKE_GPUS}"\n'
                       "Environment=FAKE_NVML_REQUIRE_DEVICES=1\n" + extra)
        machine.systemctl("daemon-reload")
        cursor = machine.journal_cursor()
        pid = machine.main_pid()
        machine.systemctl("restart", "endpointd.service")
        wait_active(machine, pid_not=pid)
        return machine.unit_log(cursor)
    yield restart_with
    machine.remove("/etc/systemd/system/endpointd.service.d/30-fake-nvml.conf")
    machine.systemctl("daemon-reload")
    machine.systemctl("restart", "endpointd.service")


def test_the_service_sees_the_gpus_nvml_lists(fake_nvml):
    log = fake_nvml()
    assert any("GPU 0: GPU-00000000-fake-0" in m for m in log), log[-20:]
    assert any("GPU 1: GPU-11111111-fake-1" in m for m in log), log[-20:]


def test_without_the_device_binds_the_service_finds_no_gpus(fake_nvml):
    # The control: the same fake NVML, the nodes' binds taken away.
    log = fake_nvml("BindReadOnlyPaths=\n")
    assert any("no GPUs" in m and "/dev/nvidiactl" in m for m in log), log[-20:]
