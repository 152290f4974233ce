import importlib.util
import os
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("jobs", os.path.join(ROOT, "blender_addon", "jobs.py"))
jobs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(jobs)


def test_job_runs_in_a_thread_and_reports_progress():
    def work(job):
        for i in range(5):
            job.progress(i + 1, 5)
            time.sleep(0.01)
        return "done"
    job = jobs.Job("test", work).start()
    assert job.wait(5)
    assert job.result == "done" and job.error is None and job.fraction == 1.0
    assert "5/5 frames" in job.status()


def test_job_can_be_cancelled():
    def work(job):
        for i in range(10_000):
            job.progress(i, 10_000)
            time.sleep(0.001)
        return "finished anyway"
    job = jobs.Job("slow", work).start()
    time.sleep(0.05)
    job.cancel()
    assert job.wait(5)
    assert isinstance(job.error, jobs.Cancelled) and job.result is None


def test_errors_reach_the_caller():
    def work(job):
        raise ValueError("no person was detected")
    with pytest.raises(ValueError, match="no person"):
        jobs.Job("bad", work).run_here()
