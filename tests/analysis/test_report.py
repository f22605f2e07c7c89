"""``mfcore report`` and the step framework behind it."""

import json
import re
from html import unescape
import sys

import numpy as np
import pandas as pd
import pytest
from .tiny_data import make_tiny

from mfcore.analysis import report as R
from mfcore.analysis.data import FIGURES, MissingDataError
from mfcore.analysis.model_steps import MODEL_STEPS
from mfcore.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_KEYS = [f"fig{num:02d}_{fn.__name__}" for num, fn in FIGURES]


def _json(out):
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def _without_timings(results):
    return {k: v for k, v in results.items() if k != "timings"}


# ----------------------------------------------------------------------------- end to end
def test_report_quick_on_ml_small(ml_small_path, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["report", "--data", str(ml_small_path), "--out", str(out), "--quick", "--seed", "3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    n_steps = len(R.default_steps())
    n_figures = 11 + sum(1 for s in MODEL_STEPS if s.key != "split")
    assert f"wrote {n_figures} figures" in captured.out and "0 skipped" in captured.out
    # stderr is not a terminal under pytest: one line per step
    assert len(re.findall(rf"^\[\d+/{n_steps}\] .*: done in", captured.err, flags=re.M)) == n_steps, captured.err
    results = _json(out)
    assert results["source"] == "ml-latest-small" and results["seed"] == 3 and results["quick"] is True
    assert results["dataset"]["n_ratings"] == 100_836
    assert [s["key"] for s in results["steps"]][:11] == DATA_KEYS
    html = (out / "report.html").read_text(encoding="utf-8")
    for step in results["steps"]:
        assert step["status"] == "ok", step
        for f in step["figures"]:
            assert (out / f["file"]).read_bytes().startswith(PNG_MAGIC)
            assert f["caption"] in unescape(html)
        for t in step["tables"]:
            assert (out / t["csv"]).is_file()
    assert html.count('src="data:image/png;base64,') == n_figures and 'src="http' not in html
    # numbers behind the captions are in the JSON: e.g. the Fig 9 threshold and the Fig 4 fit
    by_key = {s["key"]: s for s in results["steps"]}
    assert by_key["fig09_top_rated_movies"]["numbers"]["min_ratings"] == 50
    assert 0 < by_key["fig04_item_popularity_rank"]["numbers"]["exponent"] < 3
    rows = by_key["fig09_top_rated_movies"]["tables"][0]["rows"]
    assert rows[0]["title"] == "Shawshank Redemption, The (1994)" and rows[0]["n_ratings"] == 317
    # the model half: the final ALS uses the tuned parameters and beats the bias baseline on test
    chosen = by_key["fig24_random_2d"]["numbers"]["chosen"]
    assert by_key["fig14_als"]["numbers"]["params"] == chosen
    als_rmse = by_key["fig14_als"]["numbers"]["summary"]["heldout_rmse"]
    assert als_rmse < by_key["fig12_bias_baseline"]["numbers"]["summary"]["heldout_rmse"] < 1.0
    assert set(by_key["fig18_precision"]["numbers"]["precision"]) == {"BPR", "ALS (explicit)", "ImplicitALS"}


def test_report_is_deterministic(tmp_path):
    data = make_tiny()
    # a scatter, a KDE, a heatmap and a bar chart (the PNG bytes are compared, so keep it to a few)
    steps = [s for s in R.DATA_STEPS if s.key in ("fig02_popularity_vs_rating", "fig07_average_rating_density",
                                                  "fig06_top_users_items", "fig10_top_tags")]
    a = R.run_report(data, tmp_path / "a", steps=steps, seed=5, show_progress=False)
    b = R.run_report(data, tmp_path / "b", steps=steps, seed=5, show_progress=False)
    assert _without_timings(_json(tmp_path / "a")) == _without_timings(_json(tmp_path / "b"))
    for f in a["files"]:
        if f.endswith(".png") or f.endswith(".csv"):
            assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert a["files"] == b["files"]


def test_missing_tags_and_timestamps_become_notes(tmp_path):
    data = make_tiny(tags=False, timestamps=False)
    result = R.run_report(data, tmp_path, steps=R.DATA_STEPS, show_progress=False)
    status = {s["key"]: (s["status"], s["note"]) for s in result["steps"]}
    assert status["fig03_ratings_per_month"][0] == "skipped" and "timestamps" in status["fig03_ratings_per_month"][1]
    assert status["fig10_top_tags"][0] == "skipped" and "tags" in status["fig10_top_tags"][1]
    # the tiny dataset has no movie with 50 ratings: Fig 9 is skipped with the reason, not drawn empty
    assert status["fig09_top_rated_movies"] == ("skipped", "no movie has at least 50 ratings")
    assert {k for k, (st, _) in status.items() if st == "ok"} == set(DATA_KEYS) - {
        "fig03_ratings_per_month", "fig10_top_tags", "fig09_top_rated_movies"}
    assert not (tmp_path / "fig10_top_tags.png").exists() and (tmp_path / "fig01_rating_distribution.png").exists()
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count('<p class="note">Skipped:') == 3 and "timestamps" in html


def test_report_without_genres_skips_the_genre_figures(tmp_path):
    genre_keys = {"fig07_average_rating_density", "fig08_genre_counts", "fig11_genre_cooccurrence"}
    steps = [s for s in R.DATA_STEPS if s.key in genre_keys]
    result = R.run_report(make_tiny(genres=False), tmp_path, steps=steps, show_progress=False)
    assert {s["key"]: s["status"] for s in result["steps"]} == dict.fromkeys(genre_keys, "skipped")
    assert all("genres" in s["note"] for s in result["steps"])


# ----------------------------------------------------------------------------- the step contract
def _custom_steps(log):
    def first(ctx):
        log.append(("first", ctx.rng("first").integers(1 << 30), ctx.quick, ctx.seed))
        ctx.progress.reset(total=3)
        for _ in range(3):
            ctx.progress.update()
        ctx.state["split"] = "train/test"
        plt = R.pyplot()
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [3, 1, 2])
        table = pd.DataFrame({"K": [10, 20], "rmse": [0.85, np.nan]})
        return R.StepResult(figures=[R.FigureOutput("fig90_custom", fig, "A custom caption with 0.85.")],
                            numbers={"best_rmse": np.float32(0.85), "curve": np.arange(3)},
                            tables=[R.TableOutput("grid", table, caption="RMSE by K"),
                                    R.TableOutput("raw", table)],
                            notes=["A note about the step."])

    def second(ctx):
        log.append(("second", ctx.state["split"]))
        return R.StepResult(numbers={"saw": ctx.state["split"]})

    def third(ctx):
        log.append(("third",))
        return R.StepResult()

    def missing(ctx):
        raise MissingDataError("case_study", "genres")

    return [R.Step("custom", "Custom step", first, section="Training"),
            R.Step("uses_split", "Uses the split", second, requires=("split",), section="Training"),
            R.Step("needs_tuning", "Needs tuning", third, requires=("best_params",), section="Tuning"),
            R.Step("no_genres", "Needs genres", missing, section="Case studies")]


def test_step_contract(tmp_path):
    log = []
    R.run_report(make_tiny(), tmp_path, steps=_custom_steps(log), quick=True, seed=11, show_progress=False)
    assert [entry[0] for entry in log] == ["first", "second"]           # third skipped: needs best_params
    assert log[0][2:] == (True, 11) and log[1] == ("second", "train/test")
    assert log[0][1] == R.ReportContext(None, "", tmp_path, seed=11).rng("first").integers(1 << 30)
    steps = {s["key"]: s for s in _json(tmp_path)["steps"]}
    assert steps["custom"]["numbers"] == {"best_rmse": pytest.approx(0.85), "curve": [0, 1, 2]}
    assert steps["custom"]["figures"] == [{"file": "fig90_custom.png", "caption": "A custom caption with 0.85."}]
    grid = steps["custom"]["tables"][0]
    assert grid["csv"] == "tables/grid.csv" and grid["rows"] == [{"K": 10, "rmse": 0.85}, {"K": 20, "rmse": None}]
    assert (tmp_path / "tables" / "raw.csv").read_text().splitlines() == ["K,rmse", "10,0.85", "20,"]
    assert steps["uses_split"]["numbers"] == {"saw": "train/test"}
    assert steps["needs_tuning"]["status"] == "skipped" and "best_params" in steps["needs_tuning"]["note"]
    assert steps["no_genres"]["status"] == "skipped" and "genres" in steps["no_genres"]["note"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<b>Table 1.</b> RMSE by K" in html and "Table 2." not in html     # only captioned tables shown
    assert "A note about the step." in html
    assert html.index("<h2>Training</h2>") < html.index("<h2>Tuning</h2>") < html.index("<h2>Case studies</h2>")
    assert html.count("<h2>Training</h2>") == 1


def test_failing_step_is_recorded_then_raised(tmp_path):
    def boom(ctx):
        raise RuntimeError("kernel exploded")

    steps = [R.DATA_STEPS[0], R.Step("boom", "Boom", boom), R.DATA_STEPS[1]]
    with pytest.raises(RuntimeError, match="kernel exploded"):
        R.run_report(make_tiny(), tmp_path, steps=steps, show_progress=False)
    results = _json(tmp_path)
    assert [(s["key"], s["status"]) for s in results["steps"]] == [
        ("fig01_rating_distribution", "ok"), ("boom", "failed")]
    assert results["steps"][1]["note"] == "RuntimeError: kernel exploded"
    assert (tmp_path / "fig01_rating_distribution.png").exists()
    assert "Failed: RuntimeError: kernel exploded" in (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("bad, match", [
    ([R.DATA_STEPS[0], R.DATA_STEPS[0]], "unique"),
])
def test_bad_step_lists(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        R.run_report(make_tiny(), tmp_path, steps=bad, show_progress=False)


def test_step_must_return_a_step_result(tmp_path):
    with pytest.raises(TypeError, match="expected StepResult"):
        R.run_report(make_tiny(), tmp_path, steps=[R.Step("x", "X", lambda ctx: {"a": 1})], show_progress=False)


def test_progress_lines_and_silence(tmp_path, capsys):
    R.run_report(make_tiny(), tmp_path / "a", steps=R.DATA_STEPS[:2], show_progress=None)
    err = capsys.readouterr().err
    assert re.findall(r"^\[(\d)/2\] (.*?): done in \d+\.\d s$", err, flags=re.M) == [
        ("1", "Rating distribution (Fig. 1)"), ("2", "Popularity vs average rating (Fig. 2)")]
    R.run_report(make_tiny(), tmp_path / "b", steps=R.DATA_STEPS[:2], show_progress=False)
    assert capsys.readouterr().err == ""


def test_report_needs_matplotlib_before_any_work(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "mfcore\[report\]"'):
        R.run_report(make_tiny(), tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()


def test_every_data_step_has_a_computed_caption(tmp_path):
    """Captions quote the data: change the data and the caption changes."""
    a = R.run_report(make_tiny(), tmp_path / "a", steps=R.DATA_STEPS[:1], show_progress=False)
    caption = a["steps"][0]["figures"][0]["caption"]
    assert caption.startswith("4 stars is the most common rating (37.5% of 8 ratings)")
    assert "87.5% of ratings lie above the middle of the scale (2.75)" in caption


def test_cli_report_needs_a_source_and_out(capsys):
    with pytest.raises(SystemExit) as err:
        main(["report", "--out", "x"])
    assert err.value.code == 2
    with pytest.raises(SystemExit):
        main(["report", "--data", "x"])
    assert "--out" in capsys.readouterr().err


def test_cli_report_error_is_one_line(tmp_path, capsys):
    code = main(["report", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("mfcore: error:") and len(err.strip().splitlines()) == 1
