"""The documents of workload identity federation (pure): the OpenID discovery document
and JWKS a cloud fetches for a cluster's issuer, GCP's provider audience, principal sets,
attribute mapping and credential configuration, and AWS trust policies."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence

from fleetform.plan.identity import (
    AWS_AUDIENCE,
    GCP_TOKEN_PATH,
    OFFLINE_PEM_MARK,
    Issuer,
)


def discovery_document(issuer: Issuer) -> str:
    """The OpenID provider configuration the API server itself serves at
    /.well-known/openid-configuration, with the published JWKS location."""
    return (
        json.dumps(
            {
                "issuer": issuer.url,
                "jwks_uri": issuer.jwks_uri,
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int) -> bytes:
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def jwk(public_key_pem: str) -> dict[str, str]:
    """One RSA public key as a JWK, with the key id Kubernetes puts in its tokens'
    ``kid`` header: base64url(SHA-256(DER SubjectPublicKeyInfo)), no padding."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    if OFFLINE_PEM_MARK in public_key_pem.replace("\n", ""):
        # The offline engine's stand-in: keep the shape, say what it is.
        digest = hashlib.sha256(public_key_pem.encode()).digest()
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": "offline-placeholder-" + _b64url(digest)[:16],
            "n": _b64url(digest * 8),
            "e": "AQAB",
        }
    key = load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the service-account signing key must be RSA (RS256)")
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": _b64url(hashlib.sha256(der).digest()),
        "n": _b64url(_uint(numbers.n)),
        "e": _b64url(_uint(numbers.e)),
    }


def jwks_document(*public_key_pems: str) -> str:
    """The JWKS of one issuer (several keys while a signing key is being rotated)."""
    return json.dumps({"keys": [jwk(p) for p in public_key_pems]}, indent=2, sort_keys=True) + "\n"


def gcp_provider_audience(provider_name: str) -> str:
    """``provider_name``: projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<id>."""
    return f"//iam.googleapis.com/{provider_name}"


def gcp_principal_set(pool_name: str, cluster: str, subject: str) -> str:
    """The pool principals of one Kubernetes service account in one cluster
    (``attribute.workload`` is mapped to ``<cluster>/<sub>`` by every provider)."""
    return f"principalSet://iam.googleapis.com/{pool_name}/attribute.workload/{cluster}/{subject}"


def gcp_attribute_mapping(cluster: str) -> dict[str, str]:
    return {
        "google.subject": "assertion.sub",
        "attribute.cluster": f"'{cluster}'",
        "attribute.workload": f"'{cluster}/' + assertion.sub",
    }


GCP_ATTRIBUTE_CONDITION = "assertion.sub.startsWith('system:serviceaccount:')"


def gcp_credential_config(provider_name: str, service_account_email: str) -> str:
    """The external-account credential file Google's client libraries read
    (GOOGLE_APPLICATION_CREDENTIALS) in a pod of the cluster behind ``provider_name``."""
    return (
        json.dumps(
            {
                "type": "external_account",
                "audience": gcp_provider_audience(provider_name),
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "token_url": "https://sts.googleapis.com/v1/token",
                "service_account_impersonation_url": (
                    "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                    f"{service_account_email}:generateAccessToken"
                ),
                "credential_source": {"file": GCP_TOKEN_PATH, "format": {"type": "text"}},
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )


def aws_trust_policy(statements: Sequence[tuple[str, str]], subject: str) -> str:
    """Trust policy of a workload's role: ``statements`` are (OIDC provider ARN, issuer
    host/path) per selected cluster; each admits exactly ``subject`` for STS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    # Named after the cluster (the issuer's last path segment), not a position.
                    "Sid": "Cluster" + re.sub(r"[^A-Za-z0-9]", "", host_path.rsplit("/", 1)[-1]),
                    "Effect": "Allow",
                    "Principal": {"Federated": arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{host_path}:sub": subject,
                            f"{host_path}:aud": AWS_AUDIENCE,
                        }
                    },
                }
                for arn, host_path in statements
            ],
        },
        sort_keys=True,
    )
