"""Fleet-wide rules of the shared identity: SSO, PKI rotation, federation, tenants and
workload identities. Every problem is located (file and path)."""

from __future__ import annotations

import re
from decimal import Decimal

from fleetform.catalog.gcp_roles import project_grant_problem
from fleetform.catalog.regions import is_region
from fleetform.plan import rotation
from fleetform.plan.identity import RESERVED_NAMESPACES
from fleetform.plan.pki import root_rotation_state, rotation_states
from fleetform.spec.errors import Problem
from fleetform.spec.identity import AWS_POLICY_ARN, GCP_ROLE
from fleetform.spec.load import origins
from fleetform.spec.messages import did_you_mean
from fleetform.spec.models import FleetSpec

_SUFFIX = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
# kubeadm's certificateValidityPeriod (its default, which fleetform keeps).
KUBEADM_CERT_DAYS = 365
# google.subject may not exceed 127 characters.
GCP_SUBJECT_MAX = 127


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity's value ("500m" -> 0.5, "1Gi" -> 1073741824)."""
    m = _QUANTITY.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity like '500m', '2' or '4Gi'")
    return Decimal(m.group(1)) * _SUFFIX[m.group(2) or ""]


def check_identity(spec: FleetSpec) -> list[Problem]:
    where = origins(spec)
    at = where.fleet_loc
    problems: list[Problem] = []
    cluster_names = [c.name for c in spec.clusters]
    fleet_clouds = {c.cloud for c in spec.clusters}
    ident = spec.identity

    def unknown_clusters(listed: tuple[str, ...], *path: str | int) -> None:
        for j, name in enumerate(listed):
            if name not in cluster_names:
                problems.append(
                    at(*path, j).problem(
                        f"no cluster {name!r} in this fleet{did_you_mean(name, cluster_names)}"
                    )
                )

    # ---- key algorithm: an AWS control-plane replica carries its CA certificates (two
    # of each during a rotation) in user data, which EC2 holds to 16 KB; RSA certificates
    # do not fit there (the engine refuses such an instance as EC2 would).
    aws = sorted(c.name for c in spec.clusters if c.cloud == "aws")
    if ident.pki.algorithm == "RSA" and aws:
        problems.append(at("identity", "pki", "algorithm").problem(
            f"RSA is not supported with AWS clusters ({', '.join(aws)}): an AWS control-plane replica's user "
            "data carries its CA certificates, and with RSA keys it exceeds EC2's 16 KB limit (a CA rotation "
            "doubles them); use ECDSA (the default) or run RSA fleets on GCP only"))

    # ---- SSO and groups
    if ident.oidc is None:
        for key in ("admins_group", "viewers_group"):
            if getattr(ident, key) is not None:
                problems.append(
                    at("identity", key).problem(
                        "needs identity.oidc: groups come from the SSO provider's groups claim"
                    )
                )
        if spec.tenants:
            problems.append(
                at("tenants").problem(
                    "tenants need identity.oidc: a tenant's group comes from the SSO provider's groups claim"
                )
            )

    # ---- PKI rotation (phases) and lifetimes
    states = rotation_states(ident.pki)
    for name, value in ident.pki.rotate.items():
        if name not in cluster_names:
            problems.append(
                at("identity", "pki", "rotate", name).problem(
                    f"no cluster {name!r} in this fleet{did_you_mean(name, cluster_names)}"
                )
            )
        if isinstance(value, int) and value < 0:
            problems.append(
                at("identity", "pki", "rotate", name).problem(
                    f"a generation counts up from 0, got {value}"
                )
            )
            states.pop(name)
    migrating = [c.name for c in spec.clusters if c.migrate is not None]
    for path, message in rotation.check_spec(states, migrating):
        # A bare generation has no `phase` key to point at.
        bare = isinstance(ident.pki.rotate.get(str(path[0])), int)
        problems.append(at("identity", "pki", "rotate", *(path[:1] if bare else path)).problem(message))
    root = ident.pki.rotate_root
    if isinstance(root, int) and root < 0:
        problems.append(at("identity", "pki", "rotate_root").problem(f"a generation counts up from 0, got {root}"))
    elif root is not None:
        for path, message in rotation.check_spec({rotation.ROOT: root_rotation_state(ident.pki)}, migrating):
            problems.append(at("identity", "pki", "rotate_root",
                               *(() if isinstance(root, int) else path[1:])).problem(message))
    if ident.pki.intermediate_validity_days < KUBEADM_CERT_DAYS:
        problems.append(at("identity", "pki", "intermediate_validity_days").problem(
            f"kubeadm issues its certificates (API server, controller-manager, ...) for {KUBEADM_CERT_DAYS} "
            f"days under the cluster's kubernetes CA, which would live {ident.pki.intermediate_validity_days}: "
            "a certificate cannot outlive its CA"))
    if ident.pki.intermediate_validity_days > ident.pki.root_validity_days:
        problems.append(
            at("identity", "pki", "intermediate_validity_days").problem(
                "an intermediate CA cannot outlive the root (root_validity_days)"
            )
        )
    if ident.pki.leaf_validity_days > ident.pki.intermediate_validity_days:
        problems.append(
            at("identity", "pki", "leaf_validity_days").problem(
                "a leaf certificate cannot outlive its CA (intermediate_validity_days)"
            )
        )

    # ---- federation
    fed = ident.federation
    clouds = set(fed.clouds) if fed.clouds is not None else fleet_clouds
    if fed.clouds is not None and len(set(fed.clouds)) != len(fed.clouds):
        problems.append(
            at("identity", "federation", "clouds").problem("clouds are listed more than once")
        )
    if fed.host is not None and fed.host not in clouds:
        problems.append(
            at("identity", "federation", "host").problem(
                f"{fed.host!r} serves the issuer documents but is not one of the federated clouds "
                f"({', '.join(sorted(clouds)) or 'none'})"
            )
        )
    # (A fleet with GCP clusters is already told by check_fleet.)
    if "gcp" in clouds and "gcp" not in fleet_clouds and not spec.clouds.gcp.project:
        problems.append(
            at("clouds", "gcp", "project").problem(
                "required: workload identity federation on GCP needs the fleet's project"
            )
        )
    if "aws" in clouds and not is_region("aws", fed.aws_region):
        problems.append(
            at("identity", "federation", "aws_region").problem(
                f"{fed.aws_region!r} is not a supported AWS region"
            )
        )
    if fed.gcp_pool is not None and fed.gcp_pool.startswith("gcp-"):
        problems.append(
            at("identity", "federation", "gcp_pool").problem(
                "pool ids starting with 'gcp-' are reserved by Google"
            )
        )

    # ---- tenants
    seen: dict[str, int] = {}
    for i, t in enumerate(spec.tenants):
        if t.name in seen:
            problems.append(
                at("tenants", i, "name").problem(
                    f"duplicate tenant {t.name!r} (also tenants[{seen[t.name]}])"
                )
            )
        seen.setdefault(t.name, i)
        if t.name in RESERVED_NAMESPACES or t.name.startswith("kube-"):
            problems.append(
                at("tenants", i, "name").problem(
                    f"{t.name!r} is a Kubernetes system namespace; pick another tenant name"
                )
            )
        if t.clusters is not None and t.selector is not None:
            problems.append(
                at("tenants", i, "selector").problem("give either clusters or selector, not both")
            )
        if t.clusters is not None:
            unknown_clusters(t.clusters, "tenants", i, "clusters")
        q = t.quota
        try:
            cpu, mem = quantity(q.cpu), quantity(q.memory)
            req_cpu, req_mem = quantity(q.default_cpu_request), quantity(q.default_memory_request)
            lim_mem = quantity(q.default_memory_limit)
        except ValueError as exc:
            problems.append(at("tenants", i, "quota").problem(str(exc)))
            continue
        if req_cpu > cpu:
            problems.append(
                at("tenants", i, "quota", "default_cpu_request").problem(
                    f"{q.default_cpu_request} is more than the tenant's whole cpu quota ({q.cpu})"
                )
            )
        if req_mem > lim_mem:
            problems.append(
                at("tenants", i, "quota", "default_memory_request").problem(
                    f"{q.default_memory_request} is more than default_memory_limit ({q.default_memory_limit})"
                )
            )
        if lim_mem > mem:
            problems.append(
                at("tenants", i, "quota", "default_memory_limit").problem(
                    f"{q.default_memory_limit} is more than the tenant's whole memory quota ({q.memory})"
                )
            )

    # ---- workload identities
    seen = {}
    for i, w in enumerate(spec.workload_identities):
        if w.name in seen:
            problems.append(
                at("workload_identities", i, "name").problem(
                    f"duplicate workload identity {w.name!r} (also workload_identities[{seen[w.name]}])"
                )
            )
        seen.setdefault(w.name, i)
        if w.clusters is not None:
            unknown_clusters(w.clusters, "workload_identities", i, "clusters")
        if w.aws is None and w.gcp is None:
            problems.append(
                at("workload_identities", i).problem(
                    "grants nothing: give aws (a role) and/or gcp (a service account)"
                )
            )
        if w.aws is not None:
            if "aws" not in clouds:
                problems.append(
                    at("workload_identities", i, "aws").problem(
                        "AWS is not federated in this fleet (identity.federation.clouds)"
                    )
                )
            for j, arn in enumerate(w.aws.policy_arns):
                if not re.match(AWS_POLICY_ARN, arn):
                    problems.append(
                        at("workload_identities", i, "aws", "policy_arns", j).problem(
                            f"{arn!r} is not an IAM policy ARN (arn:aws:iam::<account>|aws:policy/<name>)"
                        )
                    )
        if w.gcp is not None:
            if "gcp" not in clouds:
                problems.append(
                    at("workload_identities", i, "gcp").problem(
                        "GCP is not federated in this fleet (identity.federation.clouds)"
                    )
                )
            if w.gcp.service_account is not None and w.gcp.roles:
                problems.append(
                    at("workload_identities", i, "gcp", "roles").problem(
                        "roles are granted to a service account fleetform creates; "
                        "grant an existing service_account its roles where it is managed"
                    )
                )
            for j, role in enumerate(w.gcp.roles):
                if not re.match(GCP_ROLE, role):
                    problems.append(
                        at("workload_identities", i, "gcp", "roles", j).problem(
                            f"{role!r} is not a role name like 'roles/storage.objectViewer'"
                        )
                    )
                elif (why := project_grant_problem(role)) is not None:
                    problems.append(at("workload_identities", i, "gcp", "roles", j).problem(why))
            subject = f"system:serviceaccount:{w.namespace}:{w.service_account}"
            if len(subject) > GCP_SUBJECT_MAX:
                problems.append(
                    at("workload_identities", i, "service_account").problem(
                        f"the subject {subject!r} is {len(subject)} characters; "
                        f"GCP accepts at most {GCP_SUBJECT_MAX}"
                    )
                )
    return problems
