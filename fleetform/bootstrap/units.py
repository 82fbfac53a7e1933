"""The boot script as a restartable systemd unit.

cloud-init runs its ``runcmd`` once. A boot that fails there (a secret not yet readable
while IAM grants propagate, which takes minutes on GCP; a mirror briefly down) would
leave the machine half set up for good. So cloud-init only writes the script and this
unit and starts it; systemd runs the script until it succeeds:

- ``Restart=on-failure`` with ``StartLimitIntervalSec=0``: every failed run (each one
  already retries with backoff inside) is followed by another, forever, logged in the
  journal and on the console;
- the script is idempotent (every step checks what is in place), so a run after a
  failure, or after a reboot mid-way, continues where the last one stopped;
- a successful run leaves ``BOOTSTRAP_DONE``: the unit does not run again at the next
  boot (``ConditionPathExists=!``), the services it set up start on their own.
"""

from __future__ import annotations

BOOTSTRAP_UNIT_NAME = "fleetform-bootstrap.service"
BOOTSTRAP_UNIT = f"/etc/systemd/system/{BOOTSTRAP_UNIT_NAME}"
STATE_DIR = "/var/lib/fleetform"
BOOTSTRAP_DONE = f"{STATE_DIR}/bootstrap.done"
RESTART_SECONDS = 30

_UNIT = """\
[Unit]
Description=fleetform bootstrap of {what}
Wants=network-online.target
After=network-online.target
ConditionPathExists=!{done}
# Never give up: a failed run is followed by another one.
StartLimitIntervalSec=0

[Service]
Type=oneshot
ExecStart=/bin/bash {script}
ExecStartPost=/usr/bin/touch {done}
StateDirectory=fleetform
StateDirectoryMode=0700
Restart=on-failure
RestartSec={restart}
TimeoutStartSec=infinity
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
"""


def bootstrap_unit(script: str, what: str = "this machine") -> str:
    """The unit that runs the boot ``script`` of ``what`` (e.g. "etcd member a of
    cluster x") until it succeeds."""
    if "\n" in what or "%" in what:
        raise ValueError(f"a unit description is one line without '%': {what!r}")
    return _UNIT.format(what=what, done=BOOTSTRAP_DONE, script=script, restart=RESTART_SECONDS)


def start_commands() -> list[list[str]]:
    """cloud-init's ``runcmd`` entries: load the unit it just wrote and hand the boot to
    systemd without waiting for it (cloud-init's final stage must not block on a boot
    that may take long)."""
    return [["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "--no-block", BOOTSTRAP_UNIT_NAME]]
