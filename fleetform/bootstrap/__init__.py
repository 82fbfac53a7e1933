"""Pure renderers of cloud-init user-data for etcd members, control-plane replicas and workers.

No Pulumi here: components call these inside ``Output.all(...).apply(...)`` with plain
values; tests call them with plain strings. Every document starts with
``#cloud-config``, holds no secret (only secret ids, fetched at boot with the node's
own identity), and differs between AWS and GCP only in ``/usr/local/lib/fleetform/cloud.sh``.
"""

from fleetform.bootstrap.document import (
    AWS_USER_DATA_LIMIT,
    dump_yaml,
    dump_yaml_documents,
    gzip_user_data,
    user_data_base64,
)
from fleetform.bootstrap.etcd import (
    etcd_config,
    etcd_release_url,
    etcd_restore_argv,
    etcd_restore_script,
    etcd_snapshot_save_argv,
    etcd_snapshot_save_script,
    etcd_systemd_unit,
    render_etcd_member,
)
from fleetform.bootstrap.inputs import (
    AuditLog,
    ControlPlaneInputs,
    ControlPlanePKI,
    EtcdBackup,
    EtcdMember,
    EtcdNodeInputs,
    EtcdTLS,
    ObjectLocation,
    SecretFile,
    SecretStore,
    WorkerInputs,
    aws_ebs_device_path,
    check_node_label,
    gcp_disk_device_path,
)
from fleetform.bootstrap.kubeadm import (
    apiserver_extra_args,
    audit_policy,
    authentication_config,
    ca_cert_hash,
    cluster_configuration,
    control_plane_join_configuration,
    encryption_config_template,
    init_configuration,
    kubeadm_control_plane_documents,
    worker_join_configuration,
)
from fleetform.bootstrap.kubernetes import render_control_plane, render_worker
from fleetform.bootstrap.shell import cloud_library, common_library, secret_fetch_commands
from fleetform.plan.identity import OIDC, ServiceAccountIssuer

__all__ = [
    "AWS_USER_DATA_LIMIT",
    "OIDC",
    "AuditLog",
    "ControlPlaneInputs",
    "ControlPlanePKI",
    "EtcdBackup",
    "EtcdMember",
    "EtcdNodeInputs",
    "EtcdTLS",
    "ObjectLocation",
    "SecretFile",
    "SecretStore",
    "ServiceAccountIssuer",
    "WorkerInputs",
    "apiserver_extra_args",
    "audit_policy",
    "authentication_config",
    "aws_ebs_device_path",
    "ca_cert_hash",
    "check_node_label",
    "cloud_library",
    "cluster_configuration",
    "common_library",
    "control_plane_join_configuration",
    "dump_yaml",
    "dump_yaml_documents",
    "encryption_config_template",
    "etcd_config",
    "etcd_release_url",
    "etcd_restore_argv",
    "etcd_restore_script",
    "etcd_snapshot_save_argv",
    "etcd_snapshot_save_script",
    "etcd_systemd_unit",
    "gcp_disk_device_path",
    "gzip_user_data",
    "init_configuration",
    "kubeadm_control_plane_documents",
    "render_control_plane",
    "render_etcd_member",
    "render_worker",
    "secret_fetch_commands",
    "user_data_base64",
    "worker_join_configuration",
]
