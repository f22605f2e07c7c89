"""ml-100k (u.data / u.item / u.genre) parsing and every GroupLens release in fetch_movielens; no network."""

import hashlib
import io
import os
import re
import zipfile

import numpy as np
import pytest

from mfcore.data import fetch as fetch_module
from mfcore.data.fetch import DATASETS, MovieLensDownloadError, fetch_movielens
from mfcore.data.movielens import MovieLensFormatError, load_movielens
from tests.data.ml100k import RATINGS, write_ml100k
from tests.data.test_fetch import server  # noqa: F401  (the local HTTP server fixture)


def test_ml100k_folder_is_parsed(tmp_path):
    data = load_movielens(write_ml100k(tmp_path / "ml-100k"), cache=False)
    assert len(data) == len(RATINGS) and data.n_users == 4 and data.n_items == 5
    assert data.item_ids.tolist() == [1, 2, 3, 4, 5]            # the never-rated movie 5 is an item
    assert data.user_ids.tolist() == [1, 2, 3, 4]
    assert data.titles.tolist()[2] == "Cin\xe9ma Paradiso (1988)"   # latin-1 decoded
    dense = data.user_items().toarray()
    for u, i, r, _ in RATINGS:
        assert dense[u - 1, i - 1] == r
    assert data.user_items().nnz == len(RATINGS)
    genres = {data.item_ids[i]: {data.genre_names[g] for g in data.item_genres[i].indices}
              for i in range(data.n_items)}
    assert genres[1] == {"Animation", "Children's", "Comedy"}
    assert genres[2] == {"Action", "Adventure", "Thriller"}
    assert genres[3] == set()                                   # 'unknown' is no genre
    assert genres[5] == {"Drama"}
    assert "unknown" not in data.genre_names
    assert data.tags is None
    ts = dict(((u, i), t) for u, i, _, t in RATINGS)
    csr = data.user_items()
    assert data.timestamps.dtype == np.int64 and set(data.timestamps.tolist()) == set(ts.values())


def test_ml100k_equals_the_same_data_in_csv_layout(tmp_path):
    """One Interactions whatever the release format: ml-100k vs the same rows as ratings.csv + movies.csv."""
    a = load_movielens(write_ml100k(tmp_path / "ml-100k"), cache=False)
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},{r:.1f},{t}\n" for u, i, r, t in RATINGS))
    rows = [(int(i), f'"{t}"', "|".join(a.genre_names[g] for g in a.item_genres[k].indices) or "(no genres listed)")
            for k, (i, t) in enumerate(zip(a.item_ids, a.titles))]
    (csv_dir / "movies.csv").write_text("movieId,title,genres\n" + "".join(f"{i},{t},{g}\n" for i, t, g in rows),
                                        encoding="utf-8")
    b = load_movielens(csv_dir, cache=False)
    np.testing.assert_array_equal(a.user_items().toarray(), b.user_items().toarray())
    assert a.item_ids.tolist() == b.item_ids.tolist() and a.titles.tolist() == b.titles.tolist()
    assert a.genre_names == b.genre_names
    np.testing.assert_array_equal(a.item_genres.toarray(), b.item_genres.toarray())


def test_ml100k_without_u_genre_and_as_zip(tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k")
    full = load_movielens(folder, cache=False)
    bare = load_movielens(write_ml100k(tmp_path / "bare" / "ml-100k", with_genre_file=False), cache=False)
    assert bare.genre_names == full.genre_names
    np.testing.assert_array_equal(bare.item_genres.toarray(), full.item_genres.toarray())
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"ml-100k/{f.name}")
        zf.writestr("ml-100k/u1.base", "1\t1\t5\t1\n")          # the published splits are ignored
    zipped = load_movielens(archive, cache=False)
    np.testing.assert_array_equal(zipped.user_items().toarray(), full.user_items().toarray())
    assert zipped.titles.tolist() == full.titles.tolist()


def test_ml100k_cache_roundtrip(tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k")
    first = load_movielens(folder, cache_dir=tmp_path / "cache")
    assert any(p.suffix == ".npz" for p in (tmp_path / "cache").iterdir())
    again = load_movielens(folder, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first.user_items().toarray(), again.user_items().toarray())
    assert first.genre_names == again.genre_names and first.titles.tolist() == again.titles.tolist()


@pytest.mark.parametrize("fname, mutate, pattern", [
    ("u.item", lambda t: t.replace(b"|0|0|0|1|1|1", b"|0|0|1|1|1", 1), r"u\.item, line 1: expected 24 '\|'-separated"),
    ("u.item", lambda t: t.replace(b"||http://x|0|1", b"||http://x|2|1", 1), r"u\.item, line 2: genre flag '2'"),
    ("u.item", lambda t: t.replace(b"\n2|", b"\nx|", 1), r"u\.item, line 2.*movie id"),
    ("u.data", lambda t: t.replace(b"1\t1\t5\t", b"1\t1\t6\t", 1), r"u\.data, line 1: rating 6\.0 is outside"),
    ("u.data", lambda t: t.replace(b"1\t2\t3", b"1\t2.0\t3", 1), r"u\.data, line 2"),
    ("u.data", lambda t: t.replace(b"\t3\t1\t", b"\t9\t1\t", 1), r"movieId 9 of this rating is not in .*u\.item"),
    ("u.genre", lambda t: t.replace(b"Action|1", b"Action|7", 1), r"u\.genre.*repeated"),
])
def test_ml100k_errors_name_file_and_line(tmp_path, fname, mutate, pattern):
    folder = write_ml100k(tmp_path / "ml-100k")
    path = folder / fname
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(MovieLensFormatError, match=pattern):
        load_movielens(folder, cache=False)


def test_unsupported_layout_lists_the_supported_formats(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "u1.base").write_text("1\t1\t5\t1\n")
    (folder / "ratings.tsv").write_text("1\t1\t5\t1\n")
    with pytest.raises(FileNotFoundError) as exc:
        load_movielens(folder, cache=False)
    message = str(exc.value)
    assert "not a supported MovieLens layout" in message
    for layout in ("ratings.csv + movies.csv", "ratings.dat + movies.dat", "u.data + u.item", "from_dataframe"):
        assert layout in message
    (folder / "u.data").write_text("1\t1\t5\t1\n")                # u.data without u.item
    with pytest.raises(FileNotFoundError, match="u.item is missing"):
        load_movielens(folder, cache=False)


# ----------------------------------------------------------------------------
# fetch_movielens knows every release
# ----------------------------------------------------------------------------
ALL_RELEASES = ("ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest")


def test_every_grouplens_release_is_known_with_its_checksum():
    assert set(DATASETS) == set(ALL_RELEASES)
    for name, spec in DATASETS.items():
        if name.startswith("ml-latest"):
            assert "md5" not in spec, name                     # rebuilt by GroupLens: never pinned
        else:
            assert re.fullmatch(r"[0-9a-f]{32}", spec["md5"]), name
    assert len({spec["md5"] for spec in DATASETS.values() if "md5" in spec}) == len(ALL_RELEASES) - 2
    assert "pinned" in fetch_movielens.__doc__ and "ml-latest" in fetch_movielens.__doc__


def _zip(folder_name, files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for fname, data in files.items():
            zf.writestr(f"{folder_name}/{fname}", data)
    return buf.getvalue()


def _serve(routes, name, payload):
    routes[f"/movielens/{name}.zip"] = (payload, None)
    routes[f"/movielens/{name}.zip.md5"] = (f"MD5 ({name}.zip) = {hashlib.md5(payload).hexdigest()}\n".encode(), None)


@pytest.mark.parametrize("name", [n for n in ALL_RELEASES if "md5" in DATASETS[n]])
def test_pinned_checksum_refuses_a_different_published_one(server, tmp_path, name):  # noqa: F811
    _serve(server, name, b"not the release")
    with pytest.raises(MovieLensDownloadError, match=f"differs from the pinned {DATASETS[name]['md5']}"):
        fetch_movielens(name, tmp_path / "home", progress=False)
    assert not (tmp_path / "home" / name).exists()


def test_fetch_ml100k_and_ml10m_folder_name(server, tmp_path, monkeypatch):  # noqa: F811
    src = write_ml100k(tmp_path / "src")
    files = {f.name: f.read_bytes() for f in src.iterdir()}
    files["u1.base"] = b"1\t1\t5\t1\n"                            # not extracted
    monkeypatch.setitem(DATASETS, "ml-100k", {k: v for k, v in DATASETS["ml-100k"].items() if k != "md5"})
    _serve(server, "ml-100k", _zip("ml-100k", files))
    home = tmp_path / "home"
    data = fetch_movielens("ml-100k", home, progress=False, cache=False)
    assert len(data) == len(RATINGS) and data.n_items == 5
    assert sorted(p.name for p in (home / "ml-100k").iterdir()) == ["u.data", "u.genre", "u.item"]

    # ml-10m's zip holds ml-10M100K/, extracted to <home>/ml-10m
    dat = {"ratings.dat": b"1::1::4.5::100\n2::1::3.0::101\n", "movies.dat": b"1::Toy Story (1995)::Comedy\n"}
    monkeypatch.setitem(DATASETS, "ml-10m", {k: v for k, v in DATASETS["ml-10m"].items() if k != "md5"})
    _serve(server, "ml-10m", _zip("ml-10M100K", dat))
    ten = fetch_movielens("ml-10m", home, progress=False, cache=False)
    assert len(ten) == 2 and (home / "ml-10m" / "ratings.dat").is_file()


def test_downloaded_dataset_honours_the_umask(server, tmp_path, monkeypatch):  # noqa: F811
    src = write_ml100k(tmp_path / "src")
    monkeypatch.setitem(DATASETS, "ml-100k", {"layout": "100k"})
    _serve(server, "ml-100k", _zip("ml-100k", {f.name: f.read_bytes() for f in src.iterdir()}))
    old = os.umask(0o002)
    try:
        fetch_movielens("ml-100k", tmp_path / "home", progress=False, cache=False)
    finally:
        os.umask(old)
    target = tmp_path / "home" / "ml-100k"
    assert target.stat().st_mode & 0o777 == 0o775                 # not mkdtemp's 0700
    assert {p.stat().st_mode & 0o777 for p in target.iterdir()} == {0o664}


def test_fetch_progress_off_a_terminal_is_one_line(server, tmp_path, monkeypatch, capsys):  # noqa: F811
    src = write_ml100k(tmp_path / "src")
    monkeypatch.setitem(DATASETS, "ml-100k", {"layout": "100k"})
    _serve(server, "ml-100k", _zip("ml-100k", {f.name: f.read_bytes() for f in src.iterdir()}))
    fetch_movielens("ml-100k", tmp_path / "home", progress=True, cache=False)
    err = capsys.readouterr().err
    assert "\r" not in err and len(err.splitlines()) == 1 and "ml-100k.zip" in err, err
    assert fetch_module.MOVIELENS_URL.startswith("https://files.grouplens.org/")
