"""The fleetform CrossGuard policy pack: ``pulumi preview --policy-pack policies``.

Pulumi runs this file with the pack directory as the program; the project root goes on
``sys.path`` so the pack and ``fleetform plan`` share ``policies/rules/``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_DESCRIPTION, PACK_NAME, build_policies

PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)
