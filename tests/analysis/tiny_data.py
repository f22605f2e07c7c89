"""A tiny hand-built dataset whose every figure value can be computed by hand.

Users u1..u4 rate movies 10, 20, 30, 40 (movie 50 is in the catalogue, unrated;
user u5 has no rating)::

    row  user  movie  rating  time (UTC)              month
    0    u1    10     5.0     1999-12-31 23:59:59     1999-12
    1    u1    20     4.0     2000-01-01 00:00:00     2000-01
    2    u1    30     3.0     2000-01-31 23:59:59     2000-01
    3    u2    10     4.0     2000-02-01 00:00:00     2000-02
    4    u2    20     4.0     2000-02-29 12:00:00     2000-02  (leap day)
    5    u3    10     3.0     2000-04-10 08:00:00     2000-04
    6    u3    40     0.5     2000-04-30 23:59:59     2000-04
    7    u4    10     4.5     2000-02-15 00:00:00     2000-02

    movie  genres          ratings  mean
    10     Action, Drama   4        (5 + 4 + 3 + 4.5) / 4 = 4.125
    20     Drama           2        4.0
    30     Comedy, Drama   1        3.0
    40     Action          1        0.5
    50     (none)          0        -

Tags (user, movie, text): (u1, 10, "Funny"), (u2, 10, "funny "), (u2, 20, "funny"),
(u3, 30, "dark"), (u1, 30, "Dark"), (u4, 40, "zany"), (u4, 20, "atmospheric"),
(u1, 20, "  ").
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mfcore import Interactions

GENRES = ["Action", "Comedy", "Drama"]
ROWS = [  # user, movie, rating, ISO time
    ("u1", 10, 5.0, "1999-12-31T23:59:59"),
    ("u1", 20, 4.0, "2000-01-01T00:00:00"),
    ("u1", 30, 3.0, "2000-01-31T23:59:59"),
    ("u2", 10, 4.0, "2000-02-01T00:00:00"),
    ("u2", 20, 4.0, "2000-02-29T12:00:00"),
    ("u3", 10, 3.0, "2000-04-10T08:00:00"),
    ("u3", 40, 0.5, "2000-04-30T23:59:59"),
    ("u4", 10, 4.5, "2000-02-15T00:00:00"),
]
MOVIE_GENRES = {10: ["Action", "Drama"], 20: ["Drama"], 30: ["Comedy", "Drama"], 40: ["Action"], 50: []}
TAGS = [("u1", 10, "Funny"), ("u2", 10, "funny "), ("u2", 20, "funny"), ("u3", 30, "dark"), ("u1", 30, "Dark"),
        ("u4", 40, "zany"), ("u4", 20, "atmospheric"), ("u1", 20, "  ")]
USER_IDS = np.array(["u1", "u2", "u3", "u4", "u5"], dtype=object)
ITEM_IDS = np.array([10, 20, 30, 40, 50])


def genre_matrix(genre_lists, names):
    rows, cols = [], []
    for i, gs in enumerate(genre_lists):
        for g in gs:
            rows.append(i)
            cols.append(names.index(g))
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(genre_lists), len(names)))


def make_tiny(*, timestamps=True, tags=True, genres=True, ratings=True):
    users = [r[0] for r in ROWS]
    items = [r[1] for r in ROWS]
    values = np.array([r[2] for r in ROWS]) if ratings else None
    times = (np.array([np.datetime64(r[3], "s").astype(np.int64) for r in ROWS]) if timestamps else None)
    meta = {"titles": [f"Movie {m} (2000)" for m in ITEM_IDS]}
    if genres:
        meta.update(item_genres=genre_matrix([MOVIE_GENRES[m] for m in ITEM_IDS], GENRES), genre_names=GENRES)
    if tags:
        uidx = {u: k for k, u in enumerate(USER_IDS)}
        iidx = {m: k for k, m in enumerate(ITEM_IDS)}
        meta["tags"] = pd.DataFrame({"user": [uidx[t[0]] for t in TAGS], "item": [iidx[t[1]] for t in TAGS],
                                     "tag": [t[2] for t in TAGS], "timestamp": np.arange(len(TAGS)) + 10**9})
    return Interactions.from_arrays(users, items, values, times, user_ids=USER_IDS, item_ids=ITEM_IDS, **meta)
