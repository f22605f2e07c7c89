"""The ``mfcore`` command line, run in-process through ``main(argv)``."""

import re

import pytest

from mfcore.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info(capsys):
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert "OpenMP: on" in out and "numpy" in out and "thread pools" in out


def _table_rows(out):
    """Parse the quickstart table into {model: {column: text}} (model names may contain one space)."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("model"))
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = {}
    for ln in lines[start + 2:]:
        if not ln.strip() or ln.startswith("cold start"):
            break
        parts = ln.rsplit(None, len(header) - 1)
        rows[parts[0].strip()] = dict(zip(header[1:], parts[1:]))
    return rows


def test_quickstart_builtin_prints_table(capsys):
    code, out, _ = run(capsys, "quickstart", "--quiet", "--iterations", "4", "--factors", "8")
    assert code == 0, out
    table = _table_rows(out)
    assert set(table) == {"bias baseline", "ExplicitALS", "GenreALS", "BPR", "ImplicitALS"}, out
    assert float(table["ExplicitALS"]["RMSE"]) < float(table["bias baseline"]["RMSE"])
    assert table["BPR"]["RMSE"] == "-" and float(table["BPR"]["P@10"]) > 0
    assert "cold start" in out


def test_quickstart_on_ml_small(capsys, ml_small_path, data_home, monkeypatch):
    monkeypatch.setenv("MFCORE_DATA_HOME", str(data_home))
    code, out, _ = run(capsys, "quickstart", "--dataset", "ml-latest-small", "--iterations", "6")
    assert code == 0, out
    table = _table_rows(out)
    assert float(table["ExplicitALS"]["RMSE"]) < float(table["bias baseline"]["RMSE"]), out
    assert float(table["GenreALS"]["RMSE"]) < float(table["bias baseline"]["RMSE"]), out
    for name in ("BPR", "ImplicitALS", "ExplicitALS"):
        assert 0.0 < float(table[name]["P@10"]) <= 1.0 and 0.0 < float(table[name]["NDCG@10"]) <= 1.0
    assert "100,836 ratings" in out


def test_data_stats(capsys, ml_small_path):
    code, out, _ = run(capsys, "data", "stats", str(ml_small_path))
    assert code == 0
    assert "ratings: 100,836" in out and "users: 610" in out and "items: 9,742" in out
    assert "Drama" in out and "rating histogram" in out


def test_data_synth_then_stats(capsys, tmp_path):
    out_dir = tmp_path / "synth"
    code, out, err = run(capsys, "data", "synth", "--scale", "small", "--out", str(out_dir), "--seed", "3")
    assert code == 0, err
    assert (out_dir / "ratings.csv").is_file() and (out_dir / "movies.csv").is_file()
    code, out, _ = run(capsys, "data", "stats", str(out_dir))
    assert code == 0 and "ratings: 150,000" in out


def test_train_and_recommend(capsys, tmp_path, ml_small_path):
    model_path = tmp_path / "als.npz"
    code, out, err = run(capsys, "train", "--model", "als", "--data", str(ml_small_path), "--iterations", "3",
                         "--factors", "8", "--out", str(model_path), "--quiet")
    assert code == 0, err
    assert model_path.is_file()
    code, out, err = run(capsys, "recommend", "--model", str(model_path), "--user", "1", "-n", "5",
                         "--data", str(ml_small_path))
    assert code == 0, err
    assert "top 5 for user 1" in out
    assert len([ln for ln in out.splitlines() if ln[:1].isdigit()]) == 5
    code, out, err = run(capsys, "recommend", "--model", str(model_path), "--rate", "1=5", "260=4.5", "2571=5",
                         "-n", "3", "--data", str(ml_small_path))
    assert code == 0, err
    assert "new user with 3 ratings" in out
    assert "(1995)" in out or "(19" in out        # titles printed


@pytest.mark.parametrize("argv, message", [
    (["recommend", "--model", "/nonexistent/model.npz", "--user", "1"], "model file not found"),
    (["data", "stats", "/nonexistent/dir"], "/nonexistent/dir"),
    (["quickstart", "--data", "/nonexistent/dir", "--quiet"], "/nonexistent/dir"),
])
def test_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mfcore: error: ") and message in lines[0], err


def test_recommend_unknown_user_and_bad_rate(capsys, tmp_path, ml_small_path):
    model_path = tmp_path / "m.npz"
    assert main(["train", "--data", str(ml_small_path), "--iterations", "1", "--factors", "4",
                 "--out", str(model_path), "--quiet"]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "recommend", "--model", str(model_path), "--user", "999999")
    assert code == 1 and "unknown user id 999999" in err
    code, _, err = run(capsys, "recommend", "--model", str(model_path), "--rate", "1:5")
    assert code == 1 and "expects MOVIE=RATING" in err


def test_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
