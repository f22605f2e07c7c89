"""Tests for mfcore.data.movielens.load_movielens: parsing, error messages, the cache."""

import os
import warnings
import zipfile

import numpy as np
import pytest

from mfcore.data import _cache, movielens as ml
from mfcore.data.movielens import MovieLensFormatError, load_movielens


@pytest.fixture
def tiny(tmp_path, write_movielens):
    return write_movielens(tmp_path / "tiny")


def load(path, tmp_path, **kw):
    kw.setdefault("cache_dir", tmp_path / "cache")
    return load_movielens(path, **kw)


# ---------------------------------------------------------------------------- real data
def test_ml_latest_small_exact_counts(ml_small_path, tmp_path):
    before = sorted(os.listdir(ml_small_path))
    inter = load(ml_small_path, tmp_path)
    assert len(inter) == 100_836
    assert inter.n_users == 610
    assert inter.n_items == 9_742
    assert len(inter.tags) == 3_683
    assert inter.n_genres == 19
    assert "(no genres listed)" not in inter.genre_names
    assert {"IMAX", "Film-Noir", "Sci-Fi", "Children"} <= set(inter.genre_names)
    assert inter.item_genres.shape == (9_742, 19)
    assert inter.ratings.dtype == np.float32 and inter.timestamps.dtype == np.int64
    assert inter.ratings.min() == 0.5 and inter.ratings.max() == 5.0
    # first line of ratings.csv: 1,1,4.0,964982703
    assert inter.user_id(int(inter.users[0])) == 1 and inter.item_id(int(inter.items[0])) == 1
    assert inter.ratings[0] == 4.0 and inter.timestamps[0] == 964982703
    toy = inter.item_index(1)
    assert inter.titles[toy] == "Toy Story (1995)"
    genres = [inter.genre_names[g] for g in inter.item_genres[toy].indices]
    assert genres == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert inter.global_mean == pytest.approx(3.501556983616962, rel=1e-12)
    assert sorted(os.listdir(ml_small_path)) == before  # nothing written beside the source
    cached = load(ml_small_path, tmp_path)  # second load: from the cache
    np.testing.assert_array_equal(cached.user_items().toarray(), inter.user_items().toarray())
    assert cached.genre_names == inter.genre_names
    assert list(cached.titles) == list(inter.titles)
    assert cached.tags.equals(inter.tags)


# ---------------------------------------------------------------------------- tiny CSV
def test_tiny_csv_contents(tiny, tmp_path):
    inter = load(tiny, tmp_path, cache=False)
    np.testing.assert_array_equal(inter.item_ids, [1, 2, 5, 10])  # movie 5 has no ratings but exists
    np.testing.assert_array_equal(inter.user_ids, [1, 2, 7, 9])  # user 9 only tagged
    assert len(inter) == 5
    assert inter.user_items().toarray().tolist() == [
        [4.0, 0, 0, 3.5], [0, 5.0, 0, 0], [0.5, 0, 0, 2.0], [0, 0, 0, 0]]
    assert inter.titles[1] == "American President, The (1995)"
    assert inter.item_genres[inter.item_index(5)].nnz == 0  # "(no genres listed)"
    assert inter.genre_names == sorted(["Adventure", "Animation", "Children", "Comedy", "Fantasy", "Drama",
                                        "Romance", "Action", "Crime", "Thriller"])
    assert inter.tags["tag"].tolist() == ["funny", "quotable, very", "heist"]
    assert inter.tags["user"].tolist() == [1, 1, 3]


def test_zip_input_matches_directory(tiny, tmp_path):
    zpath = tmp_path / "tiny.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in ("ratings.csv", "movies.csv", "tags.csv"):
            zf.write(tiny / f, f"tiny/{f}")
    a = load(tiny, tmp_path, cache=False)
    b = load(zpath, tmp_path)
    np.testing.assert_array_equal(a.user_items().toarray(), b.user_items().toarray())
    assert b.tags["tag"].tolist() == a.tags["tag"].tolist()
    c = load(zpath, tmp_path)  # cached
    np.testing.assert_array_equal(c.item_ids, a.item_ids)


# ---------------------------------------------------------------------------- error messages
BAD_RATINGS = [
    ("userId,movieId,timestamp\n1,1,964982703\n", r"ratings\.csv, line 1: missing column\(s\) \['rating'\]"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,x2,4.0,964982703\n",
     r"ratings\.csv, line 3: field 'movieId' has 'x2', expected an integer"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,four,964982703\n",
     r"ratings\.csv, line 3: field 'rating' has 'four', expected a number"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,,964982703\n",
     r"ratings\.csv, line 3: field 'rating' is missing or NaN"),
    ("userId,movieId,rating,timestamp\n1,1,NaN,964982703\n", r"ratings\.csv, line 2: field 'rating' is missing or NaN"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n,2,4.0,964982703\n",
     r"ratings\.csv, line 3: field 'userId' is empty, expected an integer"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,4.0,96498.5\n",
     r"ratings\.csv, line 3: field 'timestamp' has '96498\.5', expected an integer"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,5.5,964982703\n",
     r"ratings\.csv, line 3: rating 5\.5 is outside \[0\.5, 5\.0\]"),
    ("userId,movieId,rating,timestamp\n1,1,0.0,964982703\n", r"ratings\.csv, line 2: rating 0\.0 is outside"),
    # a blank line before the bad row is counted in the line number
    ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n\n1,2,-1,964982703\n", r"ratings\.csv, line 4: rating -1\.0"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964982703\n",
     r"ratings\.csv, line 3: movieId 3 of this rating is not in .*movies\.csv"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,1\n2,1,3.0,2\n1,1,5.0,3\n",
     r"ratings\.csv, line 4: duplicate rating of userId 1 for movieId 1 \(first at line 2\); pass duplicates='keep_latest'"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,1,7\n", r"ratings\.csv, line 2: expected 4 fields, got 5"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,4.0,1,7\n", r"ratings\.csv, line 3: expected 4 fields, got 5"),
    ("userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,4.0\n", r"ratings\.csv, line 3: expected 4 fields, got 3"),
]


@pytest.mark.parametrize("text,pattern", BAD_RATINGS)
def test_bad_ratings_messages(tmp_path, write_movielens, text, pattern):
    path = write_movielens(tmp_path / "bad", ratings_csv=text)
    with pytest.raises(MovieLensFormatError, match=pattern):
        load(path, tmp_path)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_format_error_is_value_error():
    assert issubclass(MovieLensFormatError, ValueError)


def test_bad_movies_messages(tmp_path, write_movielens):
    dup = "movieId,title,genres\n1,A (1999),Drama\n2,B (1999),Drama\n1,C (2000),Comedy\n10,D,Action\n"
    path = write_movielens(tmp_path / "d1", movies_csv=dup)
    with pytest.raises(MovieLensFormatError, match=r"movies\.csv, line 4: duplicate movieId 1 \(first defined at line 2\)"):
        load(path, tmp_path)
    path = write_movielens(tmp_path / "d2", movies_csv="movieId,name,genres\n1,A,Drama\n")
    with pytest.raises(MovieLensFormatError, match=r"movies\.csv, line 1: missing column\(s\) \['title'\]"):
        load(path, tmp_path)
    path = write_movielens(tmp_path / "d3", movies_csv="movieId,title,genres\n1,A,Drama\nten,B,Drama\n")
    with pytest.raises(MovieLensFormatError, match=r"movies\.csv, line 3: field 'movieId' has 'ten'"):
        load(path, tmp_path)


def test_bad_tags_messages(tmp_path, write_movielens):
    path = write_movielens(tmp_path / "t1", tags_csv="userId,movieId,tag,timestamp\n1,1,ok,5\n1,77,bad,5\n")
    with pytest.raises(MovieLensFormatError, match=r"tags\.csv, line 3: movieId 77 of this tag is not in"):
        load(path, tmp_path)
    path = write_movielens(tmp_path / "t2", tags_csv="userId,movieId,tag,timestamp\n1,1,,5\n")
    with pytest.warns(UserWarning, match=r"1 empty tag\(s\), kept as '' \(first at .*tags\.csv, line 2\)"):
        inter = load(path, tmp_path, cache=False)
    assert inter.tags["tag"].tolist() == [""]
    path = write_movielens(tmp_path / "t3", tags_csv=None)
    assert load(path, tmp_path, cache=False).tags is None


def test_missing_files(tmp_path, write_movielens):
    with pytest.raises(FileNotFoundError, match="no ratings.csv"):
        load(tmp_path, tmp_path)
    path = write_movielens(tmp_path / "nomovies", movies_csv=None)
    with pytest.raises(FileNotFoundError, match="movies.csv is missing"):
        load(path, tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nowhere", tmp_path)


def test_duplicates_keep_latest(tmp_path, write_movielens):
    text = "userId,movieId,rating,timestamp\n1,1,4.0,10\n2,1,3.0,2\n1,1,5.0,30\n1,1,1.0,20\n1,2,2.0,5\n"
    path = write_movielens(tmp_path / "dups", ratings_csv=text)
    with pytest.warns(UserWarning, match="dropped 2 duplicate"):
        inter = load(path, tmp_path, duplicates="keep_latest")
    assert inter.to_dataframe().values.tolist() == [[2, 1, 3.0, 2], [1, 1, 5.0, 30], [1, 2, 2.0, 5]]
    with pytest.warns(UserWarning, match="dropped 2 duplicate"):  # the cache remembers, and says so
        again = load(path, tmp_path, duplicates="keep_latest")
    assert len(again) == 3
    with pytest.raises(MovieLensFormatError, match="duplicate rating"):  # a keep_latest cache is not reused
        load(path, tmp_path)
    with pytest.raises(ValueError, match="duplicates must be one of"):
        load(path, tmp_path, duplicates="sum")


# ---------------------------------------------------------------------------- :: layout
ML1M_MOVIES = "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Caf\xe9 Society: Part 2 (1995)::Drama\n3::Star Wars: Episode IV (1977)::Action|Sci-Fi\n"
ML1M_RATINGS = "1::1::5::978300760\n1::3::3::978302109\n\n2::2::4::978301968\n"


def test_dat_layout_latin1(tmp_path, write_movielens):
    path = write_movielens(tmp_path / "ml-1m", encoding="latin-1", ratings_csv=None, movies_csv=None,
                           tags_csv=None, ratings_dat=ML1M_RATINGS, movies_dat=ML1M_MOVIES)
    inter = load(path, tmp_path)
    assert len(inter) == 3 and inter.n_items == 3 and inter.n_users == 2
    assert inter.titles[1] == "Caf\xe9 Society: Part 2 (1995)"  # latin-1 decoded, ':' inside title kept
    assert inter.genre_names == ["Action", "Animation", "Children's", "Comedy", "Drama", "Sci-Fi"]
    assert inter.ratings.tolist() == [5.0, 3.0, 4.0] and inter.timestamps[2] == 978301968
    assert inter.tags is None
    cached = load(path, tmp_path)
    assert list(cached.titles) == list(inter.titles)


def test_dat_layout_tags_utf8_and_errors(tmp_path, write_movielens):
    common = dict(ratings_csv=None, movies_csv=None, tags_csv=None, movies_dat=ML1M_MOVIES.replace("\xe9", "e"))
    tags = "1::1::pixar::1100000000\n2::3::space::opera::1100000001\n"
    path = write_movielens(tmp_path / "ml-10m", ratings_dat=ML1M_RATINGS, tags_dat=tags, **common)
    inter = load(path, tmp_path, cache=False)
    assert inter.tags["tag"].tolist() == ["pixar", "space::opera"]
    path = write_movielens(tmp_path / "bad1", ratings_dat="1::1::5::978300760\n1::x::3::978302109\n", **common)
    with pytest.raises(MovieLensFormatError, match=r"ratings\.dat, line 2: field 'MovieID' has 'x'"):
        load(path, tmp_path)
    path = write_movielens(tmp_path / "bad2", ratings_dat="1::1::5::978300760\n1::2::9::978302109\n", **common)
    with pytest.raises(MovieLensFormatError, match=r"ratings\.dat, line 2: Rating 9\.0 is outside"):
        load(path, tmp_path)
    path = write_movielens(tmp_path / "bad3", ratings_dat=ML1M_RATINGS, tags_dat="1::1::x::soon\n", **common)
    with pytest.raises(MovieLensFormatError, match=r"tags\.dat, line 1: field 'Timestamp' has 'soon'"):
        load(path, tmp_path)
    path = write_movielens(tmp_path / "bad5", ratings_dat="1::1::5::978300760\n1:2::3::978302109\n", **common)
    with pytest.raises(MovieLensFormatError, match=r"ratings\.dat, line 2: expected 4 '::'-separated fields, got '1:2::3::978302109'"):
        load(path, tmp_path)
    bad_movies = dict(common, movies_dat="1::Toy Story (1995)\n")
    path = write_movielens(tmp_path / "bad4", ratings_dat=ML1M_RATINGS, **bad_movies)
    with pytest.raises(MovieLensFormatError, match=r"movies\.dat, line 1: expected 3 '::'-separated fields"):
        load(path, tmp_path)


# ---------------------------------------------------------------------------- cache
def _cache_files(tmp_path):
    return sorted((tmp_path / "cache").glob("*.npz"))


def test_cache_hit_does_not_parse(tiny, tmp_path, monkeypatch):
    first = load(tiny, tmp_path)
    files = _cache_files(tmp_path)
    assert len(files) == 1 and files[0].suffix == ".npz"
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".json", ".npz"]  # no temp files
    with np.load(files[0], allow_pickle=False) as z:  # loads without pickles
        assert all(z[k].dtype != object for k in z.files)

    def boom(*a, **k):
        raise AssertionError("parsed although the cache is valid")

    monkeypatch.setattr(ml, "_parse", boom)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = load(tiny, tmp_path)
    np.testing.assert_array_equal(second.user_items().toarray(), first.user_items().toarray())
    np.testing.assert_array_equal(second.timestamps, first.timestamps)
    assert second.tags["tag"].tolist() == first.tags["tag"].tolist()
    assert list(second.titles) == list(first.titles)
    assert (second.item_genres != first.item_genres).nnz == 0


def test_stale_cache_is_rebuilt(tiny, tmp_path):
    load(tiny, tmp_path)
    text = (tiny / "ratings.csv").read_text().replace("1,10,3.5", "1,10,1.5")
    (tiny / "ratings.csv").write_text(text)  # same size; mtime and content differ
    os.utime(tiny / "ratings.csv", ns=(1, 1))
    with pytest.warns(UserWarning, match="stale MovieLens cache"):
        inter = load(tiny, tmp_path)
    assert inter.user_items()[0, 3] == 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load(tiny, tmp_path).user_items()[0, 3] == 1.5  # the rebuilt cache is valid


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_corrupted_cache_is_rebuilt(tiny, tmp_path, damage):
    good = load(tiny, tmp_path)
    (cfile,) = _cache_files(tmp_path)
    data = bytearray(cfile.read_bytes())
    if damage == "flip":  # one bit inside the ratings array data
        with zipfile.ZipFile(cfile) as zf:
            info = zf.getinfo("ratings.npy")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        data[start + info.file_size - 1] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = b"not a zip at all"
    cfile.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupted MovieLens cache"):
        again = load(tiny, tmp_path)
    np.testing.assert_array_equal(again.user_items().toarray(), good.user_items().toarray())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(tiny, tmp_path)


def test_cache_false_writes_nothing(tiny, tmp_path):
    load(tiny, tmp_path, cache=False)
    assert not (tmp_path / "cache").exists()


def test_default_cache_dir_from_environment_never_beside_data(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("MFCORE_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MFCORE_CACHE_DIR", str(tmp_path / "cachedir"))
    before = sorted(os.listdir(tiny))
    load_movielens(tiny)
    assert len(list((tmp_path / "cachedir").glob("*.npz"))) == 1
    assert sorted(os.listdir(tiny)) == before
    assert not (tmp_path / "home").exists()


def test_unwritable_cache_dir_warns_and_still_loads(tiny, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.warns(UserWarning, match="could not write the MovieLens cache"):
        inter = load_movielens(tiny, cache_dir=blocker / "sub")
    assert len(inter) == 5


@pytest.mark.parametrize("strings", [[], [""], ["a", "", "Café"], ["nul\x00inside", "x", ""]])
def test_cache_string_encoding_roundtrip(strings):
    buf, meta = _cache.encode_strings(strings)
    assert buf.dtype == np.uint8 and meta.dtype == np.int64
    assert _cache.decode_strings(buf, meta) == strings


def test_unordered_ratings_file_gives_same_matrices(tiny, tmp_path, write_movielens):
    lines = (tiny / "ratings.csv").read_text().splitlines()
    shuffled = "\n".join([lines[0]] + lines[1:][::-1]) + "\n"
    other = write_movielens(tmp_path / "shuffled", ratings_csv=shuffled)
    a = load(tiny, tmp_path, cache=False)
    b = load(other, tmp_path, cache=False)
    np.testing.assert_array_equal(b.ratings, a.ratings[::-1])  # rows keep file order
    for m_a, m_b in ((a.user_items(), b.user_items()), (a.item_users(), b.item_users())):
        np.testing.assert_array_equal(m_a.indptr, m_b.indptr)
        np.testing.assert_array_equal(m_a.indices, m_b.indices)
        np.testing.assert_array_equal(m_a.data, m_b.data)
        assert m_b.indices.dtype == np.int32 and m_b.indptr.dtype == np.int32


# ---------------------------------------------------------------------------- hostile text
MOVIES_MULTILINE = 'movieId,title,genres\n1,Toy Story (1995),Comedy\n2,"Multi\nline, title",Drama\n10,Heat,Action\n'

HOSTILE_TEXT = [
    # (file, content, pattern)
    ("ratings.csv", b"userId,movieId,rating,timestamp\n1,1,4.0,5\n1,10,3.0,6\n2,1,4.0,\xff9\n",
     r"ratings\.csv, line 4, column 9: byte 0xff is not valid UTF-8"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,5\n1.0,10,3.0,6\n",
     r"ratings\.csv, line 3: field 'userId' has '1\.0', expected an integer"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,1e1,4.0,5\n",
     r"ratings\.csv, line 2: field 'movieId' has '1e1', expected an integer"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n9007199254740993.0,1,4.0,5\n",
     r"line 2: field 'userId' has '9007199254740993\.0', expected an integer"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,5\n99999999999999999999,1,4.0,5\n",
     r"line 3: field 'userId' has '99999999999999999999', outside the int64 range"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,5\n1,1,4.0,-9223372036854775809\n",
     r"line 3: field 'timestamp' has '-9223372036854775809', outside the int64 range"),
    ("ratings.csv", "userId,movieId,rating,rating,timestamp\n1,1,4.0,4.0,5\n",
     r"ratings\.csv, line 1: column 'rating' appears twice in the header"),
    ("movies.csv", MOVIES_MULTILINE + "x11,Broken,Drama\n", r"movies\.csv, line 6: field 'movieId' has 'x11'"),
    ("movies.csv", MOVIES_MULTILINE + '11,"Unterminated,Drama\n12,Next,Comedy\n',
     r"movies\.csv, line 6: a quoted field starting in this record is never closed"),
    ("movies.csv", MOVIES_MULTILINE + "11.0,Float id,Drama\n", r"movies\.csv, line 6: field 'movieId' has '11\.0'"),
    ("tags.csv", "userId,movieId,tag,timestamp\n1,1,fun,5\n1,1,\"two\nlines\",6\n1,1,x,7.5\n",
     r"tags\.csv, line 5: field 'timestamp' has '7\.5'"),
]


@pytest.mark.parametrize("fname,content,pattern", HOSTILE_TEXT)
def test_hostile_text_names_file_and_physical_line(tmp_path, write_movielens, fname, content, pattern):
    overrides = {"movies_csv": MOVIES_MULTILINE, fname.replace(".", "_"): content}
    if fname == "ratings.csv" or fname == "tags.csv":
        overrides.setdefault("ratings_csv", "userId,movieId,rating,timestamp\n1,1,4.0,5\n")
    path = write_movielens(tmp_path / "bad", **overrides)
    with pytest.raises(MovieLensFormatError, match=pattern):
        load(path, tmp_path, cache=False)


def test_bom_and_spaces_around_header_commas_are_accepted(tiny, tmp_path, write_movielens):
    plain = load(tiny, tmp_path, cache=False)
    ratings = (tiny / "ratings.csv").read_text().replace("userId,movieId,rating,timestamp",
                                                         "userId , movieId,  rating,timestamp ")
    path = write_movielens(tmp_path / "spaced", ratings_csv="\ufeff" + ratings,
                           movies_csv="\ufeff" + (tiny / "movies.csv").read_text(),
                           tags_csv="\ufeff" + (tiny / "tags.csv").read_text())
    other = load(path, tmp_path, cache=False)
    np.testing.assert_array_equal(other.user_items().toarray(), plain.user_items().toarray())
    assert list(other.titles) == list(plain.titles) and other.tags.equals(plain.tags)


def test_dat_overflow_and_bom(tmp_path, write_movielens):
    common = dict(ratings_csv=None, movies_csv=None, tags_csv=None)
    path = write_movielens(tmp_path / "bom", ratings_dat="\ufeff1::1::5::978300760\n",
                           movies_dat="\ufeff1::Toy Story (1995)::Comedy\n", **common)
    assert len(load(path, tmp_path, cache=False)) == 1
    path = write_movielens(tmp_path / "big", ratings_dat="1::1::5::978300760\n",
                           movies_dat="1::A::Comedy\n99999999999999999999::B::Drama\n", **common)
    with pytest.raises(MovieLensFormatError, match=r"movies\.dat, line 2: field 'MovieID' has '99999999999999999999', "
                                                   "outside the int64 range"):
        load(path, tmp_path, cache=False)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_damaged_zip_member_names_file_and_line(tiny, tmp_path, method):
    """zlib, bz2 (a bare OSError) and lzma each fail their own way on damaged data: one message."""
    lines = "".join(f"{u},1,4.0,{u}\n" for u in range(1, 40001))
    zpath = tmp_path / "damaged.zip"
    with zipfile.ZipFile(zpath, "w", method) as zf:
        zf.writestr("r/ratings.csv", "userId,movieId,rating,timestamp\n" + lines)
        zf.write(tiny / "movies.csv", "r/movies.csv")
    raw = bytearray(zpath.read_bytes())
    info = zipfile.ZipFile(zpath).getinfo("r/ratings.csv")
    start = info.header_offset + 30 + len(info.filename) + info.compress_size // 3
    raw[start:start + 16] = bytes(b ^ 0xFF for b in raw[start:start + 16])
    zpath.write_bytes(bytes(raw))
    with pytest.raises(MovieLensFormatError, match=r"damaged\.zip:r/ratings\.csv, line \d+: the file is damaged"):
        load(zpath, tmp_path, cache=False)


@pytest.mark.parametrize("members,pattern", [
    (["a/ratings.csv", "a/movies.csv", "b/ratings.csv"], r"holds two ratings\.csv files \('a/ratings\.csv' and "),
    (["a/ratings.csv", "a/movies.csv", "a/movies.csv"], r"member 'a/movies\.csv' appears twice"),
])
def test_ambiguous_zip_is_refused(tiny, tmp_path, members, pattern):
    zpath = tmp_path / "ambiguous.zip"
    with zipfile.ZipFile(zpath, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for member in members:
            zf.write(tiny / member.rsplit("/", 1)[1], member)
    with pytest.raises(MovieLensFormatError, match=pattern):
        load(zpath, tmp_path, cache=False)


# ---------------------------------------------------------------------------- cache: never stale, never trusted blindly
def _only_cache(tmp_path):
    (cfile,) = _cache_files(tmp_path)
    return cfile


def test_edit_with_size_and_mtime_restored_is_not_served(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(_cache, "_RACY_NS", 0)  # the stat record vouches at once: only inode/ctime can tell
    load(tiny, tmp_path)
    target = tiny / "ratings.csv"
    st = os.stat(target)
    text = target.read_text()
    edited = text.replace("1,10,3.5,", "1,10,1.5,")
    assert len(edited) == len(text) and edited != text
    with open(target, "r+") as fh:                      # an in-place edit, as `cp -p` / rsync -t / tar leave it:
        fh.write(edited)                                # same size ...
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... same mtime
    assert os.stat(target).st_size == st.st_size and os.stat(target).st_mtime_ns == st.st_mtime_ns
    with pytest.warns(UserWarning, match="stale MovieLens cache .* the source files changed"):
        inter = load(tiny, tmp_path)
    assert inter.user_items()[0, 3] == 1.5


def test_warm_load_trusts_the_stat_record_without_reading_sources(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(_cache, "_RACY_NS", 0)
    first = load(tiny, tmp_path)

    def boom(*a, **k):
        raise AssertionError("hashed although nothing changed")

    monkeypatch.setattr(_cache, "_sha256", boom)
    monkeypatch.setattr(ml, "_parse", boom)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load(tiny, tmp_path)
    np.testing.assert_array_equal(again.user_items().toarray(), first.user_items().toarray())


def test_copied_release_is_hashed_once_and_reused(tiny, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(_cache, "_RACY_NS", 0)
    load(tiny, tmp_path)
    for name in ("ratings.csv", "movies.csv", "tags.csv"):   # `cp -p` over the originals: new inodes, same bytes
        shutil.copy2(tiny / name, tiny / (name + ".new"))
        os.replace(tiny / (name + ".new"), tiny / name)
    calls = []
    real = _cache._sha256
    monkeypatch.setattr(_cache, "_sha256", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(ml, "_parse", lambda *a, **k: pytest.fail("parsed although the content is unchanged"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(tiny, tmp_path)
        assert len(calls) == 3      # full hashes: same content, cache kept, stat record refreshed
        load(tiny, tmp_path)
        assert len(calls) == 3      # the refreshed record vouches: no hashing


def test_recent_files_are_hashed_not_trusted_by_stat(tiny, tmp_path, monkeypatch):
    load(tiny, tmp_path)           # files written milliseconds ago: within the racy window
    calls = []
    real = _cache._sha256
    monkeypatch.setattr(_cache, "_sha256", lambda *a, **k: calls.append(a) or real(*a, **k))
    load(tiny, tmp_path)
    assert len(calls) == 3


def _rewrite_cache(cfile, edit):
    """Rewrite the cache npz with ``edit(members: dict name -> ndarray)`` (valid zip, valid CRCs)."""
    with zipfile.ZipFile(cfile) as zf:
        members = {n[:-4]: np.load(zf.open(n)) for n in zf.namelist()}
    edit(members)
    np.savez(cfile, **members)


@pytest.mark.parametrize("damage", ["tags dropped", "items out of range", "genre index out of range",
                                    "tag user out of range", "repeated pair", "ratings out of range",
                                    "header missing"])
def test_crc_valid_but_inconsistent_cache_is_rebuilt(tiny, tmp_path, damage):
    good = load(tiny, tmp_path)
    cfile = _only_cache(tmp_path)

    def edit(m):
        if damage == "tags dropped":       # what a damaged zip directory does: members vanish
            for name in [n for n in m if n.startswith("tag_")]:
                del m[name]
        elif damage == "items out of range":
            m["items"] = m["items"].copy()
            m["items"][0] = 4
        elif damage == "genre index out of range":
            m["genre_indices"] = m["genre_indices"].copy()
            m["genre_indices"][0] = 99
        elif damage == "tag user out of range":
            m["tag_user"] = m["tag_user"].copy()
            m["tag_user"][0] = -1
        elif damage == "repeated pair":
            m["items"] = m["items"].copy()
            m["users"] = m["users"].copy()
            m["items"][1], m["users"][1] = m["items"][0], m["users"][0]
        elif damage == "ratings out of range":
            m["ratings"] = m["ratings"].copy()
            m["ratings"][0] = np.nan
        else:
            del m["header"]

    _rewrite_cache(cfile, edit)
    with pytest.warns(UserWarning, match="corrupted MovieLens cache"):
        again = load(tiny, tmp_path)
    np.testing.assert_array_equal(again.user_items().toarray(), good.user_items().toarray())
    assert again.tags.equals(good.tags)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load(tiny, tmp_path).tags.equals(good.tags)   # rebuilt: trusted again
