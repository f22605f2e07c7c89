"""Release-year item features (mfcore.data.features)."""

import numpy as np
import pytest
import scipy.sparse as sp

from mfcore.data import item_features_with_years, release_years, year_buckets


def test_release_years_parses_trailing_year_only():
    titles = ["Heat (1995)", "Babylon 5 (1994-1998)", "Stranger Things (2016-)", "1984 (1956) ",
              "No year", "Year (in the middle) 2000", None, "Odd (19xx)"]
    years = release_years(titles)
    np.testing.assert_array_equal(years[:4], [1995, 1994, 2016, 1956])
    assert np.isnan(years[4:]).all()


def test_year_buckets_edges_and_unknown_rows():
    F, names = year_buckets([1949, 1950, 1969.0, 1970, 2030, np.nan], edges=(1950, 1970))
    assert names == ["year<1950", "year1950-1969", "year1970+"]
    assert F.shape == (6, 3) and F.dtype == np.float32
    np.testing.assert_array_equal(F.toarray(), [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]])
    with pytest.raises(ValueError, match="edges must be"):
        year_buckets([2000], edges=(1990, 1980))
    with pytest.raises(ValueError, match="edges must be"):
        year_buckets([2000], edges=())


def test_item_features_with_years_appends_buckets():
    G = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 0]], dtype=np.float32))
    F, names = item_features_with_years(G, ["Drama", "Comedy"], ["A (1960)", "B (2001)", "C"], edges=(1970, 2000),
                                        year_weight=2.0)
    assert names == ["Drama", "Comedy", "year<1970", "year1970-1999", "year2000+"]
    np.testing.assert_array_equal(F.toarray(), [[1, 0, 2, 0, 0], [1, 1, 0, 0, 2], [0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="titles has 2 entries"):
        item_features_with_years(G, ["Drama", "Comedy"], ["A", "B"])
    with pytest.raises(ValueError, match="genre_names has 1 entries"):
        item_features_with_years(G, ["Drama"], ["A", "B", "C"])
    with pytest.raises(ValueError, match="year_weight"):
        item_features_with_years(G, ["Drama", "Comedy"], ["A", "B", "C"], year_weight=0.0)


def test_genre_als_fits_and_persists_with_year_features(tmp_path):
    from mfcore import GenreALS, make_movielens_like

    data = make_movielens_like(n_users=40, n_items=50, n_ratings=800, random_state=2)
    titles = [f"Movie {i} ({1940 + i})" for i in range(data.n_items)]
    F, _ = item_features_with_years(data.item_genres, data.genre_names, titles)
    model = GenreALS(factors=3, iterations=3, num_threads=1).fit(data.user_items(), item_genres=F,
                                                                 show_progress=False)
    assert model.genre_factors.shape == (F.shape[1], 3)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = GenreALS.load(path)
    np.testing.assert_array_equal(loaded.genre_factors, model.genre_factors)
    np.testing.assert_array_equal(loaded.item_factors_from_genres(F[:2])[0], model.item_factors_from_genres(F[:2])[0])
