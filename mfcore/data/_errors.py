"""Exceptions of the MovieLens data layer (defined once, raised by the parser, cache and downloader)."""


class MovieLensFormatError(ValueError):
    """A MovieLens file is malformed; the message names the file, the physical line and the value."""


class MovieLensDownloadError(OSError):
    """Downloading, verifying or extracting a MovieLens archive failed."""
