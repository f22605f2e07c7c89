"""Fixtures for the data tests: a tiny MovieLens release written into tmp_path.

``tiny_files`` holds the file contents; ``write_movielens(dir, **overrides)``
writes them (CSV layout by default) and returns the directory, so each test
can swap in one broken file.
"""

import pytest

TINY_MOVIES = """movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
2,"American President, The (1995)",Comedy|Drama|Romance
5,Unrated Film (2000),(no genres listed)
10,Heat (1995),Action|Crime|Thriller
"""

TINY_RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,964982703
1,10,3.5,964981247
2,2,5.0,964982224
7,1,0.5,964983815
7,10,2.0,964982931
"""

TINY_TAGS = """userId,movieId,tag,timestamp
2,1,funny,1445714994
2,1,"quotable, very",1445714996
9,10,heist,1445715207
"""


@pytest.fixture
def tiny_files():
    return {"movies.csv": TINY_MOVIES, "ratings.csv": TINY_RATINGS, "tags.csv": TINY_TAGS}


@pytest.fixture
def write_movielens(tiny_files):
    """Factory: write the tiny release (with overrides; None drops a file) into a directory."""

    def write(directory, encoding="utf-8", **overrides):
        directory.mkdir(parents=True, exist_ok=True)
        files = dict(tiny_files)
        for key, value in overrides.items():
            files[key.replace("_", ".", 1) if "." not in key else key] = value
        for fname, text in files.items():
            if text is None:
                continue
            data = text if isinstance(text, bytes) else text.encode(encoding)
            (directory / fname).write_bytes(data)
        return directory

    return write
