"""The model half of ``mfcore report``: split, tuning, final fits, ranking and case studies as steps."""

import json

import numpy as np
import pytest

from mfcore.analysis import report as R
from mfcore.analysis.model_steps import BUDGETS, MODEL_STEPS
from mfcore.cli import main

from .study_data import tiny_movies

STEP = {s.key: s for s in MODEL_STEPS}
TUNING_KEYS = ["fig13_lambda_grid", "fig15_lambda_random", "fig17_grid", "fig24_random_2d"]


def _run(data, tmp_path, keys=None, **kw):
    steps = MODEL_STEPS if keys is None else [STEP[k] for k in keys]
    kw.setdefault("quick", True)
    return R.run_report(data, tmp_path, steps=steps, show_progress=False, **kw)


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("model_report")
    return out, _run(tiny_movies(n_users=60, density=0.7), out, seed=1)


def test_every_model_step_runs_or_says_why(tiny_report):
    out, result = tiny_report
    assert [s["key"] for s in result["steps"]] == [s.key for s in MODEL_STEPS]
    for step in result["steps"]:
        assert step["status"] in ("ok", "skipped"), step
        if step["status"] == "skipped":
            assert step["note"], step
        for f in step["figures"]:
            assert (out / f["file"]).is_file()
            # captions are computed: they quote a number
            assert any(ch.isdigit() for ch in f["caption"]), f["caption"]
    ok = {s["key"] for s in result["steps"] if s["status"] == "ok"}
    # on 12 titled movies with genres every step but the t-SNE map can run
    assert set(STEP) - ok <= {"fig22_item_map", "genre_similarity"}, ok


def test_final_models_use_the_best_tuned_parameters(tiny_report):
    _, result = tiny_report
    by_key = {s["key"]: s for s in result["steps"]}
    rnd = by_key["fig24_random_2d"]["numbers"]
    grid = by_key["fig17_grid"]["numbers"]
    best = min((rnd["best_score"], "random search"), (grid["best_score"], "grid"))
    assert rnd["chosen_from"] == best[1]
    winner = rnd if best[1] == "random search" else grid
    assert rnd["chosen"] == {"factors": int(winner["best_params"]["factors"]),
                             "regularization": float(winner["best_params"]["regularization"])}
    assert by_key["fig14_als"]["numbers"]["params"] == rnd["chosen"]
    assert by_key["fig16_genre_als"]["numbers"]["params"]["factors"] == rnd["chosen"]["factors"]
    assert len(by_key["fig15_lambda_random"]["tables"][0]["rows"]) == BUDGETS[True]["random_trials"]


class _Untouchable:
    """Stands in for the test half: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"tuning touched the test split (.{name})")

    def __len__(self):
        raise AssertionError("tuning touched the test split (len)")


def test_tuning_never_touches_the_test_split(tmp_path):
    data = tiny_movies(n_users=50, density=0.7)

    def split_then_hide_test(ctx):
        result = STEP["split"].run(ctx)
        ctx.state["test"] = _Untouchable()
        return result

    steps = [R.Step("split", "split", split_then_hide_test)] + [STEP[k] for k in TUNING_KEYS]
    result = R.run_report(data, tmp_path, steps=steps, quick=True, show_progress=False, seed=2)
    assert [s["status"] for s in result["steps"]] == ["ok"] * 5
    # and the validation part is carved from the training half only
    train_ratings = result["steps"][0]["numbers"]["train_ratings"]
    v = result["steps"][1]["numbers"]["validation"]
    assert v["fit_ratings"] + v["validation_ratings"] == train_ratings and v["rule"] == "temporal"


def test_model_steps_are_deterministic(tmp_path):
    data = tiny_movies(n_users=50, density=0.7)
    keys = ["split", "fig12_bias_baseline", "fig15_lambda_random", "fig24_random_2d", "fig14_als", "fig19_dummy_user"]
    _run(data, tmp_path / "a", keys, seed=7)
    _run(data, tmp_path / "b", keys, seed=7)
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in "ab")
    a.pop("timings"), b.pop("timings")
    assert a == b


def test_without_timestamps_the_split_is_random_and_said(tmp_path):
    data = tiny_movies(n_users=50, density=0.7)
    no_time = data.subset(np.arange(len(data)))
    no_time._timestamps = None if hasattr(no_time, "_timestamps") else pytest.skip("no _timestamps slot")
    result = _run(no_time, tmp_path, ["split", "fig13_lambda_grid"])
    split, grid = result["steps"]
    assert split["status"] == "ok" and split["numbers"]["rule"] == "random"
    assert any("no timestamps" in n for n in split["notes"])
    assert grid["numbers"]["validation"]["rule"] == "random"


def test_implicit_only_data_skips_the_rating_steps(tmp_path):
    from mfcore import Interactions

    d = tiny_movies(n_users=50, density=0.7)
    implicit = Interactions.from_arrays(d.user_ids[d.users], d.item_ids[d.items], None, d.timestamps,
                                        item_ids=d.item_ids, item_genres=d.item_genres, genre_names=d.genre_names,
                                        titles=d.titles)
    result = _run(implicit, tmp_path, ["split", "fig12_bias_baseline", "fig13_lambda_grid", "fig18_precision"])
    status = {s["key"]: (s["status"], s["note"]) for s in result["steps"]}
    assert status["fig12_bias_baseline"][0] == "skipped" and "no rating values" in status["fig12_bias_baseline"][1]
    assert status["fig13_lambda_grid"][0] == "skipped"
    assert status["fig18_precision"][0] == "ok"


def test_unknown_dummy_movie_is_a_clear_error(tmp_path, capsys):
    data = tiny_movies(n_users=50, density=0.7)
    keys = ["split", "fig24_random_2d", "fig14_als", "fig19_dummy_user"]
    with pytest.raises(ValueError, match="--dummy-ratings.*Not A Real Movie"):
        _run(data, tmp_path, keys, options={"dummy_ratings": {"Not A Real Movie": 5.0}})
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["steps"][-1]["status"] == "failed"
    # a chosen user by title and by id
    result = _run(data, tmp_path / "ok", keys, options={"dummy_ratings": {"Alien": 5.0, 61: 1.0}})
    rated = result["steps"][-1]["numbers"]["rated"]
    assert [r["title"] for r in rated] == ["Alien (1979)", "Platoon (1986)"]


@pytest.mark.parametrize("argv, message", [
    (["--trials", "0"], "--trials must be at least 1"),
    (["--dpi", "5"], "--dpi must be between"),
    (["--dummy-ratings", "The Matrix"], "expects MOVIE=RATING"),
    (["--dummy-ratings", "The Matrix=five"], "is not a number"),
])
def test_cli_report_options_are_checked(tmp_path, capsys, argv, message):
    code = main(["report", "--data", str(tmp_path), "--out", str(tmp_path / "o"), *argv])
    assert code != 0
    assert message in capsys.readouterr().err
