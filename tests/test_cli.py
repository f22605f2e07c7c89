"""The ``mfcore`` command line, run in-process through ``main(argv)``."""

import argparse
import inspect
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mfcore
from mfcore import cli
from mfcore.cli import main
from tests.data.ml100k import write_ml100k


@pytest.fixture(scope="module")
def _module_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mfcore-cache")


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, _module_cache_dir):
    """The commands' parsed-data cache goes to a temporary folder, never the user's ~/.cache."""
    monkeypatch.setenv("MFCORE_CACHE_DIR", str(_module_cache_dir))


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
    assert code == 2 and "expects MOVIE=RATING" in err


def test_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


# ----------------------------------------------------------------------------
# issue 11: options, exit codes, output off a terminal, Ctrl-C, permissions, cache
# ----------------------------------------------------------------------------




REPO = Path(__file__).resolve().parents[1]


def _all_actions(parser, path="mfcore"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_actions(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_option_of_every_command_has_help():
    missing = [f"{path}: {action.option_strings or action.dest}"
               for path, action in _all_actions(cli.build_parser())
               if not (action.help or "").strip() or action.help == argparse.SUPPRESS]
    assert missing == []


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"mfcore {mfcore.__version__}"


def test_train_defaults_come_from_the_model_classes(capsys):
    # the help shows each model's own defaults, read from its __init__, nothing duplicated
    text = cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    bpr_iterations = inspect.signature(mfcore.BPR.__init__).parameters["iterations"].default
    assert f"bpr {bpr_iterations}" in " ".join(text.split())
    args = cli.build_parser().parse_args(["train", "--synthetic", "--model", "bpr", "--out", "x.npz"])
    model = cli._make_model("bpr", args)
    assert model.get_params()["iterations"] == mfcore.BPR().get_params()["iterations"]
    assert model.get_params()["learning_rate"] == mfcore.BPR().get_params()["learning_rate"]


@pytest.mark.parametrize("model, flags, expected", [
    ("implicit-als", ["--regularization", "0.5", "--alpha", "3", "--positive-threshold", "3.5", "--solver",
                      "cholesky"], {"regularization": 0.5, "alpha": 3.0, "positive_threshold": 3.5,
                                    "solver": "cholesky"}),
    ("implicit-als", ["--positive-threshold", "none"], {"positive_threshold": None}),
    ("bpr", ["--learning-rate", "0.01", "--regularization", "0.1", "--bias-regularization", "0.2"],
     {"learning_rate": 0.01, "regularization": 0.1, "bias_regularization": 0.2}),
    ("als", ["--bias-regularization", "7", "--solver", "cg", "--cg-steps", "4"],
     {"bias_regularization": 7.0, "solver": "cg", "cg_steps": 4}),
    ("genre-als", ["--genre-weight", "3", "--genre-bias-weight", "0"], {"genre_weight": 3.0, "genre_bias_weight": 0.0}),
])
def test_train_flags_reach_every_model(model, flags, expected):
    args = cli.build_parser().parse_args(["train", "--synthetic", "--model", model, "--out", "x.npz", *flags])
    params = cli._make_model(model, args).get_params()
    assert {k: params[k] for k in expected} == expected


def test_train_flag_a_model_does_not_have_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--synthetic", "--model", "als", "--alpha", "2", "--out",
                       str(tmp_path / "m.npz"))
    assert code == 2 and "--alpha does not apply to --model als" in err and "usage:" in err
    code, _, err = run(capsys, "train", "--synthetic", "--model", "bpr", "--learning-rate", "-1", "--out",
                       str(tmp_path / "m.npz"))
    assert code == 2 and "learning_rate" in err
    assert not (tmp_path / "m.npz").exists()


def test_train_requires_a_data_option(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--out", str(tmp_path / "m.npz")])
    assert exc.value.code == 2
    assert "--synthetic" in capsys.readouterr().err


def test_train_implicit_als_regularization_is_honoured(capsys, tmp_path):
    out = tmp_path / "ials.npz"
    code, text, err = run(capsys, "train", "--synthetic", "--model", "implicit-als", "--regularization", "0.25",
                          "--iterations", "2", "--factors", "4", "--out", str(out), "--quiet")
    assert code == 0, err
    model = mfcore.load_model(out)
    assert model.regularization == 0.25 and model.iterations == 2


def test_ctrl_c_saves_a_partial_model(capsys, tmp_path, monkeypatch):
    from mfcore.models import ExplicitALS

    original = ExplicitALS._run_epoch

    def interrupted(self, fit, epoch):
        if epoch == 3:
            raise KeyboardInterrupt
        return original(self, fit, epoch)

    monkeypatch.setattr(ExplicitALS, "_run_epoch", interrupted)
    out = tmp_path / "als.npz"
    code, _, err = run(capsys, "train", "--synthetic", "--iterations", "6", "--factors", "4", "--out", str(out),
                       "--quiet")
    assert code == 130
    partial = tmp_path / "als.partial.npz"
    assert "interrupted after 2 of 6 epoch(s)" in err and str(partial) in err, err
    assert not out.exists() and partial.is_file()
    assert mfcore.load_model(partial).user_factors.shape[1] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["als.partial.npz"]     # no temporaries left


def test_ctrl_c_before_the_first_epoch_says_nothing_was_saved(capsys, tmp_path, monkeypatch):
    from mfcore.models import ExplicitALS

    def interrupted(self, fit, epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(ExplicitALS, "_run_epoch", interrupted)
    code, _, err = run(capsys, "train", "--synthetic", "--iterations", "3", "--factors", "4",
                       "--out", str(tmp_path / "m.npz"), "--quiet")
    assert code == 130 and "no model was saved" in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def small_models(tmp_path_factory):
    """An ExplicitALS and an ImplicitALS trained on the ml-100k-shaped fixture (no real data needed)."""
    root = tmp_path_factory.mktemp("m100k")
    data = write_ml100k(root / "ml-100k")
    paths = {}
    for name in ("als", "implicit-als"):
        paths[name] = root / f"{name}.npz"
        assert main(["train", "--data", str(data), "--model", name, "--iterations", "2", "--factors", "2",
                     "--out", str(paths[name]), "--quiet"]) == 0
    return data, paths


@pytest.mark.parametrize("argv, message", [
    (["--user", "abc"], "--user expects an integer user id"),
    (["--rate", "1=7"], "outside the rating scale [1, 5]"),       # the model's training scale (ml-100k: 1..5)
    (["--rate", "1=0.1"], "outside the rating scale"),
    (["--rate", "1=nan"], "outside the rating scale"),
    (["--rate", "x=4"], "is not an integer id"),
    (["--rate", "1=good"], "is not a number"),
    (["--rate", "1=4", "1=5"], "twice"),
    (["--user", "1", "-n", "0"], "-n must be at least 1"),
])
def test_recommend_bad_values_are_usage_errors(capsys, small_models, argv, message):
    _, paths = small_models
    code, out, err = run(capsys, "recommend", "--model", str(paths["als"]), *argv)
    assert code == 2 and out == ""
    assert err.startswith("usage: mfcore recommend") and "\nmfcore recommend: error: " in err, err
    assert message in err.splitlines()[-1], err


def test_rate_scale_without_a_recorded_one_is_movielens(capsys, small_models):
    _, paths = small_models
    assert mfcore.load_model(paths["implicit-als"]).rating_scale_ is None
    code, _, err = run(capsys, "recommend", "--model", str(paths["implicit-als"]), "--rate", "1=5.5")
    assert code == 2 and "outside the rating scale [0.5, 5]" in err, err


def test_recommend_user_and_rate_are_exclusive(capsys, small_models):
    _, paths = small_models
    with pytest.raises(SystemExit) as exc:
        main(["recommend", "--model", str(paths["als"]), "--user", "1", "--rate", "1=5"])
    assert exc.value.code == 2


def test_implicit_fold_in_from_sub_threshold_ratings_is_refused(capsys, small_models):
    data, paths = small_models
    code, out, err = run(capsys, "recommend", "--model", str(paths["implicit-als"]), "--rate", "1=2", "2=3.5")
    assert code == 1 and "positive_threshold=4" in err and "nothing to fold in" in err, err
    code, out, err = run(capsys, "recommend", "--model", str(paths["implicit-als"]), "--rate", "1=2", "2=4",
                         "-n", "3", "--data", str(data))
    assert code == 0, err
    # the three movies the user did not rate, the never-rated one included (the genre prior gives it a vector)
    assert "new user with 2 ratings" in out
    assert all(title in out for title in ("Cin\xe9ma Paradiso", "Heat (1995)", "Never Rated (1995)")), out


@pytest.mark.parametrize("content", [b"garbage\n", b"PK\x03\x04" + b"\0" * 40])
def test_garbage_model_file_gets_an_mfcore_message(capsys, tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    code, _, err = run(capsys, "recommend", "--model", str(path), "--user", "1")
    assert code == 1 and err.startswith(f"mfcore: error: {path}") and "pickle" not in err, err


def test_pickled_model_file_does_not_mention_allow_pickle(capsys, tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, __header__=np.array([{"a": 1}], dtype=object))
    code, _, err = run(capsys, "recommend", "--model", str(path), "--user", "1")
    assert code == 1 and "allow_pickle" not in err and str(path) in err, err


def _subprocess_env(**extra):
    env = dict(os.environ, PYTHONPATH=str(REPO), **extra)
    env.pop("MFCORE_DEBUG", None)
    return env


def test_closed_stdout_pipe_ends_quietly(tmp_path):
    """`mfcore data stats ... | head -1`: the reader is gone before mfcore writes; no error text."""
    data = write_ml100k(tmp_path / "ml-100k")
    with subprocess.Popen([sys.executable, "-m", "mfcore", "data", "stats", str(data)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=_subprocess_env(MFCORE_CACHE_DIR=str(tmp_path / "c"))) as proc:
        proc.stdout.close()                   # the reader went away
        err = proc.stderr.read()
        code = proc.wait(timeout=120)
    assert code in (0, 141) and err == b"", (code, err)


def test_quickstart_off_a_terminal_writes_lines_not_bars(tmp_path):
    log = tmp_path / "stderr.log"
    with open(log, "wb") as fh:
        code = subprocess.call([sys.executable, "-m", "mfcore", "quickstart", "--synthetic", "--factors", "4",
                                "--iterations", "3"], stdout=subprocess.DEVNULL, stderr=fh, env=_subprocess_env())
    assert code == 0
    text = log.read_bytes()
    assert b"\r" not in text and b"\x1b" not in text, text[:300]
    lines = text.decode().splitlines()
    # one line per fit (bias baseline, ExplicitALS, GenreALS, BPR, ImplicitALS; GenreALS again for cold start: quiet)
    assert len(lines) == 5 and all("3/3 epochs" in ln or "epochs" in ln for ln in lines), lines
    assert any(ln.startswith("BPR: 3/3 epochs") for ln in lines), lines


def test_logger_gets_one_record_per_epoch(caplog, tmp_path):
    data = mfcore.load_movielens(write_ml100k(tmp_path / "ml-100k"), cache=False)
    with caplog.at_level(logging.INFO, logger="mfcore"):
        mfcore.ExplicitALS(factors=2, iterations=3).fit(data, show_progress=False)
    records = [r for r in caplog.records if r.name == "mfcore" and hasattr(r, "mfcore_record")]
    assert [r.mfcore_record["epoch"] for r in records] == [1, 2, 3]
    assert all(r.mfcore_model == "ExplicitALS" and "train_rmse" in r.getMessage() for r in records)


def test_verbose_prints_epoch_records(capsys, tmp_path):
    code, _, err = run(capsys, "-v", "train", "--synthetic", "--iterations", "2", "--factors", "2",
                       "--out", str(tmp_path / "m.npz"), "--quiet")
    assert code == 0
    assert "mfcore: ExplicitALS epoch 1/2" in err and "mfcore: ExplicitALS epoch 2/2" in err, err


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    try:
        yield 0o002
    finally:
        os.umask(old)


def test_saved_models_and_caches_honour_the_umask(capsys, tmp_path, umask_002, monkeypatch):
    from mfcore._permissions import current_umask

    assert current_umask() == 0o002
    monkeypatch.setenv("MFCORE_CACHE_DIR", str(tmp_path / "cache"))
    data = write_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "m.npz"
    assert main(["train", "--data", str(data), "--iterations", "1", "--factors", "2", "--out", str(out),
                 "--quiet"]) == 0
    assert out.stat().st_mode & 0o777 == 0o664
    cache_files = list((tmp_path / "cache").iterdir())
    assert cache_files and {p.stat().st_mode & 0o777 for p in cache_files} == {0o664}
    os.umask(0o077)
    assert main(["train", "--data", str(data), "--iterations", "1", "--factors", "2", "--out", str(out),
                 "--quiet"]) == 0
    assert out.stat().st_mode & 0o777 == 0o600


def test_cache_info_and_clear(capsys, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MFCORE_CACHE_DIR", str(cache))
    data = write_ml100k(tmp_path / "ml-100k")
    mfcore.load_movielens(data)
    (cache / "notes.txt").write_text("not ours")
    info = mfcore.cache_info()
    assert info["directory"] == str(cache) and info["entries"] == 1 and info["files"] >= 1 and info["bytes"] > 0
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and "cached datasets: 1 " in out and str(cache) in out
    code, out, _ = run(capsys, "cache", "clear")
    assert code == 0 and f"removed {info['files']} cache files" in out
    assert [p.name for p in cache.iterdir()] == ["notes.txt"]      # only mfcore's own files
    assert mfcore.cache_info()["entries"] == 0
    assert mfcore.clear_cache(tmp_path / "absent")["removed"] == 0


def test_train_implicit_als_genre_share(small_models, tmp_path):
    """ImplicitALS trained from MovieLens files uses the genre prior by default; --genre-share 0 turns it off."""
    from mfcore.models import ImplicitALS

    data, paths = small_models
    assert ImplicitALS.load(paths["implicit-als"]).genre_factors is not None
    out = tmp_path / "plain.npz"
    assert main(["train", "--data", str(data), "--model", "implicit-als", "--iterations", "2", "--factors", "2",
                 "--genre-share", "0", "--out", str(out), "--quiet"]) == 0
    plain = ImplicitALS.load(out)
    assert plain.genre_share == 0.0 and plain.genre_factors is None


def test_train_bpr_genre_share(small_models, tmp_path):
    """--genre-share reaches BPR: > 0 fits the genre prior (genres + release years from movies.csv), 0 does not."""
    from mfcore.models import BPR

    data, _ = small_models
    for share, has_prior in (("0.9", True), ("0", False)):
        out = tmp_path / f"bpr{share}.npz"
        assert main(["train", "--data", str(data), "--model", "bpr", "--iterations", "2", "--factors", "2",
                     "--genre-share", share, "--out", str(out), "--quiet"]) == 0
        model = BPR.load(out)
        assert model.genre_share == float(share)
        assert (model.genre_factors is not None) == has_prior


def test_train_implicit_als_popularity_bias(small_models, tmp_path):
    """--popularity-bias sets ImplicitALS's fixed item bias (saved with the model); 0 turns it off."""
    from mfcore.models import ImplicitALS

    data, paths = small_models
    assert ImplicitALS.load(paths["implicit-als"]).item_bias.any()         # on by default
    out = tmp_path / "nobias.npz"
    assert main(["train", "--data", str(data), "--model", "implicit-als", "--iterations", "2", "--factors", "2",
                 "--popularity-bias", "0", "--out", str(out), "--quiet"]) == 0
    plain = ImplicitALS.load(out)
    assert plain.popularity_bias == 0.0 and not plain.item_bias.any()


def test_train_implicit_als_regularization_exponent(small_models, tmp_path):
    """--regularization-exponent / --item-regularization-exponent reach ImplicitALS and are saved with it."""
    from mfcore.models import ImplicitALS

    data, paths = small_models
    default = ImplicitALS.load(paths["implicit-als"])
    out = tmp_path / "freq.npz"
    assert main(["train", "--data", str(data), "--model", "implicit-als", "--iterations", "2", "--factors", "2",
                 "--regularization-exponent", "0.5",
                 "--item-regularization-exponent", "0.25", "--out", str(out), "--quiet"]) == 0
    model = ImplicitALS.load(out)
    assert (model.regularization_exponent, model.item_regularization_exponent) == (0.5, 0.25)
    assert model._count_means[0] > 0 and model._count_means[1] > 0
    assert default.regularization_exponent == ImplicitALS().regularization_exponent
    assert not np.array_equal(model.user_factors, default.user_factors)
    out = tmp_path / "same.npz"
    assert main(["train", "--data", str(data), "--model", "implicit-als", "--item-regularization-exponent", "none",
                 "--out", str(out), "--quiet"]) == 0
    assert ImplicitALS.load(out).item_regularization_exponent is None


def test_train_genre_als_cold_user_bias(small_models, tmp_path):
    """GenreALS keeps per-user offsets for unrated movies by default; --cold-user-bias sets or ('none') drops them."""
    from mfcore.models import GenreALS

    data, _ = small_models
    for value, expected in ((None, 5.0), ("none", None), ("2.5", 2.5)):
        out = tmp_path / f"m{value}.npz"
        extra = [] if value is None else ["--cold-user-bias", value]
        assert main(["train", "--data", str(data), "--model", "genre-als", "--iterations", "2", "--factors", "2",
                     *extra, "--out", str(out), "--quiet"]) == 0
        model = GenreALS.load(out)
        assert model.cold_user_bias == expected
        assert (model.user_cold_bias_ is None) == (expected is None)
