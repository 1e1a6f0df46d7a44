"""`eos-tui rm` deletes only eos-tui runs, and one run named twice is removed once (review findings)."""

from __future__ import annotations

import json

from tests.test_runs_rm import eos, make


def test_rm_refuses_a_folder_whose_manifest_is_not_an_eos_tui_run(tmp_path):
    # a web app's folder: manifest.json is a common name, and rm must not take the folder for a run
    web = tmp_path / "webapp"
    (web / "src").mkdir(parents=True)
    (web / "manifest.json").write_text(json.dumps({"name": "My PWA", "start_url": "/"}))
    (web / "src" / "index.js").write_text("code")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    for target in ("webapp", "broken"):
        r = eos("rm", target, cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "not an eos-tui run" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (web / "src" / "index.js").exists() and (tmp_path / "broken" / "manifest.json").exists()
    # a real run beside them is refused too when named with them: all or nothing
    run = make(tmp_path, "run", started="2026-01-01T10:00:00+00:00", ended="2026-01-01T10:01:00+00:00")
    r = eos("rm", "run", "webapp", cwd=tmp_path)
    assert r.returncode == 2 and "nothing removed" in r.stderr and run.is_dir()


def test_rm_of_one_run_under_two_names_removes_it_once(tmp_path):
    run = make(tmp_path, "run", started="2026-01-01T10:00:00+00:00", ended="2026-01-01T10:01:00+00:00")
    r = eos("rm", "run", str(tmp_path / "run"), "./run/", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines() == ["removed run"] and not run.exists()


def test_runs_does_not_list_a_folder_whose_manifest_is_someone_elses(tmp_path):
    web = tmp_path / "runs" / "webapp"
    web.mkdir(parents=True)
    (web / "manifest.json").write_text(json.dumps({"name": "My PWA", "status": 5}))
    (tmp_path / "runs" / "damaged").mkdir()
    (tmp_path / "runs" / "damaged" / "manifest.json").write_text('{"format": 1, "scen')
    make(tmp_path / "runs", "run", started="2026-01-01T10:00:00+00:00", ended="2026-01-01T10:01:00+00:00")
    r = eos("runs", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    listed = {x["run_dir"].split("/")[-1]: x["status"] for x in json.loads(r.stdout)}
    assert listed == {"run": "completed", "damaged": "unreadable"}
