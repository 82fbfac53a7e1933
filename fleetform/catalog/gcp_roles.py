"""Predefined GCP roles that cannot be granted on a project.

IAM refuses a binding of a role on a resource below the role's "lowest-level resource"
(``Role roles/billing.viewer is not supported for this resource``), so a workload
identity whose ``gcp.roles`` names one of these would pass every offline check and fail
at `pulumi up`. Each entry: the role and the lowest resource it can be granted on, from
Google's role reference (cloud.google.com/iam/docs/roles-permissions/billing,
/resourcemanager, /orgpolicy, /iam, "Lowest-level resources where you can grant this
role"). Roles not listed are assumed grantable on a project.
"""

from __future__ import annotations

BILLING_ACCOUNT = "billing account"
ORGANIZATION = "organization"
FOLDER = "folder"

NOT_ON_PROJECT: dict[str, str] = {
    "roles/billing.admin": BILLING_ACCOUNT,
    "roles/billing.costsManager": BILLING_ACCOUNT,
    "roles/billing.user": BILLING_ACCOUNT,
    "roles/billing.viewer": BILLING_ACCOUNT,
    "roles/billing.creator": ORGANIZATION,
    "roles/resourcemanager.organizationAdmin": ORGANIZATION,
    "roles/resourcemanager.organizationViewer": ORGANIZATION,
    "roles/orgpolicy.policyAdmin": ORGANIZATION,
    "roles/iam.organizationRoleAdmin": ORGANIZATION,
    "roles/iam.organizationRoleViewer": ORGANIZATION,
    "roles/resourcemanager.folderAdmin": FOLDER,
    "roles/resourcemanager.folderCreator": FOLDER,
    "roles/resourcemanager.folderEditor": FOLDER,
    "roles/resourcemanager.folderIamAdmin": FOLDER,
    "roles/resourcemanager.folderMover": FOLDER,
    "roles/resourcemanager.folderViewer": FOLDER,
}

# What a workload that needs such a role does instead.
_INSTEAD = {
    BILLING_ACCOUNT: "bind it on the billing account (gcloud billing accounts add-iam-policy-binding) to the "
                     "service account fleetform creates, or use an existing service_account that holds it",
    ORGANIZATION: "bind it on the organization to the service account fleetform creates, or use an existing "
                  "service_account that holds it",
    FOLDER: "bind it on the folder to the service account fleetform creates, or use an existing "
            "service_account that holds it",
}


def project_grant_problem(role: str) -> str | None:
    """Why ``role`` cannot be bound on a project (and what to do), or None."""
    level = NOT_ON_PROJECT.get(role)
    if level is None:
        return None
    return (f"{role} cannot be granted on a project: its lowest level is the {level}, and fleetform binds "
            f"gcp.roles on the fleet's project; remove it here and {_INSTEAD[level]}")
