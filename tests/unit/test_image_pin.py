"""A cluster's machine image: pinned explicitly (``image``) or resolved once; an image of
the other cloud is refused where it is written."""

from __future__ import annotations

from pathlib import Path

from .helpers import STACK, plan_text, problems

AMI = "ami-0123456789abcdef0"
GCP_IMAGE = "projects/ubuntu-os-cloud/global/images/ubuntu-2404-noble-amd64-v20251001"


def test_a_pinned_image_reaches_the_plan(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, f"""\
clusters:
  - {{name: a, cloud: aws, region: eu-west-1, network: {{index: 1}}, image: {AMI}}}
  - {{name: g, cloud: gcp, region: europe-west1, network: {{index: 2}}, image: {GCP_IMAGE}}}
  - {{name: n, cloud: aws, region: eu-west-1, network: {{index: 3}}}}
""")
    assert [(c.name, c.image) for c in plan.clusters] == [("a", AMI), ("g", GCP_IMAGE), ("n", None)]


def test_an_image_of_the_other_cloud_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, f"""\
clusters:
  - {{name: g, cloud: gcp, region: europe-west1, network: {{index: 2}}, image: {AMI}}}
""") == [f"{STACK}: fleet.clusters[0].image: '{AMI}' is an AWS image; cluster 'g' runs on GCP: give an image "
         "projects/<project>/global/images/<name>"]


def test_a_malformed_image_is_refused(tmp_path: Path) -> None:
    (line,) = problems(tmp_path, """\
clusters:
  - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}, image: ubuntu-latest}
""")
    assert line.startswith(f"{STACK}: fleet.clusters[0].image: ")
