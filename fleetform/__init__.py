"""fleetform: fleets of self-managed Kubernetes clusters across AWS and GCP.

The cloud-agnostic core lives here (spec, load, plan, ipam, sizes, bootstrap, the
offline engine and the CLI); Pulumi resources live only in ``components/``.
"""

__version__ = "0.1.0"
