"""Tests for mfcore.data.movielens.fetch_movielens against a local HTTP server (no network).

A ThreadingHTTPServer on 127.0.0.1 (port 0) serves zips built in tmp_path
from the tiny CSV release; each test registers what the server answers for
``/<name>.zip`` and ``/<name>.zip.md5``. The server is shut down in the
fixture teardown.
"""

import hashlib
import http.server
import io
import socket
import stat
import threading
import zipfile

import numpy as np
import pytest

from mfcore.data import fetch as ml
from mfcore.data.fetch import MovieLensDownloadError, fetch_movielens

NAME = "ml-latest-small"


class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):  # noqa: N802 - http.server API
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, claimed = route
        self.send_response(200)
        self.send_header("Content-Length", str(claimed if claimed is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(monkeypatch):
    """Serve ``routes`` on 127.0.0.1; MFCORE_MOVIELENS_URL points at it."""
    routes = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("MFCORE_MOVIELENS_URL", f"http://127.0.0.1:{httpd.server_address[1]}/movielens")
    try:
        yield routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def build_zip(files, extra=()):
    """Zip bytes with members ``NAME/<file>`` and extra ZipInfo members (name, data, mode)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for fname, text in files.items():
            zf.writestr(f"{NAME}/{fname}", text)
        for member, data, mode in extra:
            info = zipfile.ZipInfo(member)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def publish(routes, payload, md5_text=None, claimed=None, name=NAME):
    digest = hashlib.md5(payload).hexdigest()
    routes[f"/movielens/{name}.zip"] = (payload, claimed)
    text = md5_text if md5_text is not None else f"MD5 ({name}.zip) = {digest}\n"
    routes[f"/movielens/{name}.zip.md5"] = (text.encode(), None)
    return digest


@pytest.fixture
def good_zip(tiny_files):
    return build_zip({**tiny_files, "links.csv": "movieId,imdbId,tmdbId\n1,1,1\n", "README.txt": "readme"})


def assert_clean(home, name=NAME):
    """No .part file, no extracted folder, no temporary extraction folder."""
    leftovers = sorted(p.name for p in home.iterdir()) if home.exists() else []
    assert leftovers == [], leftovers


def test_good_download_extracts_expected_members_and_loads(server, good_zip, tmp_path):
    publish(server, good_zip)
    home = tmp_path / "home"
    inter = fetch_movielens(NAME, home, progress=False, cache_dir=tmp_path / "cache")
    assert len(inter) == 5 and inter.n_items == 4
    assert sorted(p.name for p in home.iterdir()) == [NAME]  # .part gone, no temp folders
    assert sorted(p.name for p in (home / NAME).iterdir()) == ["README.txt", "movies.csv", "ratings.csv", "tags.csv"]
    # second call finds the folder and never touches the network
    server.clear()
    again = fetch_movielens(NAME, home, progress=False, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.user_items().toarray(), inter.user_items().toarray())


def test_md5_file_in_coreutils_format_and_progress_bar(server, good_zip, tmp_path, capsys):
    digest = hashlib.md5(good_zip).hexdigest()
    publish(server, good_zip, md5_text=f"{digest}  {NAME}.zip\n")
    inter = fetch_movielens(NAME, tmp_path / "home", progress=True, cache=False)
    assert len(inter) == 5
    assert NAME in capsys.readouterr().err  # tqdm wrote its bar


def test_data_home_from_environment(server, good_zip, tmp_path, monkeypatch):
    publish(server, good_zip)
    monkeypatch.setenv("MFCORE_DATA_HOME", str(tmp_path / "envhome"))
    fetch_movielens(NAME, progress=False, cache=False)
    assert (tmp_path / "envhome" / NAME / "ratings.csv").is_file()


def test_corrupted_download_md5_mismatch(server, good_zip, tmp_path):
    publish(server, good_zip)
    bad = bytearray(good_zip)
    bad[len(bad) // 2] ^= 0xFF
    server[f"/movielens/{NAME}.zip"] = (bytes(bad), None)
    home = tmp_path / "home"
    with pytest.raises(MovieLensDownloadError, match="MD5 mismatch"):
        fetch_movielens(NAME, home, progress=False)
    assert_clean(home)


def test_truncated_download(server, good_zip, tmp_path):
    publish(server, good_zip[:-100], claimed=len(good_zip))  # fewer bytes than Content-Length
    server[f"/movielens/{NAME}.zip.md5"] = (f"MD5 ({NAME}.zip) = {hashlib.md5(good_zip).hexdigest()}".encode(), None)
    home = tmp_path / "home"
    with pytest.raises(MovieLensDownloadError, match="truncated|IncompleteRead|failed"):
        fetch_movielens(NAME, home, progress=False)
    assert_clean(home)


@pytest.mark.parametrize("md5_text,pattern", [
    (f"MD5 ({NAME}.zip) = 0123456789abcdef0123456789abcdef\n", "MD5 mismatch"),
    ("MD5 (other.zip) = 0123456789abcdef0123456789abcdef\n", "no MD5 line for ml-latest-small.zip"),
    ("<html>not found</html>", "no MD5 line"),
])
def test_wrong_checksum_file(server, good_zip, tmp_path, md5_text, pattern):
    publish(server, good_zip, md5_text=md5_text)
    home = tmp_path / "home"
    with pytest.raises(MovieLensDownloadError, match=pattern):
        fetch_movielens(NAME, home, progress=False)
    assert_clean(home)


def test_missing_checksum_file(server, good_zip, tmp_path):
    publish(server, good_zip)
    del server[f"/movielens/{NAME}.zip.md5"]
    with pytest.raises(MovieLensDownloadError, match="checksum file .*HTTP 404"):
        fetch_movielens(NAME, tmp_path / "home", progress=False)
    assert_clean(tmp_path / "home")


def test_pinned_checksum_for_ml_32m(server, tiny_files, tmp_path):
    payload = build_zip(tiny_files)  # members are under ml-latest-small/, but the MD5 check comes first
    publish(server, payload, name="ml-32m")
    with pytest.raises(MovieLensDownloadError, match="differs from the pinned d472be332d4daa821edc399621853b57"):
        fetch_movielens("ml-32m", tmp_path / "home", progress=False)
    assert_clean(tmp_path / "home")


@pytest.mark.parametrize("member,mode,pattern", [
    (f"{NAME}/../../evil.csv", stat.S_IFREG | 0o644, "'..' member path"),
    ("/etc/evil.csv", stat.S_IFREG | 0o644, "absolute member path"),
    (f"{NAME}/tags.csv.lnk", stat.S_IFLNK | 0o777, "symbolic link member"),
])
def test_unsafe_members_rejected(server, tiny_files, tmp_path, member, mode, pattern):
    payload = build_zip(tiny_files, extra=[(member, b"/etc/passwd", mode)])
    publish(server, payload)
    home = tmp_path / "home"
    with pytest.raises(MovieLensDownloadError, match=pattern):
        fetch_movielens(NAME, home, progress=False)
    assert_clean(home)
    assert not (tmp_path / "evil.csv").exists()


def test_symlink_replacing_an_expected_member(server, tiny_files, tmp_path):
    files = dict(tiny_files)
    del files["tags.csv"]
    payload = build_zip(files, extra=[(f"{NAME}/tags.csv", b"/etc/passwd", stat.S_IFLNK | 0o777)])
    publish(server, payload)
    with pytest.raises(MovieLensDownloadError, match="symbolic link member 'ml-latest-small/tags.csv'"):
        fetch_movielens(NAME, tmp_path / "home", progress=False)
    assert_clean(tmp_path / "home")


def test_archive_without_required_members(server, tiny_files, tmp_path):
    files = {k: v for k, v in tiny_files.items() if k != "ratings.csv"}
    publish(server, build_zip(files))
    with pytest.raises(MovieLensDownloadError, match=r"lacks \['ml-latest-small/ratings.csv'\]"):
        fetch_movielens(NAME, tmp_path / "home", progress=False)
    assert_clean(tmp_path / "home")


def test_unreachable_server_names_the_directory(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MFCORE_MOVIELENS_URL", f"http://127.0.0.1:{port}/movielens")
    home = tmp_path / "home"
    with pytest.raises(MovieLensDownloadError) as info:
        fetch_movielens(NAME, home, progress=False)
    message = str(info.value)
    assert str(home / NAME) in message and "ratings.csv" in message and "offline" in message
    assert_clean(home)


def test_download_false_and_unknown_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False"):
        fetch_movielens(NAME, tmp_path, download=False)
    with pytest.raises(ValueError, match="name must be one of"):
        fetch_movielens("ml-100", tmp_path)


def test_existing_folder_is_loaded_without_network(tmp_path, write_movielens, monkeypatch):
    monkeypatch.setenv("MFCORE_MOVIELENS_URL", "http://127.0.0.1:9/never-used")
    write_movielens(tmp_path / "ml-1m", ratings_csv=None, movies_csv=None, tags_csv=None,
                    ratings_dat="1::1::5::978300760\n", movies_dat="1::Toy Story (1995)::Comedy\n")
    inter = fetch_movielens("ml-1m", tmp_path, progress=False, cache=False)
    assert len(inter) == 1


def test_parse_md5_formats():
    d = "d472be332d4daa821edc399621853b57"
    assert ml._parse_md5(f"MD5 (ml-32m.zip) = {d}\n", "ml-32m.zip") == d
    assert ml._parse_md5(f"{d.upper()}  ml-32m.zip\n", "ml-32m.zip") == d
    assert ml._parse_md5(f"{d} *ml-32m.zip", "ml-32m.zip") == d
    with pytest.raises(MovieLensDownloadError):
        ml._parse_md5(f"{d}  ml-25m.zip", "ml-32m.zip")


# ---------------------------------------------------------------------------- hostile downloads
def test_symlink_planted_at_the_part_name_is_never_written_through(server, good_zip, tmp_path):
    import os

    publish(server, good_zip)
    home = tmp_path / "home"
    home.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, home / f"{NAME}.zip.part")
    inter = fetch_movielens(NAME, home, progress=False, cache=False)
    assert len(inter) == 5
    assert victim.read_text() == "precious"                      # not clobbered
    assert (home / f"{NAME}.zip.part").is_symlink()              # someone else's file: left alone
    assert sorted(p.name for p in home.iterdir()) == [NAME, f"{NAME}.zip.part"]


def test_zip_bomb_is_refused_from_declared_sizes(server, tiny_files, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for fname, text in tiny_files.items():
            zf.writestr(f"{NAME}/{fname}", text)
        zf.writestr(f"{NAME}/README.txt", b"\0" * (4 << 20))   # 4 MiB of zeros -> ~4 KiB
    publish(server, buf.getvalue())
    with pytest.raises(MovieLensDownloadError, match=r"README\.txt' would expand \d+ bytes to 4194304 "
                                                     r"\(more than 100:1\); refusing a likely zip bomb"):
        fetch_movielens(NAME, tmp_path / "home", progress=False)
    assert_clean(tmp_path / "home")


def test_total_extracted_size_is_bounded(server, good_zip, tmp_path, monkeypatch):
    from mfcore.data import _archive

    monkeypatch.setattr(_archive, "MAX_TOTAL_BYTES", 200)
    publish(server, good_zip)
    with pytest.raises(MovieLensDownloadError, match="members declare more than 200 bytes in total"):
        fetch_movielens(NAME, tmp_path / "home", progress=False)
    assert_clean(tmp_path / "home")


def test_member_larger_than_declared_is_refused_while_copying(tiny_files, tmp_path):
    """zipfile never returns more than the declared size; a lie is caught as damage, nothing is left behind."""
    import struct

    payload = bytearray(build_zip(tiny_files))
    info = zipfile.ZipFile(io.BytesIO(bytes(payload))).getinfo(f"{NAME}/ratings.csv")
    struct.pack_into("<I", payload, info.header_offset + 22, 10)        # local header: 10 bytes
    pos = bytes(payload).find(b"PK\x01\x02")
    while pos >= 0:                                                       # central directory: 10 bytes
        n = struct.unpack_from("<H", payload, pos + 28)[0]
        if bytes(payload[pos + 46:pos + 46 + n]) == f"{NAME}/ratings.csv".encode():
            struct.pack_into("<I", payload, pos + 24, 10)
        pos = bytes(payload).find(b"PK\x01\x02", pos + 4)
    part = tmp_path / "x.zip.part"
    part.write_bytes(bytes(payload))
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(MovieLensDownloadError, match=rf"URL: member '{NAME}/ratings\.csv' is damaged"):
        ml._extract(part, NAME, "csv", home, "URL")
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_damaged_member_of_any_compression_is_a_download_error(tiny_files, tmp_path, method):
    """zlib, bz2 (OSError) and lzma each raise their own error on damaged data: all name the member."""
    ratings = "userId,movieId,rating,timestamp\n" + "".join(f"{u},1,4.0,{u}\n" for u in range(1, 20001))
    part = tmp_path / "x.zip.part"
    with zipfile.ZipFile(part, "w", method) as zf:
        zf.writestr(f"{NAME}/ratings.csv", ratings)
        zf.writestr(f"{NAME}/movies.csv", tiny_files["movies.csv"])
    raw = bytearray(part.read_bytes())
    info = zipfile.ZipFile(part).getinfo(f"{NAME}/ratings.csv")
    start = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    raw[start:start + 32] = bytes(b ^ 0x5A for b in raw[start:start + 32])
    part.write_bytes(bytes(raw))
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(MovieLensDownloadError, match=rf"URL: member '{NAME}/ratings\.csv' is damaged"):
        ml._extract(part, NAME, "csv", home, "URL")
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("extra,pattern", [
    ([(f"{NAME}/ratings.csv", b"userId,movieId,rating,timestamp\n", stat.S_IFREG | 0o644)],
     f"member '{NAME}/ratings.csv' appears twice"),
    ([("other/ratings.csv", b"userId,movieId,rating,timestamp\n", stat.S_IFREG | 0o644)],
     r"holds two ratings\.csv files"),
])
def test_ambiguous_archive_is_refused(server, tiny_files, tmp_path, extra, pattern):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        publish(server, build_zip(tiny_files, extra=extra))
    with pytest.raises(MovieLensDownloadError, match=pattern):
        fetch_movielens(NAME, tmp_path / "home", progress=False)
    assert_clean(tmp_path / "home")
