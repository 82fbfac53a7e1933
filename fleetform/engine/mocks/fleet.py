"""Deterministic, realistic provider outputs for the offline engine.

`FleetMocks` answers the two questions the Pulumi SDK asks of a mock engine: what a
resource looks like once its provider has created it (`new_resource`) and what a data
source returns (`call`). Every value is derived from a SHA-256 of the resource's URN (or
the invoke's arguments), never from randomness or the clock, so two runs of the same
program produce byte-identical results.

Both tables are plain dicts from a Pulumi type token to a function, so other modules
can add types with the `resource_mock` / `invoke_mock` decorators; unknown types fall
back per package (AWS: id + ARN, GCP: name + id + selfLink, Kubernetes: metadata,
anything else: an id), unknown invokes answer `{}` and are recorded. Tokens and output
property names follow the installed SDKs (pulumi-aws 7, pulumi-gcp 10, pulumi-tls 5,
pulumi-random 4, pulumi-kubernetes 4); outputs use Pulumi's wire (camelCase) names.

A resource handler receives a `ResourceCall` and returns `(id, computed)`; the inputs
are echoed under the computed properties. Handlers see plain inputs: secrets already
unwrapped, resource references as URNs. TLS resources return real, parseable (but
deterministic, hence never secret) keys and certificates, because programs parse them.

Before a handler runs, `new_resource` applies the providers' offline checks
(`fleetform.engine.checks`) and raises `ProviderCheckError` for what a real preview would
refuse. No handler shortens, lowercases or otherwise corrects a value it is given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from fleetform.engine.checks import ProviderCheckError, check
from fleetform.engine.mocks import aws_data, random, tls  # noqa: F401  (register their handlers)
from fleetform.engine.mocks.aws import aws_generic
from fleetform.engine.mocks.base import (
    INVOKE_MOCKS,
    RESOURCE_MOCKS,
    InvokeCall,
    ResourceCall,
    ResourceHandler,
    digest,
    generic,
    plain_value,
    provider_handler,
    provider_urn,
)
from fleetform.engine.mocks.gcp import gcp_generic
from fleetform.engine.mocks.kubernetes import kubernetes_object
from fleetform.engine.records import StackOutput, secret_value
from fleetform.plan.stacks import StackNotApplied

STACK_REFERENCE = "pulumi:pulumi:StackReference"

# --------------------------------------------------------------------------------------
# The Mocks implementation


@dataclass
class FleetMocks(Mocks):
    """Table-driven mocks with a per-run memory of what has been created.

    The memory (providers' inputs; resources by type and id / ARN / self-link / name)
    lets an instance get an address inside the subnet it names and a resource the region
    of the provider it was created with. Lookups are scoped by type and nothing depends
    on the order in which resources were created, because the SDK does not register
    independent resources in a fixed order.
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    # The stack name every URN is hashed with (None: each URN's own): a micro-stack's
    # resources then get the values they get in the single stack of the same fleet.
    seed_stack: str | None = None
    # Outputs of the stacks a StackReference may read: stack name -> output name -> value
    # (a `StackOutput` for a secret one); a stack absent here has not been applied.
    stack_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    unknown_invokes: list[str] = field(default_factory=list)
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    _index: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def config_str(self, key: str) -> str | None:
        value = self.config.get(key)
        return value if isinstance(value, str) and value else None

    # ---- memory
    def lookup(self, ref: Any, *types: str) -> dict[str, Any] | None:
        """State of a created resource of one of `types`, by id, ARN, self-link or name."""
        if not isinstance(ref, str) or not ref:
            return None
        for key in (ref, ref.rsplit("/", 1)[-1]):
            for type_ in types:
                hit = self._index.get((type_, key))
                if hit is not None:
                    return hit
        return None

    def _remember(self, type_: str, state: dict[str, Any], *keys: Any) -> None:
        for key in keys:
            if isinstance(key, str) and key:
                self._index.setdefault((type_, key), state)

    @staticmethod
    def allocate_ip(cidr: str | None, seed: str, requested: Any = None) -> str:
        """The requested address, else one inside `cidr` picked by hash.

        A pure function of its arguments (no probing around addresses already handed
        out, which would depend on creation order); two machines may, rarely, collide.
        """
        if isinstance(requested, str) and requested:
            return requested
        net = ipaddress.ip_network(cidr or "172.31.0.0/16", strict=False)
        # Skip the first four and the last address: AWS reserves them, GCP a subset.
        span = max(1, net.num_addresses - 5)
        offset = int.from_bytes(digest(seed, "ip")[:8], "big") % span
        return str(net.network_address + 4 + offset)

    # ---- pulumi.runtime.Mocks
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs: dict[str, Any] = plain_value(dict(args.inputs or {}))
        urn = str(getattr(args, "urn", "") or f"{args.typ}::{args.name}")
        if args.custom is False:
            return "", {}  # components: the engine computes nothing for them
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(str(inputs.get("name") or args.name))
        provider_inputs = self._providers.get(provider_urn(args.provider) or "", {})
        call = ResourceCall(args.typ, args.name, self._seed_urn(urn), inputs, provider_inputs, self)
        if not args.resource_id:
            # What a real preview refuses fails here, before anything is computed.
            problems = check(args.typ, args.name, inputs, suffix=call.autoname_suffix)
            if problems:
                raise ProviderCheckError(problems)

        handler = RESOURCE_MOCKS.get(args.typ) or _fallback_handler(args.typ)
        resource_id, computed = handler(call)
        if args.resource_id and resource_id:
            # A read or import of an existing resource: its id wins, also inside ARNs.
            computed = {
                k: v.replace(resource_id, args.resource_id) if isinstance(v, str) else v
                for k, v in computed.items()
            }
            resource_id = args.resource_id
        state = {**inputs, **computed}
        if args.typ.startswith("pulumi:providers:"):
            self._providers[urn] = inputs
        self._remember(
            args.typ,
            state,
            resource_id,
            state.get("arn"),
            state.get("selfLink"),
            state.get("name"),
        )
        return resource_id, state

    def _seed_urn(self, urn: str) -> str:
        """The URN with its stack segment replaced by ``seed_stack``."""
        if self.seed_stack is None or not urn.startswith("urn:pulumi:"):
            return urn
        rest = urn.removeprefix("urn:pulumi:").partition("::")[2]
        return f"urn:pulumi:{self.seed_stack}::{rest}"

    def _stack_reference(self, name: str) -> tuple[str, dict[str, Any]]:
        """What the engine answers for a StackReference: the referenced stack's outputs,
        secret ones as secrets and named in ``secretOutputNames``. ``name`` may be
        qualified (``<organization>/<project>/<stack>``)."""
        stack = name.rsplit("/", 1)[-1]
        recorded = self.stack_outputs.get(stack)
        if recorded is None:
            raise StackNotApplied(stack)
        outputs = {k: secret_value(v.value) if isinstance(v, StackOutput) and v.secret else
                   (v.value if isinstance(v, StackOutput) else v) for k, v in recorded.items()}
        secret = sorted(k for k, v in recorded.items() if isinstance(v, StackOutput) and v.secret)
        return name, {"name": name, "outputs": outputs, "secretOutputNames": secret}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        plain_args: dict[str, Any] = {
            k: v for k, v in plain_value(dict(args.args or {})).items() if v is not None
        }
        self.invokes.append((args.token, plain_args))
        handler = INVOKE_MOCKS.get(args.token)
        if handler is None:
            self.unknown_invokes.append(args.token)
            return {}, None
        provider_inputs = self._providers.get(provider_urn(args.provider) or "", {})
        return handler(InvokeCall(args.token, plain_args, provider_inputs, self)), None


# --------------------------------------------------------------------------------------
# Fallbacks


def _fallback_handler(token: str) -> ResourceHandler:
    if token.startswith("pulumi:providers:"):
        return provider_handler
    if token.startswith("aws:"):
        return aws_generic
    if token.startswith("gcp:"):
        return gcp_generic
    if token.startswith("kubernetes:"):
        return kubernetes_object
    return generic

