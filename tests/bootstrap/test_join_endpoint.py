"""Control-plane joins do not go through the API load balancer.

A joining replica is already a backend of the API load balancer. GCP's internal
passthrough load balancer hands a backend's connections to the forwarding-rule address
back to the backend itself (the guest agent even installs a local route for it), where no
API server runs until the join is done; kubeadm keeps using ``controlPlaneEndpoint``
after discovery, so only discovery's address could not fix it. So a replica >= 1 resolves
the API name (``/etc/hosts``) to the first ready replica before it (replica 0's fixed
address first) and drops that pin once its own API server is ready.

The shell functions run for real under bash against a stub ``curl`` and a scratch hosts
file; the rendered documents go through ``cloud-init schema`` and shellcheck.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from bootstrap_helpers import require_tool

from fleetform.bootstrap import ControlPlaneInputs, common_library, render_control_plane
from fleetform.bootstrap.document import BOOTSTRAP_SCRIPT
from fleetform.bootstrap.kubernetes import KUBEADM_CONFIG, control_plane_bootstrap_script

API = "api.c1.fleet.example.com"
CP0, CP1, CP2 = "10.0.10.20", "10.0.11.21", "10.0.12.22"
MARK = "# fleetform-join-pin"


def _line_of(script: str, needle: str) -> int:
    lines = script.splitlines()
    found = [i for i, line in enumerate(lines) if needle in line]
    assert found, f"{needle!r} not in the script"
    return found[0]


@pytest.mark.parametrize("cloud", ["gcp", "aws"])
def test_a_joining_replica_pins_the_api_name_to_replica_0_until_its_own_api_is_ready(
    control_plane_inputs: Callable[..., ControlPlaneInputs], cloud: str
) -> None:
    script = control_plane_bootstrap_script(
        control_plane_inputs(2, cloud=cloud, advertise_address=CP2, join_via=(CP0, CP1)))
    pin = _line_of(script, "ff_api_pin ")
    # Replica 0's planned address is the first candidate, then the other earlier replicas.
    assert script.splitlines()[pin].endswith(f"ff_api_pin {API} 6443 /etc/kubernetes/pki/ca.crt {CP0} {CP1}")
    assert script.splitlines()[pin].startswith('ff_wait "a ready API server at')
    join = _line_of(script, f"kubeadm join --config {KUBEADM_CONFIG}")
    local = _line_of(script, f"ff_api_ready {API} 6443 /etc/kubernetes/pki/ca.crt 127.0.0.1")
    unpin = script.splitlines().index(f"ff_hosts_unpin {API}")
    trap = _line_of(script, "trap 'ff_hosts_unpin")
    assert pin < trap < join < local < unpin
    assert script.splitlines()[local].startswith('ff_wait "the local API server"')
    assert _line_of(script, "trap - EXIT") > unpin
    # No wait on the load-balanced name before the join: that would reach this machine.
    assert f"https://{API}:6443/readyz" not in script


def test_replica_0_creates_the_cluster_without_a_pin(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    script = control_plane_bootstrap_script(control_plane_inputs(0, cloud="gcp", advertise_address=CP0))
    assert "kubeadm init" in script
    for absent in ("ff_api_pin ", "ff_hosts_unpin ", CP1, "trap 'ff_hosts_unpin"):
        assert absent not in script


def test_without_join_addresses_the_join_waits_for_the_api_name_as_before(
    control_plane_inputs: Callable[..., ControlPlaneInputs],
) -> None:
    script = control_plane_bootstrap_script(control_plane_inputs(1, cloud="gcp"))
    assert "ff_api_pin " not in script
    assert f"https://{API}:6443/readyz" in script


def test_join_addresses_are_validated(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    with pytest.raises(ValueError, match="replica 0 creates the cluster"):
        control_plane_inputs(0, join_via=(CP1,))
    with pytest.raises(ValueError, match="not an IPv4 address"):
        control_plane_inputs(1, join_via=("cp-0",))
    with pytest.raises(ValueError, match="repeats"):
        control_plane_inputs(2, join_via=(CP0, CP0))
    with pytest.raises(ValueError, match="own address"):
        control_plane_inputs(1, advertise_address=CP1, join_via=(CP1,))


def test_joining_documents_pass_cloud_init_schema_and_shellcheck(
    control_plane_inputs: Callable[..., ControlPlaneInputs], tmp_path: Path
) -> None:
    cloud_init = require_tool("cloud-init")
    shellcheck = shutil.which("shellcheck")
    for cloud in ("gcp", "aws"):
        text = render_control_plane(control_plane_inputs(1, cloud=cloud, advertise_address=CP1, join_via=(CP0,)))
        path = tmp_path / f"{cloud}.yaml"
        path.write_text(text)
        result = subprocess.run([cloud_init, "schema", "--config-file", str(path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "Valid cloud-config" in result.stdout, result.stdout + result.stderr
        files = {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}
        script = files[BOOTSTRAP_SCRIPT] if BOOTSTRAP_SCRIPT in files else next(
            c for c in files.values() if c.startswith("#!/bin/bash") and "kubeadm join" in c)
        assert f"ff_api_pin {API} 6443 /etc/kubernetes/pki/ca.crt {CP0}" in script
        if shellcheck is not None:
            sh = tmp_path / f"{cloud}.sh"
            sh.write_text(script)
            lib = tmp_path / f"{cloud}-lib.sh"
            lib.write_text("#!/bin/bash\n" + common_library())
            checked = subprocess.run([shellcheck, "--severity=info", "--exclude=SC1091", str(sh), str(lib)],
                                     capture_output=True, text=True, timeout=60)
            assert checked.returncode == 0, checked.stdout


# ------------------------------------------------------------- lib.sh, executed


class Box:
    """bash with lib.sh, a stub ``curl`` answering ``/readyz`` for the addresses in
    ``$SANDBOX/ready``, and a scratch hosts file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        bin_dir = root / "bin"
        bin_dir.mkdir()
        (root / "lib.sh").write_text(common_library())
        (root / "ready").write_text("")
        self.hosts = root / "hosts"
        self.hosts.write_text(f"127.0.0.1 localhost\n10.0.0.2 {API}  # Added by Google\n")
        curl = bin_dir / "curl"
        # --resolve HOST:PORT:ADDRESS decides which server answers.
        curl.write_text(
            "#!/bin/bash\n"
            'echo "$*" >>"$SANDBOX/curl.log"\n'
            'while [ $# -gt 0 ]; do\n'
            '  if [ "$1" = --resolve ]; then address=${2##*:}; fi\n'
            '  shift\n'
            'done\n'
            'grep -qxF "${address:-none}" "$SANDBOX/ready"\n'
        )
        curl.chmod(0o755)
        for name, body in (("sleep", "exit 0"), ("logger", "exit 0")):
            (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
            (bin_dir / name).chmod(0o755)

    def ready(self, *addresses: str) -> None:
        (self.root / "ready").write_text("".join(f"{a}\n" for a in addresses))

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{self.root / 'bin'}:/usr/bin:/bin", "SANDBOX": str(self.root),
               "FF_HOSTS": str(self.hosts), "FF_WAIT_INTERVAL": "1"}
        return subprocess.run(["bash", "-c", f"set -euo pipefail\n. {self.root}/lib.sh\n{script}\n"],
                              capture_output=True, text=True, timeout=30, env=env)


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return Box(tmp_path)


def test_pin_picks_the_first_ready_replica_and_unpin_restores_the_hosts_file(box: Box) -> None:
    before = box.hosts.read_text()
    box.ready(CP1)  # replica 0 is down (being replaced): the next earlier replica serves
    result = box.run(f"ff_api_pin {API} 6443 /ca.crt {CP0} {CP1}")
    assert result.returncode == 0, result.stderr
    assert box.hosts.read_text() == before + f"{CP1} {API} {MARK}\n"
    # Probed by name (TLS checks the certificate's name) at each address, in order.
    log = (box.root / "curl.log").read_text().splitlines()
    assert [line.split("--resolve ")[1].split()[0] for line in log] == [f"{API}:6443:{CP0}", f"{API}:6443:{CP1}"]
    assert all(line.endswith(f"https://{API}:6443/readyz") and "--cacert /ca.crt" in line for line in log)
    # Pinning again replaces our line, never adds a second one.
    box.ready(CP0)
    assert box.run(f"ff_api_pin {API} 6443 /ca.crt {CP0} {CP1}").returncode == 0
    assert box.hosts.read_text() == before + f"{CP0} {API} {MARK}\n"
    assert box.run(f"ff_hosts_unpin {API}").returncode == 0
    # Only our line goes; lines others wrote (even for the same name) stay.
    assert box.hosts.read_text() == before
    assert oct(box.hosts.stat().st_mode & 0o777) == "0o644"


def test_pin_fails_while_no_replica_is_ready_and_ff_wait_gives_up(box: Box) -> None:
    before = box.hosts.read_text()
    assert box.run(f"ff_api_pin {API} 6443 /ca.crt {CP0}").returncode == 1
    result = box.run(f'ff_wait "a ready API server" 3 ff_api_pin {API} 6443 /ca.crt {CP0}')
    assert result.returncode == 1 and "not ready after 3s" in result.stderr
    assert box.hosts.read_text() == before



def join_steps(box: Box, kubeadm_body: str) -> str:
    """The join's rendered lines around a stubbed ``kubeadm`` (its body given), cp-0 ready."""
    from fleetform.bootstrap.shell import api_pin_lines, api_unpin_lines

    kubeadm = box.root / "bin" / "kubeadm"
    kubeadm.write_text(f"#!/bin/bash\n{kubeadm_body}\n")
    kubeadm.chmod(0o755)
    box.ready(CP0)
    return "\n".join([*api_pin_lines(API, 6443, "/ca.crt", (CP0,)), f"trap 'ff_hosts_unpin {API}' EXIT",
                      "kubeadm join --config /x", *api_unpin_lines(API, 6443, "/ca.crt"), "trap - EXIT"])

def test_the_rendered_join_steps_pin_then_unpin_in_order(box: Box) -> None:
    """The script's own lines between etcd and the end, with kubeadm stubbed: the name is
    pinned while kubeadm runs and goes back to DNS once 127.0.0.1 serves the API."""
    steps = join_steps(box, 'cp "$FF_HOSTS" "$SANDBOX/hosts-during-join"\necho 127.0.0.1 >>"$SANDBOX/ready"')
    before = box.hosts.read_text()
    result = box.run(steps)
    assert result.returncode == 0, result.stderr
    assert (box.root / "hosts-during-join").read_text() == before + f"{CP0} {API} {MARK}\n"
    assert box.hosts.read_text() == before


def test_a_failed_join_does_not_leave_the_pin_behind(box: Box) -> None:
    steps = join_steps(box, "exit 1")
    before = box.hosts.read_text()
    assert box.run(steps).returncode == 1
    assert box.hosts.read_text() == before


def test_a_failed_rewrite_never_replaces_the_hosts_file(box: Box) -> None:
    """Inside ff_wait's loop `set -e` does not apply: a failing awk must not let an empty
    temporary file replace the hosts file."""
    awk = box.root / "bin" / "awk"
    awk.write_text("#!/bin/bash\nexit 2\n")
    awk.chmod(0o755)
    before = box.hosts.read_text()
    box.ready(CP0)
    result = box.run(f'ff_wait "pin" 2 ff_api_pin {API} 6443 /ca.crt {CP0}')
    assert result.returncode == 1
    assert box.hosts.read_text() == before
    assert [p.name for p in box.root.iterdir() if p.name.startswith("hosts.fleetform.")] == []
