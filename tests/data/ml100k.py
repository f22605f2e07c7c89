"""A tiny MovieLens-100k-shaped release written by the tests (no real data needed)."""

from mfcore.data.movielens import ML100K_GENRES

#: (user, item, rating, timestamp) rows of the fixture's u.data.
RATINGS = [(1, 1, 5, 881250949), (1, 2, 3, 881250950), (1, 4, 4, 881250960), (2, 1, 4, 881250951),
           (2, 3, 1, 881250952), (2, 4, 5, 881250953), (3, 2, 5, 881250954), (3, 3, 4, 881250955),
           (3, 4, 2, 881250956), (4, 1, 2, 881250957), (4, 2, 4, 881250958), (4, 3, 5, 881250959)]


def write_ml100k(folder, *, with_genre_file=True):
    """A tiny ml-100k-shaped release: u.data (tabs), u.item (latin-1, 19 genre flags), u.genre."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join("\t".join(map(str, r)) + "\n" for r in RATINGS))

    def flags(*on):
        return "|".join("1" if k in on else "0" for k in range(19))

    items = [f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|{flags(3, 4, 5)}",
             f"2|GoldenEye (1995)|01-Jan-1995||http://x|{flags(1, 2, 16)}",
             f"3|Cin\xe9ma Paradiso (1988)|01-Jan-1988||http://x|{flags(0)}",     # 'unknown' genre only
             f"4|Heat (1995)|01-Jan-1995||http://x|{flags(1, 6, 16)}",
             f"5|Never Rated (1995)|01-Jan-1995||http://x|{flags(8)}"]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    if with_genre_file:
        (folder / "u.genre").write_text("".join(f"{g}|{k}\n" for k, g in enumerate(
            ML100K_GENRES)) + "\n")
    return folder
