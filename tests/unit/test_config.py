def test_relative_paths_stay_where_the_process_started_after_a_chdir(tmp_path, monkeypatch):
    """dbt changes the working directory of the process it runs in: the default home must not move."""
    from nexus_pipelines.lib import config

    before = config.load_settings({}).home
    monkeypatch.chdir(tmp_path)
    after = config.load_settings({"NEXUS_LANDING_DIR": "in/here"})
    assert after.home == before == (config.LAUNCH_DIR / ".nexus").resolve()
    assert after.landing_dir == (config.LAUNCH_DIR / "in" / "here").resolve()
