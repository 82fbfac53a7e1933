"""Rules of GitOps registration (``management:``): a management cluster that exists and
can be reached, and member clusters the management cluster can reach."""

from __future__ import annotations

from fleetform.spec.errors import Problem
from fleetform.spec.load import origins
from fleetform.spec.messages import did_you_mean
from fleetform.spec.models import ClusterSpec, FleetSpec


def registered(spec: FleetSpec) -> tuple[ClusterSpec, ...]:
    """The clusters registered in the management cluster (none without ``management``)."""
    if spec.management is None:
        return ()
    return tuple(c for c in spec.clusters if c.gitops is not False and not c.decommission)


def check_management(spec: FleetSpec) -> list[Problem]:
    m = spec.management
    where = origins(spec)
    problems: list[Problem] = []
    if m is None:
        for c in spec.clusters:
            if c.gitops:
                problems.append(where.cluster_loc(c.name, "gitops").problem(
                    "the fleet names no management cluster: add `management:` (a fleet cluster "
                    "or a kubeconfig context) or drop `gitops`"))
        return problems
    names = [c.name for c in spec.clusters]
    if m.cluster is None and m.context is None:
        problems.append(where.fleet_loc("management").problem(
            "name the management cluster: `cluster: <a cluster of this fleet>` or "
            "`context: <kubeconfig context>` with `issuer:`"))
    if m.cluster is not None and m.cluster not in names and m.context is None:
        problems.append(where.fleet_loc("management", "cluster").problem(
            f"no cluster {m.cluster!r} in this fleet{did_you_mean(m.cluster, names)}; for a cluster "
            "outside the fleet give `context:` (a kubeconfig context) and `issuer:` instead"))
    if m.cluster is None and m.context is not None and m.issuer is None:
        problems.append(where.fleet_loc("management", "issuer").problem(
            "required with `context:`: the management cluster's service-account issuer URL "
            "(`kubectl get --raw /.well-known/openid-configuration` there shows it); member "
            "clusters trust it for the GitOps controller's short-lived tokens"))
    if m.cluster is not None and m.cluster in names:
        host = spec.cluster(m.cluster)
        if host.decommission:
            problems.append(where.fleet_loc("management", "cluster").problem(
                f"cluster {m.cluster!r} is being decommissioned; name another management cluster"))
        elif m.context is None and not host.api.public:
            problems.append(where.cluster_loc(host.name, "api", "public").problem(
                f"the management cluster {host.name!r} has a private API that the machine running "
                "`pulumi up` cannot reach: set `api.public: true` (limited by api.allowed_cidrs) "
                "or give `management.context` for a kubeconfig context you can reach"))
    for c in spec.clusters:
        at = where.cluster_loc
        if c.gitops and c.decommission:
            problems.append(at(c.name, "gitops").problem(
                f"cluster {c.name!r} is being decommissioned: its registration is removed, not "
                "added; drop `gitops`"))
    for c in registered(spec):
        if not c.api.public:
            problems.append(where.cluster_loc(c.name, "api", "public").problem(
                f"cluster {c.name!r} is registered in the management cluster but its API is private "
                "(reachable only inside its own network): set `api.public: true` (limited by "
                "api.allowed_cidrs) or `gitops: false`"))
    return problems
