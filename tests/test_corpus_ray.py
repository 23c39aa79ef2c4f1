"""The Ray engine writes the same rows as the local engine (one local Ray instance, 2 CPUs), for
token classifiers and GLiNER alike."""

from __future__ import annotations

import json

import pytest

from nerlens.corpus.job import run_job
from test_corpus import SENTENCES, assert_same_tables, settings_for

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_equals_local_and_resumes(local_ray, tmp_path, model_dir):
    path = tmp_path / "docs.jsonl"
    lines = [json.dumps({"text": t}) for t in SENTENCES[:5]] + ["{bad", json.dumps({"text": ""})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = settings_for(path, model_dir, shard_size=2)
    local = run_job(settings, tmp_path / "local", progress=False)
    distributed = run_job(settings, tmp_path / "ray", engine="ray", actors=2, progress=False)
    assert (distributed.ran, distributed.documents, distributed.errors) == (4, 5, 2)
    assert (local.documents, local.targets) == (distributed.documents, distributed.targets)
    assert_same_tables(tmp_path / "local", tmp_path / "ray", exact=False)  # other processes
    # a job started with one engine is finished by the other: nothing left to do here
    assert run_job(settings, tmp_path / "ray", progress=False).nothing_to_do


def test_a_gliner_job_on_ray_equals_local(local_ray, tmp_path, gliner_dir):
    """The model's options (labels, threshold) reach every actor with the job's settings."""
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(SENTENCES[:3]) + "\n", encoding="utf-8")
    settings = settings_for(
        path, gliner_dir, shard_size=2, model_options={"labels": ["person", "location"]}
    )
    local = run_job(settings, tmp_path / "local", progress=False)
    distributed = run_job(settings, tmp_path / "ray", engine="ray", actors=2, progress=False)
    assert (local.documents, local.targets) == (distributed.documents, distributed.targets)
    assert local.targets > 0
    assert_same_tables(tmp_path / "local", tmp_path / "ray", exact=False)
