"""Every certificate, key and token a fleet runs on: its lifetime and what renews it.

``plan`` prints this inventory and its warnings: a credential that would expire with
nothing renewing it is a warning, never a surprise on day 365. What renews what:

* CAs (root, per cluster kubernetes/etcd/front-proxy) and the service-account key: a
  CA rotation in phases (two edits, ``rotation.py``); nothing expires them early.
* Leaves issued by ``pulumi up`` (etcd member server/peer, API server etcd client,
  admin client): re-issued by any ``pulumi up`` in their last days; etcd members take
  new ones from the secret store on a timer, one member at a time.
* kubeadm's certificates on control-plane replicas: ``kubeadm certs renew`` on a timer,
  static pods restarted one replica at a time.
* kubelet client certificates: the kubelet rotates them (kubeadm's default).
* kubelet serving certificates: ``serverTLSBootstrap`` CSRs signed by the cluster CA,
  approved by the CSR approver add-on; without it the kubelet serves a self-signed
  certificate nothing renews.
* Bootstrap tokens: created with a TTL of hours and rotated by a control-plane timer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509

from fleetform.spec.identity import BOOTSTRAP_TOKEN_TTL_HOURS, KUBEADM_RENEW_BEFORE_DAYS, PkiSpec

from .model import FleetPlan
from .pki import LEAF_EARLY_RENEWAL_HOURS, root_rotation_state, rotation_states
from .rotation import RotationState

NO_ROTATION = RotationState()

Kind = Literal["ca", "certificate", "key", "token"]
HOURS_PER_DAY = 24
# kube-controller-manager's --cluster-signing-duration default (kubelet certificates).
CLUSTER_SIGNING_HOURS = 8760
# The kubelet asks for a new certificate once 70-90% of the current one's life passed.
KUBELET_ROTATION_FRACTION = 0.7


@dataclass(frozen=True)
class CredentialSettings:
    """What the inventory needs from ``identity.pki`` (hours throughout)."""

    root_hours: int = 10 * 8760
    intermediate_hours: int = 5 * 8760
    leaf_hours: int = 8760
    # A `pulumi up` re-issues its leaves in their last this-many hours.
    pulumi_early_renewal_hours: int = 30 * 24
    # kubeadm's leaves (certificateValidityPeriod) and when the timer renews them.
    kubeadm_cert_hours: int = 8760
    kubeadm_renew_before_hours: int = KUBEADM_RENEW_BEFORE_DAYS * 24
    kubeadm_renewal: bool = True
    etcd_reload: bool = True
    bootstrap_token_ttl_hours: int = BOOTSTRAP_TOKEN_TTL_HOURS
    bootstrap_token_rotation: bool = True
    kubelet_serving_approver: bool = True
    algorithm: str = "ECDSA P-256"

    @property
    def bootstrap_token_rotate_every_hours(self) -> int:
        """A token is replaced after a third of its life: a machine that read it just
        before still has two thirds to join."""
        return max(1, self.bootstrap_token_ttl_hours // 3)


@dataclass(frozen=True)
class Credential:
    scope: str  # "fleet" or a cluster name
    name: str
    kind: Kind
    issuer: str
    lifetime_hours: int | None  # None: does not expire
    renewal: str  # how it is renewed ("" : nothing renews it)
    renew_before_hours: int | None = None
    count: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope, "name": self.name, "kind": self.kind, "issuer": self.issuer,
            "lifetime_hours": self.lifetime_hours, "renewal": self.renewal or None,
            "renew_before_hours": self.renew_before_hours, "count": self.count,
        }


@dataclass(frozen=True)
class ClusterCredentials:
    """What one cluster holds that the inventory counts."""

    name: str
    etcd_members: int
    control_plane_replicas: int
    rotation: RotationState = NO_ROTATION


@dataclass(frozen=True)
class Inventory:
    credentials: tuple[Credential, ...]
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"credentials": [c.to_json() for c in self.credentials], "warnings": list(self.warnings)}


def _rotation_note(state: RotationState) -> str:
    return "" if state.phase == "none" else f" [{state}]"


def cluster_credentials(c: ClusterCredentials, s: CredentialSettings) -> list[Credential]:
    rot = _rotation_note(c.rotation)
    ca_renewal = "CA rotation in two phases (identity.pki.rotate)"
    pulumi = (f"re-issued by `pulumi up` in its last {s.pulumi_early_renewal_hours // 24} days, "
              "delivered through the secret store")
    out = [
        Credential(c.name, f"{ca}{rot}", "ca", "root CA", s.intermediate_hours, ca_renewal)
        for ca in ("kubernetes CA", "etcd CA", "front-proxy CA")
    ]
    out.append(Credential(c.name, f"service-account signing key{rot}", "key", "-", None,
                          "rotated with the CAs (identity.pki.rotate): both keys verify during prepare"))
    etcd_renewal = pulumi + "; each member reloads them on a timer, one at a time" if s.etcd_reload else ""
    out.append(Credential(c.name, "etcd member server + peer certificates", "certificate", "etcd CA",
                          s.leaf_hours, etcd_renewal, s.pulumi_early_renewal_hours, 2 * c.etcd_members))
    etcd_client = (pulumi + "; replicas take it one at a time (kubeadm-certs-renew timer)" if s.kubeadm_renewal
                   else f"re-issued by `pulumi up` in its last {s.pulumi_early_renewal_hours // 24} days; "
                        "every control-plane replica is replaced to take it, in the same `pulumi up`")
    out.append(Credential(c.name, "API server etcd client certificate", "certificate", "etcd CA",
                          s.leaf_hours, etcd_client, s.pulumi_early_renewal_hours))
    out.append(Credential(c.name, "admin client certificate (admin_kubeconfig)", "certificate",
                          "kubernetes CA", s.leaf_hours,
                          f"re-issued by `pulumi up` in its last {s.pulumi_early_renewal_hours // 24} days "
                          "(fetch the output again)", s.pulumi_early_renewal_hours))
    kubeadm = ("`kubeadm certs renew` on a timer, static pods restarted one replica at a time"
               if s.kubeadm_renewal else "")
    out.append(Credential(
        c.name, "kubeadm certificates (apiserver, apiserver-kubelet-client, front-proxy-client, "
        "controller-manager/scheduler/admin kubeconfigs)", "certificate", "kubernetes / front-proxy CA",
        s.kubeadm_cert_hours, kubeadm, s.kubeadm_renew_before_hours if s.kubeadm_renewal else None,
        c.control_plane_replicas))
    out.append(Credential(c.name, "kubelet client certificates", "certificate", "kubernetes CA",
                          CLUSTER_SIGNING_HOURS, "the kubelet rotates it (rotateCertificates)",
                          int(CLUSTER_SIGNING_HOURS * (1 - KUBELET_ROTATION_FRACTION))))
    if s.kubelet_serving_approver:
        out.append(Credential(c.name, "kubelet serving certificates", "certificate", "kubernetes CA",
                              CLUSTER_SIGNING_HOURS,
                              "serverTLSBootstrap CSRs approved by the CSR approver add-on",
                              int(CLUSTER_SIGNING_HOURS * (1 - KUBELET_ROTATION_FRACTION))))
    else:
        out.append(Credential(c.name, "kubelet serving certificates (self-signed)", "certificate",
                              "the kubelet itself", CLUSTER_SIGNING_HOURS, ""))
    if s.bootstrap_token_rotation:
        out.append(Credential(c.name, "bootstrap token (joining machines)", "token", "-",
                              s.bootstrap_token_ttl_hours,
                              f"replaced every {s.bootstrap_token_rotate_every_hours}h by a control-plane "
                              "timer through the secret store; expired ones deleted",
                              s.bootstrap_token_ttl_hours - s.bootstrap_token_rotate_every_hours))
    else:
        # kubeadm's ttl 0s: a join credential that never expires and nothing replaces.
        out.append(Credential(c.name, "bootstrap token (joining machines, never expires)", "token", "-",
                              None, ""))
    return out


def inventory(clusters: Sequence[ClusterCredentials], s: CredentialSettings,
              root: RotationState = NO_ROTATION) -> Inventory:
    creds = [Credential("fleet", f"fleet root CA{_rotation_note(root)}", "ca", "self-signed", s.root_hours,
                        "root rotation in two phases (identity.pki.rotate_root): cluster CAs keep their keys")]
    for c in sorted(clusters, key=lambda c: c.name):
        creds += cluster_credentials(c, s)
    return Inventory(tuple(creds), tuple(warnings(creds, s)))


def warnings(creds: Sequence[Credential], s: CredentialSettings) -> list[str]:
    out: list[str] = []
    for c in creds:
        if c.lifetime_hours is None:
            if not c.renewal and c.kind == "token":
                out.append(f"{c.scope}: {c.name}: a permanent join credential that nothing rotates")
            continue
        if not c.renewal:
            out.append(f"{c.scope}: {c.name} expire after {_days(c.lifetime_hours)} and nothing renews them")
        elif c.renew_before_hours is not None and c.renew_before_hours >= c.lifetime_hours:
            out.append(f"{c.scope}: {c.name}: renewed {_days(c.renew_before_hours)} before expiry, which "
                       f"is not less than the lifetime ({_days(c.lifetime_hours)}): they would renew forever")
    return out


def grouped(lines: Sequence[str], everyone: Sequence[str] = ()) -> list[str]:
    """``<scope>: <message>`` lines as one line per set of scopes, joining their messages
    (the short ``plan``: one line per group of clusters, not one per cluster and problem);
    ``everyone``: the scopes that make "every cluster"."""
    by_message: dict[str, list[str]] = {}
    for line in lines:
        scope, sep, message = line.partition(": ")
        by_message.setdefault(message if sep else line, []).extend([scope] if sep else [])
    by_scopes: dict[tuple[str, ...], list[str]] = {}
    for message, scopes in by_message.items():
        by_scopes.setdefault(tuple(scopes), []).append(message)
    every = tuple(sorted(everyone))
    out = []
    for group, messages in by_scopes.items():
        where = "" if not group else "every cluster" if every and tuple(sorted(group)) == every else ", ".join(group)
        out.append(f"{where}: {'; '.join(messages)}" if where else "; ".join(messages))
    return out


def _days(hours: int) -> str:
    return f"{hours // HOURS_PER_DAY} days" if hours >= 48 and hours % HOURS_PER_DAY == 0 else f"{hours}h"


def render(inv: Inventory) -> list[str]:
    """The inventory as ``plan`` prints it: one line per credential, then warnings."""
    lines = ["credentials (lifetime, how they are renewed):"]
    for c in inv.credentials:
        life = "no expiry" if c.lifetime_hours is None else _days(c.lifetime_hours)
        count = f" x{c.count}" if c.count > 1 else ""
        lines.append(f"  {c.scope}: {c.name}{count} [{c.kind}, {life}]: {c.renewal or 'NOT RENEWED'}")
    lines += [f"warning: {w}" for w in inv.warnings]
    return lines


def settings_of(pki: PkiSpec) -> CredentialSettings:
    """``identity.pki`` as the inventory reads it. Every renewal it reports is installed
    by every cluster's documents: etcd members their reload timer, control-plane
    replicas the kubeadm-certs-renew and bootstrap-token-rotate timers, every kubelet
    ``serverTLSBootstrap`` and every bundle the CSR approver
    (tests/bootstrap/test_credentials_renewal_scripts.py holds the documents to it).
    Turning one of the ``CredentialSettings`` switches off makes ``plan`` warn."""
    leaf = pki.leaf_validity_days * 24
    return CredentialSettings(
        root_hours=pki.root_validity_days * 24,
        intermediate_hours=pki.intermediate_validity_days * 24,
        leaf_hours=leaf,
        pulumi_early_renewal_hours=min(LEAF_EARLY_RENEWAL_HOURS, leaf // 3),
        kubeadm_renew_before_hours=pki.renewal.kubeadm_renew_before_days * 24,
        bootstrap_token_ttl_hours=pki.renewal.bootstrap_token_ttl_hours,
        algorithm=f"ECDSA {pki.ecdsa_curve}" if pki.algorithm == "ECDSA" else f"RSA {pki.rsa_bits}",
    )


def fleet_inventory(pki: PkiSpec, plan: FleetPlan) -> Inventory:
    """The inventory of a planned fleet: one entry per logical cluster (the serving
    incarnation's counts; a moving cluster's CAs are shared by both incarnations)."""
    states = rotation_states(pki)
    clusters = []
    for name in dict.fromkeys(c.name for c in plan.clusters):
        c = plan.cluster(name)
        clusters.append(ClusterCredentials(name, len(c.etcd.members), len(c.control_plane.replicas),
                                           states.get(name, NO_ROTATION)))
    return inventory(clusters, settings_of(pki), root_rotation_state(pki))


def earliest_expiry(pems: Sequence[str]) -> str | None:
    """The earliest ``notAfter`` (UTC, ``YYYY-MM-DDTHH:MM:SSZ``) of the certificates in
    ``pems`` (each a PEM holding one or more certificates: a bundle counts every one);
    None when there is none."""
    ends = [cert.not_valid_after_utc for pem in pems if pem
            for cert in x509.load_pem_x509_certificates(pem.encode())]
    return min(ends).strftime("%Y-%m-%dT%H:%M:%SZ") if ends else None
