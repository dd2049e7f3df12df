"""hubtune's version, from the installed distribution's metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hubtune")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+local"
