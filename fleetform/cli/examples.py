"""Examples shown at the end of every command's `--help` (one place, so every command,
old or new, gets them the same way; a test checks that none is missing)."""

from __future__ import annotations

EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "validate": [
        ("fleetform validate --stack prod", "check stacks/Pulumi.prod.yaml (exit 2 with every problem)"),
        ("fleetform validate --file my-stack.yaml", "any stack file"),
    ],
    "plan": [
        ("fleetform plan --stack dev", "table, warnings, counts per cluster, policy verdict"),
        ("fleetform plan --stack prod --tree", "and every resource, by cluster and plane"),
        ("fleetform plan --stack prod --cluster eu-core", "one cluster"),
        ("fleetform plan --stack prod --no-resources", "the plan only (no program run, fast)"),
        ("fleetform plan --stack prod --json > plan.json", "for tools (docs/cli.md)"),
        ("fleetform plan --stack prod --reuse build/prod", "per-cluster stacks: run only those whose inputs changed"),
    ],
    "stacks": [
        ("fleetform stacks --stack prod", "the fleet's Pulumi stacks and their order"),
        ("fleetform stacks --stack prod --moves", "`pulumi state move` commands: single stack -> per-cluster"),
    ],
    "synth": [
        ("fleetform synth --stack prod --out build/prod", "a directory to review or to diff later"),
        ("fleetform synth --stack prod --reuse build/prod --out build/prod", "re-plan only the changed stacks"),
    ],
    "diff": [
        ("fleetform diff --against build/prod --stack prod", "what the edited stack would change"),
        ("fleetform diff build/before build/after --strict", "two synth directories; exit 3 on data loss"),
    ],
    "graph": [
        ("fleetform graph --stack prod --format html -o fleet.html", "a page to open in a browser"),
        ("fleetform graph --stack prod --format dot | dot -Tsvg > fleet.svg", "Graphviz"),
        ("fleetform graph --from build/prod", "Mermaid from a synth directory"),
    ],
    "inventory": [
        ("fleetform inventory --stack prod --list", "the Ansible inventory"),
        ("FLEETFORM_STACK=prod ansible -i inventory.sh etcd -m ping", "through a wrapper script"),
    ],
    "schema": [
        ("fleetform schema -o docs/fleetform.schema.json", "refresh the editor schema"),
    ],
    "cost": [
        ("fleetform cost --stack prod", "per cluster and in total"),
        ("fleetform cost --prices", "the price table behind the estimate"),
    ],
    "kubeconfig": [
        ("fleetform kubeconfig --stack prod -o ~/.kube/fleet.yaml", "the SSO kubeconfig of every cluster"),
        ("fleetform kubeconfig --stack prod --admin", "client-certificate contexts (placeholders offline)"),
    ],
    "status": [
        ("fleetform status --stack prod", "the plan's view of every cluster incarnation"),
        ("pulumi stack output --json --stack prod > prod.json && fleetform status --stack prod --outputs prod.json",
         "with what is deployed"),
    ],
    "migrate": [
        ("fleetform migrate plan --stack prod edge-fra", "the phase of a moving cluster (see migrate plan -h)"),
    ],
    "migrate plan": [
        ("fleetform migrate plan --stack prod edge-fra", "what this phase does and the next edit"),
        ("fleetform migrate plan --stack prod edge-fra --against build/prod", "checked against the last apply"),
    ],
    "upgrade": [
        ("fleetform upgrade plan --stack prod", "the fleet upgrade's waves and clusters (see upgrade plan -h)"),
    ],
    "upgrade plan": [
        ("fleetform upgrade plan --stack prod", "per cluster: version, path, wave, hold or skip, next edit"),
        ("fleetform upgrade plan --stack prod --against build/prod", "the wave edit checked like the gate"),
        ("fleetform upgrade plan --stack prod --json", "the same as JSON"),
    ],
    "preview": [
        ("fleetform preview --stack prod", "every stack of the fleet through the Pulumi CLI"),
        ("fleetform preview --stack prod --cluster eu-core", "one cluster's stack"),
    ],
    "up": [
        ("fleetform up --stack dev", "the whole fleet: the fleet stack, then the clusters (asks first)"),
        ("fleetform up --stack prod --wave canary --yes", "the stacks of one upgrade wave's clusters"),
        ("fleetform up --stack prod --cluster eu-core --with-fleet", "a new cluster: the fleet stack, then its own"),
        ("fleetform up --stack prod --resume --yes", "after a failure: skip the stacks that succeeded"),
    ],
    "destroy": [
        ("fleetform destroy --stack prod --cluster edge-fra", "one cluster's stack"),
        ("fleetform destroy --stack dev --yes", "every cluster stack, then the fleet stack"),
    ],
    "operator": [
        ("fleetform operator --stack prod --out deploy/prod --repo https://github.com/acme/fleet.git",
         "a Pulumi Kubernetes Operator Stack per micro-stack"),
        ("kubectl apply -f deploy/prod", "hand them to the management cluster"),
    ],
}


def epilog(command: str) -> str | None:
    """The `examples:` block of ``command``'s help (None when it has none)."""
    rows = EXAMPLES.get(command)
    if not rows:
        return None
    return "examples:\n" + "\n".join(f"  {cmd}\n      {why}" for cmd, why in rows)
