"""The contract every mfcore model keeps, run against each model (as implicit's RecommenderBaseTestMixin).

A subclass of :class:`ModelContract` names the model and how to build a small one;
every test of the mixin then runs against it: fit returns self, scikit-learn's clone
and parameter API, seen items excluded, recommend agreeing with predict, unknown ids,
save/load round trip, dtypes, thread invariance where the model promises it, seeds,
and the shared epoch loop (history, early stopping with best-epoch restore, Ctrl-C).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from mfcore import BiasBaseline, BPR, ExplicitALS, GenreALS, ImplicitALS, load_model
from mfcore._persist import ModelFileError
from mfcore.models import FactorModel, NotFittedError
from tests.models.conftest import planted_ratings
from tests.models.model_data import RatingsWithIds, split_entries


def load_model_copy(model):
    """An independent copy of a fitted model (through an in-memory save/load)."""
    import io

    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    return load_model(buffer)


class ModelContract:
    """Mixin: set ``model_class``, ``params`` (a small, fast model), ``early_stopping_params``
    (parameters that overfit the held-out split, so the best epoch is not the last) and the flags."""

    model_class = None
    params = {}
    early_stopping_params = {}
    #: bit-identical factors for any num_threads (BPR: only with one thread). The other tests
    #: run on one thread: on a loaded 2-core machine every OpenMP region of a 2-thread fit
    #: waits for a descheduled thread, which makes these tiny fits 10x slower
    thread_invariant = True
    has_random_state = True
    #: fit options the model needs (besides X) for the planted data
    fit_options = {}

    @classmethod
    def make(cls, **overrides):
        return cls.model_class(**{**cls.params, **overrides})

    @classmethod
    def options(cls, data):
        return {name: getattr(data, "item_genres") if value == "genres" else value
                for name, value in cls.fit_options.items()}

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls):
        """One fitted model per class, shared by the tests that only read it."""
        ratings, genres = planted_ratings(np.random.default_rng(20261127))
        data = RatingsWithIds(ratings, np.arange(ratings.shape[0]) * 10 + 1000, np.arange(ratings.shape[1]) * 3 + 7,
                              genres, [f"G{g}" for g in range(genres.shape[1])])
        return cls.make().fit(data, show_progress=False, **cls.options(data)), data

    @pytest.fixture
    def split(self, rng):
        """(train, held-out) ratings with noise enough for the held-out metric to turn."""
        ratings, genres = planted_ratings(rng, noise=0.5, density=0.2)
        train, test = split_entries(ratings, rng, 0.3)
        return train, test, genres

    def fit_split(self, split, **fit_kwargs):
        train, test, genres = split
        options = {"item_genres": genres} if "item_genres" in self.fit_options else {}
        if "eval_k" in self.fit_options:
            options["eval_k"] = 5
        model = self.make(**self.early_stopping_params, iterations=20)
        return model.fit(train, eval_set=test, show_progress=False, **options, **fit_kwargs)

    # ------------------------------------------------------------ parameters
    def test_init_only_stores_parameters(self):
        names = self.model_class._get_param_names()
        odd = {name: f"unchecked-{name}" for name in names}
        model = self.model_class(**odd)              # no validation, no conversion in __init__
        assert model.get_params() == odd
        assert model.get_params(deep=True) == odd
        assert model.user_factors is None and model.item_factors is None
        assert repr(model).startswith(f"{self.model_class.__name__}(")

    def test_sklearn_clone_and_set_params(self, fitted):
        model, _ = fitted
        copy = clone(model)
        assert type(copy) is type(model) and copy is not model
        assert copy.get_params() == model.get_params()
        assert copy.item_factors is None                   # a clone is unfitted
        with pytest.raises(NotFittedError):
            copy.recommend(0)
        name = self.model_class._get_param_names()[0]
        assert copy.set_params(**{name: model.get_params()[name]}) is copy
        with pytest.raises(ValueError, match="invalid parameter 'no_such_param'"):
            copy.set_params(no_such_param=1)
        if self.has_random_state:                          # generators are cloned by deep copy
            seeded = clone(self.make(random_state=np.random.default_rng(3)))
            assert isinstance(seeded.random_state, np.random.Generator)

    def test_scikit_learn_parameter_checks(self):
        """scikit-learn's own checks of the parameter API (no attribute set in __init__, defaults
        constructible, get_params invariant under deep=, set_params round trip)."""
        from sklearn.utils.estimator_checks import (check_get_params_invariance, check_no_attributes_set_in_init,
                                                    check_parameters_default_constructible, check_set_params)

        name = self.model_class.__name__
        for check in (check_no_attributes_set_in_init, check_parameters_default_constructible,
                      check_get_params_invariance, check_set_params):
            check(name, self.model_class())
        for random_state in (np.random.RandomState(1), np.random.default_rng(1)):
            if self.has_random_state:
                model = clone(self.make(random_state=random_state))
                assert type(model.random_state) is type(random_state)

    def test_bad_parameter_is_reported_at_fit(self, planted_with_ids):
        model = self.make(iterations=-1)
        with pytest.raises(ValueError, match="iterations must be >= 0"):
            model.fit(planted_with_ids, show_progress=False, **self.options(planted_with_ids))
        with pytest.raises(ValueError, match="dtype must be float32 or float64"):
            self.make(dtype="float16").fit(planted_with_ids, show_progress=False, **self.options(planted_with_ids))

    def test_unknown_fit_option_is_named(self, planted_with_ids):
        with pytest.raises(TypeError, match=r"fit\(\) got an unexpected keyword argument 'item_genre'"):
            self.make().fit(planted_with_ids, item_genre=None, show_progress=False)

    # --------------------------------------------------------------- fitting
    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    def test_fit_returns_self_with_the_dtype(self, planted_with_ids, dtype):
        model = self.make(dtype=dtype)
        assert model.fit(planted_with_ids, show_progress=False, **self.options(planted_with_ids)) is model
        for array in (model.user_factors, model.item_factors, model.user_bias, model.item_bias):
            assert array.dtype == np.dtype(dtype) and np.isfinite(array).all()
        assert (model.n_users, model.n_items) == planted_with_ids.user_items().shape
        assert len(model.history_) == model.iterations and model.best_epoch_ is None

    def test_not_fitted(self):
        model = self.make()
        for call in (lambda: model.recommend(0), lambda: model.predict([0], [0]), lambda: model.save("x"),
                     lambda: model.history_frame()):
            with pytest.raises(NotFittedError, match="not fitted yet"):
                call()

    def test_thread_counts(self, planted_with_ids):
        options = self.options(planted_with_ids)
        one = self.make(num_threads=1).fit(planted_with_ids, show_progress=False, **options)
        again = self.make(num_threads=1).fit(planted_with_ids, show_progress=False, **options)
        two = self.make(num_threads=2).fit(planted_with_ids, show_progress=False, **options)
        for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
            assert np.array_equal(getattr(one, name), getattr(again, name)), name
            if self.thread_invariant:
                assert np.array_equal(getattr(one, name), getattr(two, name)), name
            else:
                assert np.isfinite(getattr(two, name)).all()

    def test_random_state_kinds(self, planted_with_ids):
        options = self.options(planted_with_ids)
        fit = lambda rs: self.make(random_state=rs, num_threads=1).fit(  # noqa: E731
            planted_with_ids, show_progress=False, **options).item_factors
        assert np.array_equal(fit(7), fit(np.random.default_rng(7)))         # an int seeds default_rng
        assert np.array_equal(fit(np.random.RandomState(7)), fit(np.random.RandomState(7)))
        assert not np.array_equal(fit(7), fit(8))
        with pytest.raises(TypeError, match="random_state must be None, an int seed"):
            fit("seven")

    def test_generator_random_state_is_saved_as_none(self, planted_with_ids, tmp_path):
        model = self.make(random_state=np.random.default_rng(1))
        model.fit(planted_with_ids, show_progress=False, **self.options(planted_with_ids))
        with pytest.warns(UserWarning, match="random_state=Generator is saved as None"):
            path = model.save(tmp_path / "m")
        assert load_model(path).random_state is None

    # ------------------------------------------------------------- inference
    def test_recommend_excludes_seen_items_and_agrees_with_predict(self, fitted):
        model, data = fitted
        R = data.user_items()
        for u in (0, 7, 33):
            uid = data.user_ids[u]
            ids, scores = model.recommend(uid, N=6)
            seen = set(data.item_ids[R.indices[R.indptr[u]:R.indptr[u + 1]]].tolist())
            assert len(ids) == 6 and not seen & set(ids.tolist())
            assert np.all(np.diff(scores) <= 0)
            # recommend's scores are not clipped to the rating scale (predict's are, by default)
            np.testing.assert_allclose(scores, model.predict(np.full(6, uid), ids, clip=False), rtol=1e-5)
            unseen = np.array([i for i in data.item_ids if i not in seen])
            best = np.sort(model.predict(np.full(len(unseen), uid), unseen, clip=False))[::-1][:6]
            np.testing.assert_allclose(scores, best, rtol=1e-5)
        batch, _ = model.recommend(data.user_ids[[0, 7, 33]], N=6)
        for row, u in enumerate((0, 7, 33)):
            np.testing.assert_array_equal(batch[row], model.recommend(data.user_ids[u], N=6)[0])

    def test_recalculate_user_folds_in(self, fitted):
        model, data = fitted
        R = data.user_items()
        u = 4
        ids, scores = model.recommend(data.user_ids[u], user_items=R[u], N=5, recalculate_user=True)
        seen = set(data.item_ids[R[u].indices].tolist())
        assert len(ids) == 5 and np.isfinite(scores).all() and not seen & set(ids.tolist())
        with pytest.raises(ValueError, match="the same item at positions"):
            model.fold_in([data.item_ids[0], data.item_ids[0]], [4.0, 4.0])

    #: can the model re-solve item rows (ALS models)
    item_side = True

    def test_recalculate_user_is_the_numpy_fold_in_in_one_call(self, fitted, monkeypatch):
        model, data = fitted
        R = data.user_items()
        rows = [2, 5, 11, 40]
        expected = np.array([np.asarray(model._fold_in_indices(R[u].indices.astype(np.int64),
                                                               R[u].data.astype(np.float64))[0], np.float64)
                             for u in rows]).reshape(len(rows), -1)
        got = model.recalculate_user(data.user_ids[rows], R[rows])
        assert got.shape == (len(rows), model.item_factors.shape[1]) and got.dtype == model.item_factors.dtype
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-5 * np.abs(expected).max(initial=1.0))
        np.testing.assert_array_equal(model.recalculate_user(data.user_ids[2], R[2]), got[0])
        if self.item_side:                    # the ALS models: one kernel call, no per-row Python
            monkeypatch.setattr(type(model), "_fold_in_indices", lambda *a, **k: pytest.fail("per-row fold-in"))
            np.testing.assert_array_equal(model.recalculate_user(data.user_ids[rows], R[rows]), got)
        with pytest.raises(ValueError, match=r"user_items must have one row per requested user .* expected shape"):
            model.recalculate_user(data.user_ids[rows], R[:2])

    def test_recalculate_item(self, fitted):
        model, data = fitted
        R = data.user_items().T.tocsr()
        if not self.item_side:
            with pytest.raises(NotImplementedError, match="cannot re-solve item rows"):
                model.recalculate_item(data.item_ids[0], R[0])
            return
        got = model.recalculate_item(data.item_ids[[0, 3]], R[[0, 3]])
        # the fit ended with an item half-sweep: re-solving an item from its training column gives it back
        # (GenreALS, and ImplicitALS with its genre prior, moved the genre centroids after that sweep, so it
        # only lands near)
        tol = 1e-4 if type(model) is not GenreALS and getattr(model, "_G", None) is None else 0.5
        np.testing.assert_allclose(got, model.item_factors[[0, 3]], rtol=tol,
                                   atol=tol * np.abs(model.item_factors).max())
        with pytest.raises(ValueError, match="item_users must have one row per requested item"):
            model.recalculate_item(data.item_ids[0], R[[0, 3]])

    def test_partial_fit_users_resolves_and_adds_users(self, fitted):
        model, data = fitted
        model = load_model_copy(model)
        R = data.user_items()
        before = model.user_factors.copy()
        expected = model.recalculate_user(data.user_ids[[1, 4]], R[[6, 7]])
        _, expected_bias = model._solve_rows("user", R[[6, 7]].astype(model.item_factors.dtype))
        new_id = data.user_ids.max() + 1
        assert model.partial_fit_users(np.array([data.user_ids[1], new_id, data.user_ids[4]]), R[[6, 8, 7]]) is model
        assert model.n_users == len(data.user_ids) + 1 and model.user_index(new_id) == len(data.user_ids)
        np.testing.assert_array_equal(model.user_factors[[1, 4]], expected)
        np.testing.assert_array_equal(model.user_factors[-1], model.recalculate_user(new_id, R[8]))
        untouched = np.setdiff1d(np.arange(len(data.user_ids)), [1, 4])
        np.testing.assert_array_equal(model.user_factors[untouched], before[untouched])
        np.testing.assert_array_equal(model.user_bias[[1, 4]], expected_bias)
        assert model.user_factors.size == 0 or model.user_factors.ctypes.data % 64 == 0
        # the given rows replace the users' seen items: recommend filters them
        ids, _ = model.recommend(new_id, N=model.n_items)
        assert not set(ids.tolist()) & set(data.item_ids[R[8].indices].tolist())
        assert len(ids) == model.n_items - R[8].nnz
        ids, _ = model.recommend(data.user_ids[1], N=model.n_items)
        assert len(ids) == model.n_items - R[6].nnz
        with pytest.raises(ValueError, match="lists an id twice"):
            model.partial_fit_users([new_id, new_id], R[[1, 2]])

    def test_partial_fit_items_replaces_the_items_interactions(self, fitted):
        model, data = fitted
        if not self.item_side:
            with pytest.raises(NotImplementedError, match="cannot re-solve item rows"):
                model.partial_fit_items(data.item_ids[:1], data.user_items().T.tocsr()[:1])
            return
        model = load_model_copy(model)
        R = data.user_items()
        C = R.T.tocsr()
        had = R[:, 0].nonzero()[0]                                  # users who rated item 0 in training
        newcomer = int(np.setdiff1d(np.arange(R.shape[0]), had)[0])
        row = sp.csr_matrix(([4.5], ([0], [newcomer])), shape=(1, R.shape[0]), dtype=C.dtype)
        expected = model.recalculate_item(data.item_ids[0], row)
        model.partial_fit_items(data.item_ids[:1], row)
        np.testing.assert_array_equal(model.item_factors[0], expected)
        assert data.item_ids[0] not in model.recommend(data.user_ids[newcomer], N=model.n_items)[0]
        assert data.item_ids[0] in model.recommend(data.user_ids[had[0]], N=model.n_items)[0]

    def test_partial_fit_grows_a_bare_model_as_implicit(self, planted):
        R, genres = planted
        options = {"item_genres": genres} if "item_genres" in self.fit_options else {}
        model = self.make().fit(R, show_progress=False, **options)
        n = R.shape[0]
        model.partial_fit_users([n + 2], R[[3]])
        assert model.n_users == n + 3
        np.testing.assert_array_equal(model.user_factors[n:n + 2], 0)
        np.testing.assert_array_equal(model.user_factors[n + 2], model.recalculate_user(0, R[3]))
        if not self.item_side:
            return
        C = R.T.tocsr()
        item_row = sp.hstack([C[[0]], sp.csr_matrix((1, 3), dtype=C.dtype)]).tocsr()   # over the grown users
        if self.model_class is GenreALS:
            with pytest.raises(ValueError, match="add_items"):
                model.partial_fit_items([R.shape[1]], item_row)
            return
        model.partial_fit_items([R.shape[1]], item_row)
        assert model.n_items == R.shape[1] + 1
        assert (model.recommend(n + 2, N=model.n_items)[0] >= 0).all()

    def test_similar_items_by_cosine(self, fitted):
        model, data = fitted
        if model.item_factors.shape[1] == 0:
            with pytest.raises(NotImplementedError, match="has no item factors"):
                model.similar_items(data.item_ids[3])
            return
        ids, sims = model.similar_items(data.item_ids[3], N=4)
        unit = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
        cos = unit @ unit[3]
        cos[3] = -np.inf
        assert data.item_ids[3] not in ids and len(ids) == 4
        np.testing.assert_allclose(sims, np.sort(cos)[::-1][:4], rtol=1e-5)

    def test_similar_filters_and_recalculate_item(self, fitted):
        model, data = fitted
        if model.item_factors.shape[1] == 0:
            return
        unit = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
        cos = unit @ unit[3]
        cos[3] = -np.inf
        banned = data.item_ids[np.argsort(-cos)[:2]]                 # the two best are filtered out
        ids, sims = model.similar_items(data.item_ids[3], N=4, filter_items=banned)
        assert not set(banned.tolist()) & set(ids.tolist())
        np.testing.assert_allclose(sims, np.sort(cos)[::-1][2:6], rtol=1e-5)
        allowed = data.item_ids[[5, 6, 9]]
        ids, _ = model.similar_items(data.item_ids[3], N=4, items=allowed)
        assert sorted(ids.tolist()) == sorted(allowed.tolist())
        if type(model).recalculate_item is not None and self.item_side:
            C = data.user_items().T.tocsr()
            vec = model.recalculate_item(data.item_ids[3], C[3])
            ref = unit @ (vec / np.linalg.norm(vec))
            ref[3] = -np.inf
            ids, sims = model.similar_items(data.item_ids[3], N=5, recalculate_item=True, item_users=C[3])
            np.testing.assert_allclose(sims, np.sort(ref)[::-1][:5], rtol=1e-4, atol=1e-6)
            assert data.item_ids[3] not in ids
        with pytest.raises(ValueError, match="recalculate_item=True needs item_users"):
            model.similar_items(data.item_ids[3], recalculate_item=True)
        # users, with a filter
        uunit = model.user_factors / np.maximum(np.linalg.norm(model.user_factors, axis=1, keepdims=True), 1e-30)
        ucos = uunit @ uunit[2]
        ucos[2] = -np.inf
        best = data.user_ids[np.argmax(ucos)]
        ids, sims = model.similar_users(data.user_ids[2], N=3, filter_users=[best])
        assert best not in ids and data.user_ids[2] not in ids
        np.testing.assert_allclose(sims, np.sort(ucos)[::-1][1:4], rtol=1e-4, atol=1e-6)

    def test_recommend_frame_is_tidy(self, fitted):
        model, data = fitted
        users = data.user_ids[[3, 0, 8]]
        frame = model.recommend_frame(users, N=4)
        assert list(frame.columns) == ["user", "rank", "item", "score"] and len(frame) == 12
        ids, scores = model.recommend(users, N=4)
        np.testing.assert_array_equal(frame["user"], np.repeat(users, 4))
        np.testing.assert_array_equal(frame["rank"], np.tile([1, 2, 3, 4], 3))
        np.testing.assert_array_equal(frame["item"], ids.ravel())
        np.testing.assert_array_equal(frame["score"], scores.ravel())
        # padding is dropped: a user whose candidates run out gets fewer rows
        few = model.recommend_frame(users[:1], N=4, items=data.item_ids[:40][
            ~np.isin(np.arange(40), data.user_items()[3].indices)][:2])
        assert len(few) == 2 and list(few["rank"]) == [1, 2]

    def test_cached_item_state_follows_changes(self, fitted):
        model, data = fitted
        model = load_model_copy(model)
        uid = data.user_ids[0]
        model.item_factors *= 3.0                # in place: the documented contract is _fitted_changed()
        model.item_bias -= 1.0
        model._fitted_changed()
        ids, scores = model.recommend(uid, N=3)
        np.testing.assert_allclose(scores, model.predict(np.full(3, uid), ids, clip=False), rtol=1e-5)
        seen = data.user_items()[0].indices
        unseen = data.item_ids[np.setdiff1d(np.arange(len(data.item_ids)), seen)]
        best = np.sort(model.predict(np.full(len(unseen), uid), unseen, clip=False))[::-1][:3]
        np.testing.assert_allclose(scores, best, rtol=1e-5)
        model.item_bias[0] = np.finfo(model.item_bias.dtype).max / 4      # the cached bound must see it
        model._fitted_changed()
        with pytest.raises(ValueError, match="could overflow"):
            model.recommend(uid, N=3)

    def test_unknown_ids(self, fitted):
        model, data = fitted
        with pytest.raises(KeyError, match="unknown user id 5"):
            model.recommend(5)
        with pytest.raises(KeyError, match="unknown item id 8"):
            model.predict([data.user_ids[0]], [8])
        with pytest.raises(KeyError, match="unknown item"):
            model.fold_in([123456], [4.0])
        assert np.isnan(model.predict([data.user_ids[0], 5], [8, data.item_ids[0]], unknown="nan")).all()
        # "baseline" keeps the known parts of mu + b_u + b_i
        base = model.predict([data.user_ids[0], 5, 5], [8, data.item_ids[0], 8], unknown="baseline")
        u0, i0 = model.user_index(data.user_ids[0]), model.item_index(data.item_ids[0])
        np.testing.assert_allclose(base, [model.global_mean + model.user_bias[u0],
                                          model.global_mean + model.item_bias[i0], model.global_mean], rtol=1e-6)
        with pytest.raises(ValueError, match="unknown must be one of"):
            model.predict([data.user_ids[0]], [data.item_ids[0]], unknown="zero")

    def test_save_load_round_trip(self, fitted, tmp_path):
        model, data = fitted
        path = model.save(tmp_path / "model")
        loaded = load_model(path)
        assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
        for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
            assert np.array_equal(getattr(loaded, name), getattr(model, name)), name
        users = data.user_ids[[0, 1, 2]]
        for a, b in zip(loaded.recommend(users, N=4), model.recommend(users, N=4)):
            np.testing.assert_array_equal(a, b)
        assert loaded.history_ == [] and loaded.history_frame().empty
        other = ExplicitALS if self.model_class is not ExplicitALS else BPR
        with pytest.raises(ModelFileError, match=f"not '{other.__name__}'"):
            other.load(path)

    def test_save_load_file_objects(self, fitted, tmp_path):
        import io

        model, data = fitted
        buffer = io.BytesIO()
        assert model.save(buffer) is buffer
        buffer.seek(0)
        loaded = load_model(buffer)
        np.testing.assert_array_equal(loaded.item_factors, model.item_factors)
        with open(tmp_path / "model.npz", "wb") as fh:       # an open file, as implicit users pass
            model.save(fh)
        with open(tmp_path / "model.npz", "rb") as fh:
            again = type(model).load(fh)
        np.testing.assert_array_equal(again.user_factors, model.user_factors)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
        with pytest.raises(ModelFileError, match="cannot read model file"):
            load_model(io.BytesIO(b"not a zip file"))

    def test_predict_is_clipped_to_the_rating_scale(self, fitted, tmp_path):
        model, data = fitted
        R = data.user_items()
        users = np.repeat(data.user_ids, len(data.item_ids))
        items = np.tile(data.item_ids, len(data.user_ids))
        raw = model.predict(users, items, clip=False)
        if model._rating_model:
            assert model.rating_scale_ == (float(R.data.min()), float(R.data.max()))
            lo, hi = model.rating_scale_
            np.testing.assert_array_equal(model.predict(users, items), np.clip(raw, lo, hi))
        else:                                                 # ranking scores are not ratings
            assert model.rating_scale_ is None
            np.testing.assert_array_equal(model.predict(users, items), raw)
        loaded = load_model(model.save(tmp_path / "m"))
        assert loaded.rating_scale_ == model.rating_scale_ and loaded.input_kind_ == model.input_kind_ == "ratings"
        np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
        loaded.user_bias[0] += 100.0                          # user 0 far above the scale, user 1 far below
        loaded.user_bias[1] -= 100.0
        pair_users = data.user_ids[[0, 1]]
        pair_items = data.item_ids[[0, 0]]
        expected = loaded.rating_scale_ or (np.inf, -np.inf)
        if model._rating_model:
            np.testing.assert_array_equal(loaded.predict(pair_users, pair_items), [expected[1], expected[0]])
        else:
            assert np.abs(loaded.predict(pair_users, pair_items)).min() > 50

    def test_fit_on_a_dataframe_points_to_interactions(self):
        pd = pytest.importorskip("pandas")
        frame = pd.DataFrame({"userId": [1, 2], "movieId": [3, 4], "rating": [4.0, 5.0]})
        with pytest.raises(TypeError, match=r"pandas DataFrame.*Interactions.from_dataframe"):
            self.make().fit(frame, show_progress=False)

    # ------------------------------------------------------------ epoch loop
    def test_history_frame(self, split):
        model = self.fit_split(split)
        frame = model.history_frame()
        assert list(frame["epoch"]) == list(range(1, model.iterations + 1))
        assert list(frame.columns[:2]) == ["epoch", "seconds"] and (frame["seconds"] > 0).all()
        assert frame.to_dict("records") == model.history_
        assert self.eval_metric in frame.columns

    @property
    def eval_metric(self):
        return "eval_ndcg@5" if "eval_k" in self.fit_options else "eval_rmse"

    def test_early_stopping_restores_the_best_epoch(self, split):
        snapshots = []
        keep = lambda epoch, record, m: snapshots.append({n: getattr(m, n).copy() for n in m._snapshot_arrays})  # noqa: E731
        model = self.fit_split(split, early_stopping_rounds=2, callback=keep)
        values = [h[self.eval_metric] for h in model.history_]
        best = int(np.argmax(values) if "ndcg" in self.eval_metric else np.argmin(values)) + 1
        assert model.best_epoch_ == best
        assert best < len(values) == best + 2        # it did stop early, two epochs after the best
        for name, array in snapshots[best - 1].items():
            assert np.array_equal(getattr(model, name), array), name
        # the restored model scores the held-out set as the best epoch did (eval_rmse scores predict(), clipped)
        if self.eval_metric == "eval_rmse":
            train, test, _ = split
            users, items = test.nonzero()
            rmse = np.sqrt(np.mean((model.predict(users, items) - np.asarray(test[users, items]).ravel()) ** 2))
            assert rmse == pytest.approx(values[best - 1], rel=1e-5)
        # a later fit without early stopping forgets the best epoch
        assert self.fit_split(split).best_epoch_ is None

    def test_early_stopping_needs_an_eval_set(self, planted_with_ids):
        options = self.options(planted_with_ids)
        with pytest.raises(ValueError, match="early_stopping_rounds needs an eval_set"):
            self.make().fit(planted_with_ids, early_stopping_rounds=2, show_progress=False, **options)
        empty = sp.csr_matrix(planted_with_ids.user_items().shape, dtype=np.float32)
        with pytest.raises(ValueError, match="needs an eval_set with at least one interaction|eval_set has no"):
            self.make().fit(planted_with_ids, eval_set=empty, early_stopping_rounds=2, show_progress=False,
                            **options)

    def test_ctrl_c_keeps_a_usable_model(self, split):
        def interrupt(epoch, record, model):
            if epoch == 3:
                raise KeyboardInterrupt

        with pytest.warns(RuntimeWarning, match="interrupted after 3 complete epoch"), pytest.raises(KeyboardInterrupt):
            model = self.make(**self.early_stopping_params, iterations=20)
            train, test, genres = split
            options = {"item_genres": genres} if "item_genres" in self.fit_options else {}
            model.fit(train, show_progress=False, callback=interrupt, **options)
        assert len(model.history_) == 3 and model.best_epoch_ is None
        ids, scores = model.recommend(0, N=3)
        assert len(ids) == 3 and np.isfinite(scores).all()


class TestExplicitALS(ModelContract):
    model_class = ExplicitALS
    params = dict(factors=4, regularization=1.0, iterations=4, num_threads=1, random_state=0)
    early_stopping_params = dict(factors=6, regularization=0.1, bias_regularization=0.5)


class TestGenreALS(ModelContract):
    model_class = GenreALS
    params = dict(factors=4, regularization=1.0, iterations=4, num_threads=1, random_state=0)
    early_stopping_params = dict(factors=6, regularization=0.1, bias_regularization=0.5, genre_weight=0.5)
    fit_options = {"item_genres": "genres"}


class TestBPR(ModelContract):
    model_class = BPR
    item_side = False
    params = dict(factors=6, iterations=6, positive_threshold=None, num_threads=1, random_state=0)
    early_stopping_params = dict(learning_rate=0.3)
    thread_invariant = False
    fit_options = {"eval_k": 10}


class TestImplicitALS(ModelContract):
    model_class = ImplicitALS
    params = dict(factors=6, iterations=4, num_threads=1, random_state=0)
    early_stopping_params = dict(regularization=0.01, positive_threshold=None)
    fit_options = {"eval_k": 10}


class TestBiasBaseline(ModelContract):
    model_class = BiasBaseline
    params = dict(iterations=4, num_threads=1)
    early_stopping_params = dict(user_regularization=1.0, item_regularization=1.0)
    has_random_state = False
    item_side = False
    test_random_state_kinds = None           # no random numbers to seed
    test_generator_random_state_is_saved_as_none = None


def test_every_registered_model_has_a_contract_test():
    from mfcore.models.base import _MODEL_REGISTRY

    tested = {cls.model_class for cls in ModelContract.__subclasses__()}
    assert set(_MODEL_REGISTRY.values()) <= tested, set(_MODEL_REGISTRY.values()) - tested
    assert all(issubclass(cls, FactorModel) for cls in tested)


def test_models_fitted_on_a_bare_matrix_use_indices(planted):
    ratings, _ = planted
    model = ExplicitALS(factors=3, iterations=2).fit(sp.csr_matrix(ratings), show_progress=False)
    ids, _ = model.recommend(1, N=3)
    assert ids.dtype.kind == "i" and model.user_ids is None


def test_early_stopping_without_a_finite_metric_trains_on_and_warns(planted, monkeypatch):
    from mfcore.models import _training

    monkeypatch.setattr(_training.RatingEvaluation, "__call__", lambda self, model, threads: {self.metric: np.nan})
    R, _ = planted
    with pytest.warns(RuntimeWarning, match="eval_rmse was never finite on the eval_set"):
        model = ExplicitALS(factors=3, iterations=5, num_threads=1).fit(R, eval_set=R, early_stopping_rounds=2,
                                                                      show_progress=False)
    assert len(model.history_) == 5 and model.best_epoch_ is None


@pytest.mark.parametrize("cls", [BPR, ImplicitALS])
def test_ranking_eval_set_is_checked_before_training(planted, cls):
    R, _ = planted
    low = R.copy()
    low.data[:] = 1.0                                        # nothing rated >= eval_threshold
    calls = []
    with pytest.raises(ValueError, match="eval_set has no interaction rated >= eval_threshold=4.0"):
        cls(factors=3, iterations=2, positive_threshold=None, eval_threshold=4.0).fit(
            R, eval_set=low, show_progress=False, callback=lambda *a: calls.append(a))
    with pytest.raises(ValueError, match=r"eval_set and X share \(user, item\)"):
        cls(factors=3, iterations=2, positive_threshold=None, eval_threshold=None).fit(
            R, eval_set=R, show_progress=False, callback=lambda *a: calls.append(a))
    assert not calls                                          # no epoch ran
